//! Runtime configuration of a source, built and checked from its spec without the network.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use url::Url;

use crate::Error;
use crate::auth::Auth;
use crate::duration::HumanDuration;
use crate::spec::{
    FlattenSpec, HttpSpec, Method, PaginationSpec, RateLimitSpec, RetrySpec, SourceSpec,
};

/// A source ready to run.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    /// The endpoint joined to the base URL, with any query string it had.
    pub url: Url,
    pub method: Method,
    pub body: Option<Value>,
    /// `http.params` then the source's own.
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub auth: Option<Auth>,
    pub rate_limit: Option<RateLimitSpec>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub max_wait: Duration,
    pub pagination: PaginationSpec,
    /// Dotted path of the records, split; `None`: auto-detect.
    pub records: Option<Vec<String>>,
    pub flatten: Flatten,
    pub max_pages: Option<u64>,
    pub max_records: Option<u64>,
    pub allow_empty: bool,
    /// Values of sensitive headers and query parameters (`Authorization`, `api_key`, ...),
    /// kept out of every message like the `auth` credentials.
    pub header_secrets: Vec<crate::Secret>,
}

/// Bounds and pacing of retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(600),
        }
    }
}

/// How nested objects become columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flatten {
    pub enabled: bool,
    pub separator: String,
    /// Levels flattened; deeper objects are kept as JSON text.
    pub max_depth: Option<u32>,
}

impl Default for Flatten {
    fn default() -> Self {
        Self {
            enabled: true,
            separator: "__".into(),
            max_depth: None,
        }
    }
}

/// Default time allowed for one attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default longest wait a server may impose.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(15 * 60);

impl SourceConfig {
    /// The origin (`scheme://host:port`) that rate limits and credentials are bound to.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// Values that must never appear in a message.
    pub fn secrets(&self) -> Vec<&crate::Secret> {
        let mut all = self.auth.as_ref().map(Auth::secrets).unwrap_or_default();
        all.extend(&self.header_secrets);
        all
    }
}

/// Builds a source from its spec and the `http` defaults, reporting every problem found.
/// Key paths in errors start with `sources.{name}` or `http`.
pub fn build(name: &str, spec: &SourceSpec, http: &HttpSpec) -> Result<SourceConfig, Vec<Error>> {
    let mut errors = Vec::new();
    let at = format!("sources.{name}");
    let mut err = |key: String, message: String| errors.push(Error::Config { key, message });

    let (base_key, base) = match (&spec.base_url, &http.base_url) {
        (Some(b), _) => (format!("{at}.base_url"), Some(b)),
        (None, Some(b)) => ("http.base_url".to_owned(), Some(b)),
        (None, None) => (format!("{at}.base_url"), None),
    };
    let base = if let Some(b) = base {
        match parse_http_url(b) {
            Ok(u) => Some(u),
            Err(m) => {
                err(base_key.clone(), m);
                None
            }
        }
    } else {
        if !spec.endpoint.contains("://") {
            err(
                format!("{at}.endpoint"),
                format!(
                    "`{}` is a path but there is no base URL; set `http.base_url` or give an \
                     absolute URL",
                    shown(&spec.endpoint)
                ),
            );
        }
        None
    };
    let url = if spec.endpoint.contains("://") {
        match parse_http_url(&spec.endpoint) {
            Ok(u) => {
                if let Some(b) = &base {
                    if b.origin() != u.origin() {
                        err(
                            format!("{at}.endpoint"),
                            format!(
                                "`{}` is not on the origin of `{base_key}` (`{}`); credentials \
                                 and rate limits are bound to that origin: set this source's \
                                 `base_url` to `{}` instead",
                                shown(&spec.endpoint),
                                b.origin().ascii_serialization(),
                                u.origin().ascii_serialization()
                            ),
                        );
                    }
                }
                Some(u)
            }
            Err(m) => {
                err(format!("{at}.endpoint"), m);
                None
            }
        }
    } else {
        base.as_ref().and_then(|b| match join(b, &spec.endpoint) {
            Ok(u) => Some(u),
            Err(m) => {
                err(format!("{at}.endpoint"), m);
                None
            }
        })
    };

    let mut headers = HeaderMap::new();
    for (key, map) in [
        ("http.headers".to_owned(), &http.headers),
        (format!("{at}.headers"), &spec.headers),
    ] {
        for (n, v) in map {
            match (
                HeaderName::try_from(n.as_str()),
                HeaderValue::try_from(v.as_str()),
            ) {
                (Ok(n), Ok(mut v)) => {
                    v.set_sensitive(true);
                    headers.insert(n, v);
                }
                (Err(_), _) => err(
                    format!("{key}.{n}"),
                    format!("`{n}` is not a valid header name"),
                ),
                (_, Err(_)) => err(
                    format!("{key}.{n}"),
                    "is not a valid header value (control characters or non-ASCII?)".into(),
                ),
            }
        }
    }
    let params: Vec<(String, String)> = http
        .params
        .iter()
        .filter(|(k, _)| !spec.params.contains_key(*k))
        .chain(&spec.params)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut header_secrets = Vec::new();
    let sensitive_headers = http
        .headers
        .iter()
        .chain(&spec.headers)
        .filter(|(n, _)| is_sensitive_param(n) || n.eq_ignore_ascii_case("cookie"));
    for (_, value) in sensitive_headers.chain(
        params
            .iter()
            .filter(|(n, _)| is_sensitive_param(n))
            .map(|(n, v)| (n, v)),
    ) {
        header_secrets.push(crate::Secret::new(value.clone()));
        // `Bearer xyz`: the token alone may be echoed back too.
        if let Some((_, last)) = value.trim().rsplit_once(' ') {
            header_secrets.push(crate::Secret::new(last));
        }
    }

    let (auth_key, auth_spec) = match (&spec.auth, &http.auth) {
        (Some(a), _) => (format!("{at}.auth"), Some(a)),
        (None, Some(a)) => ("http.auth".to_owned(), Some(a)),
        (None, None) => (String::new(), None),
    };
    let auth = auth_spec.and_then(|a| match Auth::build(a, &auth_key) {
        Ok(a) => Some(a),
        Err(e) => {
            errors_push(&mut err, e);
            None
        }
    });

    let (rl_key, rate_limit) = match (&spec.rate_limit, &http.rate_limit) {
        (Some(r), _) => (format!("{at}.rate_limit"), Some(*r)),
        (None, r) => ("http.rate_limit".to_owned(), *r),
    };
    if let Some(r) = rate_limit {
        if r.requests == 0 {
            err(format!("{rl_key}.requests"), "must be at least 1".into());
        }
        if r.per.0.is_zero() {
            err(format!("{rl_key}.per"), "must be longer than zero".into());
        }
        if r.burst == Some(0) {
            err(format!("{rl_key}.burst"), "must be at least 1".into());
        }
    }

    let retry_key = if spec.retry.is_some() {
        format!("{at}.retry")
    } else {
        "http.retry".into()
    };
    let retry = retry_policy(spec.retry.or(http.retry).unwrap_or_default());
    if retry.max_attempts == 0 {
        err(
            format!("{retry_key}.max_attempts"),
            "must be at least 1 (the first attempt)".into(),
        );
    }

    let pagination = spec
        .pagination
        .clone()
        .or_else(|| http.pagination.clone())
        .unwrap_or(PaginationSpec::None {});
    let pg_key = if spec.pagination.is_some() {
        format!("{at}.pagination")
    } else {
        "http.pagination".into()
    };
    match &pagination {
        PaginationSpec::Offset(o) if o.page_size == 0 => {
            err(format!("{pg_key}.page_size"), "must be at least 1".into());
        }
        PaginationSpec::Page(p) if p.page_size == 0 => {
            err(format!("{pg_key}.page_size"), "must be at least 1".into());
        }
        _ => {}
    }
    let paging_params: Vec<&str> = match &pagination {
        PaginationSpec::Offset(o) => vec![&o.offset_param, &o.limit_param],
        PaginationSpec::Page(p) => vec![&p.page_param, &p.size_param],
        PaginationSpec::None {} => Vec::new(),
    };
    for (name, _) in &params {
        if paging_params.contains(&name.as_str()) {
            let key = if spec.params.contains_key(name) {
                format!("{at}.params.{name}")
            } else {
                format!("http.params.{name}")
            };
            err(
                key,
                format!("`{name}` is set by `pagination` on every page; remove it from `params`"),
            );
        }
    }

    let records_spec = spec.records.as_ref().or(http.records.as_ref());
    let records = records_spec.map(|r| r.split('.').map(str::to_owned).collect::<Vec<_>>());
    if let Some(r) = &records {
        if r.iter().any(String::is_empty) {
            err(
                format!("{at}.records"),
                format!(
                    "`{}` is not a dotted path such as `data.items`",
                    records_spec.map_or("", |s| s.as_str())
                ),
            );
        }
    }

    let flatten = match &spec.flatten {
        None | Some(FlattenSpec::Enabled(true)) => Flatten::default(),
        Some(FlattenSpec::Enabled(false)) => Flatten {
            enabled: false,
            ..Flatten::default()
        },
        Some(FlattenSpec::Options(o)) => {
            let separator = o.separator.clone().unwrap_or_else(|| "__".into());
            if separator.is_empty() {
                err(
                    format!("{at}.flatten.separator"),
                    "must not be empty".into(),
                );
            }
            Flatten {
                enabled: true,
                separator,
                max_depth: o.max_depth,
            }
        }
    };
    for (key, value) in [
        ("max_pages", spec.max_pages),
        ("max_records", spec.max_records),
    ] {
        if value == Some(0) {
            err(
                format!("{at}.{key}"),
                "must be at least 1; remove it for no bound".into(),
            );
        }
    }
    if spec.body.is_some() && spec.method == Method::Get {
        err(
            format!("{at}.body"),
            "is sent only with `method: POST`; add it or remove `body`".into(),
        );
    }

    let timeout = spec
        .timeout
        .or(http.timeout)
        .map_or(DEFAULT_TIMEOUT, |d| d.0);
    if timeout.is_zero() {
        err(format!("{at}.timeout"), "must be longer than zero".into());
    }
    let max_wait = spec
        .max_wait
        .or(http.max_wait)
        .map_or(DEFAULT_MAX_WAIT, |d: HumanDuration| d.0);

    match url {
        Some(url) if errors.is_empty() => Ok(SourceConfig {
            name: name.to_owned(),
            url,
            method: spec.method,
            body: spec.body.clone(),
            params,
            headers,
            auth,
            rate_limit,
            retry,
            timeout,
            max_wait,
            pagination,
            records,
            flatten,
            max_pages: spec.max_pages,
            max_records: spec.max_records,
            allow_empty: spec.allow_empty,
            header_secrets,
        }),
        _ => Err(errors),
    }
}

fn errors_push(err: &mut impl FnMut(String, String), e: Error) {
    match e {
        Error::Config { key, message } => err(key, message),
        other => err(String::new(), other.to_string()),
    }
}

fn retry_policy(spec: RetrySpec) -> RetryPolicy {
    let d = RetryPolicy::default();
    RetryPolicy {
        max_attempts: spec.max_attempts.unwrap_or(d.max_attempts),
        initial_backoff: spec.initial_backoff.map_or(d.initial_backoff, |x| x.0),
        max_backoff: spec.max_backoff.map_or(d.max_backoff, |x| x.0),
        max_elapsed: spec.max_elapsed.map_or(d.max_elapsed, |x| x.0),
    }
}

/// A URL as written in the pipeline, made safe to show: credentials removed and sensitive
/// query values masked when it parses; as written otherwise.
fn shown(s: &str) -> String {
    Url::parse(s).map_or_else(|_| s.to_owned(), |u| display_url(&u, &[]))
}

fn parse_http_url(raw: &str) -> Result<Url, String> {
    let s = shown(raw);
    let url = Url::parse(raw).map_err(|e| format!("`{s}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{s}` uses `{}:`; only http and https are fetched",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{s}` has no host"));
    }
    Ok(url)
}

/// `https://h/v1` + `/users` = `https://h/v1/users` (the base's path is kept, unlike
/// `Url::join`).
fn join(base: &Url, endpoint: &str) -> Result<Url, String> {
    if base.query().is_some() {
        return Err(format!(
            "the base URL `{base}` has a query string; move it to `params` so `{endpoint}` can \
             be joined"
        ));
    }
    let joined = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        endpoint.trim_start_matches('/')
    );
    parse_http_url(&joined)
}

/// Names of query parameters whose values are masked in every URL shown.
pub(crate) fn is_sensitive_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "signature",
        "auth",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// The URL of a request as shown to people: credentials removed, sensitive values masked.
pub(crate) fn display_url(url: &Url, params: &[(String, String)]) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    let existing: Vec<(String, String)> = shown
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if existing.is_empty() && params.is_empty() {
        shown.set_query(None);
        return shown.to_string();
    }
    {
        let mut q = shown.query_pairs_mut();
        q.clear();
        for (k, v) in existing.iter().chain(params) {
            let v = if is_sensitive_param(k) {
                "***"
            } else {
                v.as_str()
            };
            q.append_pair(k, v);
        }
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The crate has no YAML parser; JSON is YAML enough for these tests.
    fn spec(json: &str) -> SourceSpec {
        serde_json::from_str(json).unwrap()
    }

    fn http(base: &str) -> HttpSpec {
        HttpSpec {
            base_url: Some(base.into()),
            ..HttpSpec::default()
        }
    }

    #[test]
    fn endpoint_keeps_the_base_path() {
        let s = build(
            "users",
            &spec(r#"{"endpoint": "/users"}"#),
            &http("http://h:1/v1/"),
        )
        .unwrap();
        assert_eq!(s.url.as_str(), "http://h:1/v1/users");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let s = spec(
            r#"{"endpoint": "/x", "max_pages": 0, "body": {"a": 1},
                "pagination": {"type": "offset", "page_size": 0},
                "headers": {"bad header": "v"}}"#,
        );
        let errors = build("x", &s, &http("ftp://h")).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("`http.base_url`") && t.contains("only http and https")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with("`sources.x.max_pages`")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with("`sources.x.body`")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("`sources.x.pagination.page_size`")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("`sources.x.headers.bad header`")),
            "{text:?}"
        );
    }

    #[test]
    fn a_foreign_absolute_endpoint_is_refused() {
        let s = spec(r#"{"endpoint": "https://elsewhere.example/x"}"#);
        let errors = build("x", &s, &http("https://api.example")).unwrap_err();
        assert!(
            errors[0].to_string().contains("not on the origin"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn shown_urls_mask_sensitive_params() {
        let url = Url::parse("https://user:pw@h/x?a=1").unwrap();
        let shown = display_url(
            &url,
            &[
                ("api_key".into(), "s3cret".into()),
                ("page".into(), "2".into()),
            ],
        );
        assert_eq!(shown, "https://h/x?a=1&api_key=***&page=2");
    }
}
