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
    /// With `for_each`: the endpoint, joined to the base URL, with `{key}` still in it.
    pub endpoint_template: Option<String>,
    pub for_each: Option<crate::spec::ForEachSpec>,
    pub include_from_parent: Vec<String>,
    /// Hosts trusted with credentials besides the source's own origin.
    pub allowed_hosts: Vec<String>,
    pub follow_foreign_links: bool,
    pub tls: Option<TlsMaterial>,
    /// Requests in flight at once for this source.
    pub concurrency: usize,
    /// The largest response body accepted, in bytes.
    pub max_response_size: u64,
    /// Values of sensitive headers and query parameters (`Authorization`, `api_key`, ...),
    /// kept out of every message like the `auth` credentials.
    pub header_secrets: Vec<crate::Secret>,
    /// Fetch only records changed since the cursor.
    pub incremental: Option<crate::Incremental>,
    /// Fields identifying a record (empty: none).
    pub primary_key: Vec<String>,
}

/// The placeholders of an incremental source's start and end.
pub(crate) const SINCE: &str = "{since}";
pub(crate) const UNTIL: &str = "{until}";

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
/// Default largest response body: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_SIZE: u64 = 64 << 20;
/// Default longest wait a server may impose.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(15 * 60);

/// PEM material read from the files `tls` names, checked at build time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsMaterial {
    /// CA certificates trusted in addition to the system's.
    pub ca: Option<Vec<u8>>,
    /// Client certificate chain and private key, concatenated.
    pub identity: Option<Vec<u8>>,
}

impl TlsMaterial {
    /// Reads and checks the files; an error names the field and says what is wrong.
    fn load(spec: &crate::spec::TlsSpec) -> Result<Self, (&'static str, String)> {
        let read = |field: &'static str, path: &str| {
            std::fs::read(path).map_err(|e| (field, format!("cannot read `{path}`: {e}")))
        };
        let ca = match &spec.ca_file {
            Some(path) => {
                let pem = read("ca_file", path)?;
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                    (
                        "ca_file",
                        format!("`{path}` holds no PEM certificate ({e})"),
                    )
                })?;
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(("ca_file", format!("`{path}` holds no PEM certificate")));
                }
                Some(pem)
            }
            None => None,
        };
        let identity = match (&spec.client_cert, &spec.client_key) {
            (Some(cert), Some(key)) => {
                let mut pem = read("client_cert", cert)?;
                pem.push(b'\n');
                pem.extend(read("client_key", key)?);
                reqwest::Identity::from_pem(&pem).map_err(|e| {
                    (
                        "client_cert",
                        format!("`{cert}` and `{key}` are not a PEM certificate and key ({e})"),
                    )
                })?;
                Some(pem)
            }
            (Some(_), None) => return Err(("client_key", "is needed with `client_cert`".into())),
            (None, Some(_)) => return Err(("client_cert", "is needed with `client_key`".into())),
            (None, None) => None,
        };
        Ok(Self { ca, identity })
    }
}

impl SourceConfig {
    /// Whether a request to `url` (a next link or a redirect) gets this source's
    /// credentials: yes on the source's own origin and on `allowed_hosts`, never from https
    /// down to http; other origins are followed without credentials only under
    /// `follow_foreign_links`, and refused otherwise (the message says what to do).
    pub(crate) fn credentials_for(&self, from: &Url, to: &Url) -> Result<bool, String> {
        // Plain http never carries credentials of an https source, however it was reached.
        let downgrade =
            (from.scheme() == "https" || self.url.scheme() == "https") && to.scheme() == "http";
        let own = to.origin() == self.url.origin();
        let host = to.host_str().unwrap_or("").to_ascii_lowercase();
        let with_port = to.port_or_known_default().map(|p| format!("{host}:{p}"));
        let allowed = to.scheme() == self.url.scheme()
            && self
                .allowed_hosts
                .iter()
                .any(|h| *h == host || Some(h) == with_port.as_ref());
        if (own || allowed) && !downgrade {
            return Ok(true);
        }
        if self.follow_foreign_links {
            return Ok(false);
        }
        let shown = display_url(to, &[]);
        Err(if downgrade {
            format!(
                "`{shown}` leaves https for plain http; credentials are never sent that way: set \
                 `follow_foreign_links: true` to follow it without them"
            )
        } else {
            format!(
                "`{shown}` is on another origin than `{}`; credentials stay with it: add `{}` to \
                 `allowed_hosts` to trust that host, or set `follow_foreign_links: true` to \
                 follow without credentials",
                self.url.origin().ascii_serialization(),
                with_port.unwrap_or(host)
            )
        })
    }

    /// The URL of the request series for one parent record (`for_each`), or the source's URL.
    pub(crate) fn url_for(
        &self,
        parent: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Url, String> {
        let Some(template) = &self.endpoint_template else {
            return Ok(self.url.clone());
        };
        let encode = |value: &str| -> String {
            let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            encoded.replace('+', "%20")
        };
        let mut text = template.clone();
        if let (Some(f), Some(value)) = (&self.for_each, parent) {
            text = text.replace(&format!("{{{}}}", f.key), &encode(value));
        }
        text = text
            .replace(SINCE, &encode(since.unwrap_or_default()))
            .replace(UNTIL, &encode(until.unwrap_or_default()));
        Url::parse(&text).map_err(|e| format!("`{text}` is not a URL ({e})"))
    }

    /// The origin (`scheme://host:port`) that rate limits and credentials are bound to.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// Values that must never appear in a message.
    pub fn secrets(&self) -> Vec<crate::Secret> {
        let mut all = self.auth.as_ref().map(Auth::secrets).unwrap_or_default();
        all.extend(self.header_secrets.iter().cloned());
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
    // With `for_each`, `{key}` in the endpoint is filled per parent record, and `{since}`
    // and `{until}` per run: check the URL with sample values in their places.
    let placeholder = spec.for_each.as_ref().map(|f| format!("{{{}}}", f.key));
    let mut endpoint = match &placeholder {
        Some(p) => spec.endpoint.replace(p.as_str(), "1"),
        None => spec.endpoint.clone(),
    };
    let windowed =
        spec.incremental.is_some() && (endpoint.contains(SINCE) || endpoint.contains(UNTIL));
    if windowed {
        endpoint = endpoint.replace(SINCE, "1").replace(UNTIL, "1");
    }
    let url = if endpoint.contains("://") {
        match parse_http_url(&endpoint) {
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
        base.as_ref().and_then(|b| match join(b, &endpoint) {
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
        PaginationSpec::Cursor(c) => {
            let mut names = vec![c.cursor_param.as_str()];
            names.extend(c.limit_param.as_deref());
            names
        }
        PaginationSpec::NextUrl(_) | PaginationSpec::LinkHeader(_) | PaginationSpec::None {} => {
            Vec::new()
        }
    };
    let body_paths = match &pagination {
        PaginationSpec::Offset(o) => o.offset_body_path.is_some() || o.limit_body_path.is_some(),
        PaginationSpec::Page(p) => p.page_body_path.is_some() || p.size_body_path.is_some(),
        PaginationSpec::Cursor(c) => c.cursor_body_path.is_some() || c.limit_body_path.is_some(),
        _ => false,
    };
    if body_paths && spec.method != Method::Post {
        err(
            format!("{pg_key}.type"),
            "puts paging values in the body (`*_body_path`), which needs `method: POST`".into(),
        );
    }
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
    let records = records_spec.map(|r| {
        if r.trim() == "." {
            Vec::new()
        } else {
            r.split('.').map(str::to_owned).collect::<Vec<_>>()
        }
    });
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

    let allowed_hosts: Vec<String> = spec
        .allowed_hosts
        .clone()
        .or_else(|| http.allowed_hosts.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for host in &allowed_hosts {
        if host.is_empty() || host.contains('/') || host.contains("://") {
            err(
                format!("{at}.allowed_hosts"),
                format!(
                    "`{host}` is not a host; write `api.example.com` or `api.example.com:8443`"
                ),
            );
        }
    }
    let concurrency = spec.concurrency.or(http.concurrency).unwrap_or(4);
    if concurrency == 0 {
        err(format!("{at}.concurrency"), "must be at least 1".into());
    }
    let concurrency = concurrency.max(1) as usize;
    let tls_key = if spec.tls.is_some() {
        format!("{at}.tls")
    } else {
        "http.tls".into()
    };
    let tls = match spec.tls.as_ref().or(http.tls.as_ref()) {
        Some(t) => match TlsMaterial::load(t) {
            Ok(m) => Some(m),
            Err((field, message)) => {
                err(format!("{tls_key}.{field}"), message);
                None
            }
        },
        None => None,
    };
    if let Some(f) = &spec.for_each {
        let p = format!("{{{}}}", f.key);
        let in_params = spec.params.values().any(|v| v.contains(&p));
        let in_body = spec
            .body
            .as_ref()
            .is_some_and(|b| b.to_string().contains(&p));
        if !spec.endpoint.contains(&p) && !in_params && !in_body {
            err(
                format!("{at}.for_each.key"),
                format!(
                    "`{p}` appears nowhere: put it in `endpoint` (`/{}/{p}/...`), `params` or \
                     `body`, or every request would be the same",
                    f.source
                ),
            );
        }
        if f.source == name {
            err(
                format!("{at}.for_each.source"),
                "names this source itself".into(),
            );
        }
    }
    let incremental = spec
        .incremental
        .as_ref()
        .and_then(|i| match incremental(i, spec, &at) {
            Ok(i) => Some(i),
            Err(list) => {
                for (key, message) in list {
                    err(key, message);
                }
                None
            }
        });
    let primary_key = spec
        .primary_key
        .as_ref()
        .map(crate::spec::PrimaryKeySpec::fields)
        .unwrap_or_default();
    if spec.primary_key.is_some()
        && (primary_key.is_empty() || primary_key.iter().any(|f| f.trim().is_empty()))
    {
        err(
            format!("{at}.primary_key"),
            "names no field; write `primary_key: id` or `primary_key: [order_id, line]`".into(),
        );
    }
    if !spec.include_from_parent.is_empty() && spec.for_each.is_none() {
        err(
            format!("{at}.include_from_parent"),
            "copies fields of a parent: it needs `for_each`".into(),
        );
    }

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
            endpoint_template: (placeholder.is_some() || windowed).then(|| {
                if spec.endpoint.contains("://") {
                    spec.endpoint.clone()
                } else {
                    let base = base.as_ref().map_or("", Url::as_str);
                    format!(
                        "{}/{}",
                        base.trim_end_matches('/'),
                        spec.endpoint.trim_start_matches('/')
                    )
                }
            }),
            for_each: spec.for_each.clone(),
            include_from_parent: spec.include_from_parent.clone(),
            allowed_hosts,
            follow_foreign_links: spec
                .follow_foreign_links
                .or(http.follow_foreign_links)
                .unwrap_or(false),
            tls,
            concurrency,
            max_response_size: spec
                .max_response_size
                .or(http.max_response_size)
                .map_or(DEFAULT_MAX_RESPONSE_SIZE, |s| s.0),
            header_secrets,
            incremental,
            primary_key,
        }),
        _ => Err(errors),
    }
}

/// Checks `incremental`: the cursor field, where the start goes, `initial` and `lookback`.
fn incremental(
    i: &crate::spec::IncrementalSpec,
    spec: &SourceSpec,
    at: &str,
) -> Result<crate::Incremental, Vec<(String, String)>> {
    use crate::incremental::{Cursor, Lookback};
    use crate::spec::ScalarSpec;
    let at = format!("{at}.incremental");
    let mut errors = Vec::new();
    let cursor_field: Vec<String> = i.cursor_field.split('.').map(str::to_owned).collect();
    if cursor_field.iter().any(|p| p.trim().is_empty()) {
        errors.push((
            format!("{at}.cursor_field"),
            format!(
                "`{}` is not a field name or a dotted path such as `meta.updated_at`",
                i.cursor_field
            ),
        ));
    }
    let placed = |p: &str| {
        spec.endpoint.contains(p)
            || spec.params.values().any(|v| v.contains(p))
            || spec
                .body
                .as_ref()
                .is_some_and(|b| b.to_string().contains(p))
    };
    if i.param.as_deref().is_some_and(|p| p.trim().is_empty()) {
        errors.push((format!("{at}.param"), "must not be empty".into()));
    }
    if i.param.is_none() && !placed(SINCE) {
        errors.push((
            format!("{at}.param"),
            "is missing: name the query parameter that takes the start (`param: \
             updated_since`), or put `{since}` in `endpoint`, `params` or `body`"
                .into(),
        ));
    }
    let initial = match &i.initial {
        None => None,
        Some(ScalarSpec::Int(n)) => Some(Cursor::Int(*n)),
        Some(ScalarSpec::Text(t)) => match Cursor::parse(t) {
            Ok(c) => Some(c),
            Err(m) => {
                errors.push((format!("{at}.initial"), m));
                None
            }
        },
    };
    if initial.is_none() && i.initial.is_none() && placed(SINCE) && i.param.is_none() {
        errors.push((
            format!("{at}.initial"),
            "is needed when `{since}` is placed in `endpoint`, `params` or `body`: the first \
             run has to start somewhere"
                .into(),
        ));
    }
    let lookback = match &i.lookback {
        None => Lookback::None,
        Some(ScalarSpec::Int(n)) if *n >= 0 => Lookback::Int(*n),
        Some(ScalarSpec::Int(_)) => {
            errors.push((format!("{at}.lookback"), "must not be negative".into()));
            Lookback::None
        }
        Some(ScalarSpec::Text(t)) => match t.parse::<HumanDuration>() {
            Ok(d) => Lookback::Time(d.0),
            Err(m) => {
                errors.push((format!("{at}.lookback"), m));
                Lookback::None
            }
        },
    };
    match (initial, lookback) {
        (Some(Cursor::Int(_)), Lookback::Time(_)) => errors.push((
            format!("{at}.lookback"),
            "is a duration but `initial` is an integer; write a number of cursor units".into(),
        )),
        (Some(Cursor::Time(_)), Lookback::Int(_)) => errors.push((
            format!("{at}.lookback"),
            "is a number but `initial` is a date-time; write a duration such as `1h`".into(),
        )),
        _ => {}
    }
    if let Some(f) = &i.format {
        if f.is_empty()
            || chrono::format::StrftimeItems::new(f).any(|item| item == chrono::format::Item::Error)
        {
            errors.push((
                format!("{at}.format"),
                format!("`{f}` is not a strftime format such as `%Y-%m-%dT%H:%M:%SZ`"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(crate::Incremental {
            cursor_field,
            param: i.param.clone(),
            until_param: i.until_param.clone(),
            initial,
            lookback,
            format: i.format.clone(),
        })
    } else {
        Err(errors)
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

impl SourceConfig {
    /// The first request this source would send, as a person reads it, secrets masked; no
    /// network. With `for_each`, the endpoint keeps its `{key}` placeholder.
    pub fn first_request(&self, window: &crate::Window) -> String {
        use std::fmt::Write as _;
        let mut paginator = crate::pagination::paginator(&self.pagination);
        let first = paginator.first();
        let since = self.incremental.as_ref().and_then(|inc| {
            window
                .since_for(None, inc)
                .ok()
                .flatten()
                .map(|c| c.format(inc.format.as_deref()))
        });
        let fill = |v: &str| match &since {
            Some(s) if self.incremental.is_some() => v.replace(SINCE, s),
            _ => v.to_owned(),
        };
        let mut params: Vec<(String, String)> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), fill(v)))
            .collect();
        if let (Some(inc), Some(s)) = (&self.incremental, &since) {
            if let Some(p) = &inc.param {
                params.push((p.clone(), s.clone()));
            }
        }
        params.extend(first.params.iter().cloned());
        let method = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let url = match (&self.endpoint_template, &self.for_each) {
            (Some(t), Some(_)) => {
                let mut shown = fill(t);
                if !params.is_empty() {
                    let query: Vec<String> = params
                        .iter()
                        .map(|(k, v)| {
                            let v = if is_sensitive_param(k) {
                                "***"
                            } else {
                                v.as_str()
                            };
                            format!("{k}={v}")
                        })
                        .collect();
                    shown.push(if shown.contains('?') { '&' } else { '?' });
                    shown.push_str(&query.join("&"));
                }
                shown
            }
            _ => display_url(&self.url, &params),
        };
        let mut out = format!("{method} {url}");
        if let Some(each) = &self.for_each {
            let _ = write!(
                out,
                "\n    once per record of `{}`, `{{{}}}` filled from it, {} at a time",
                each.source, each.key, self.concurrency
            );
        }
        if let Some(auth) = &self.auth {
            let what = match auth {
                Auth::Bearer(_) => "bearer token (***)",
                Auth::ApiKey(_) => "API key (***)",
                Auth::Basic(_) => "basic credentials (***)",
                Auth::OAuth2(_) => "OAuth2 client credentials (token fetched first; ***)",
            };
            let _ = write!(out, "\n    auth: {what}");
        }
        let headers: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        if !headers.is_empty() {
            let _ = write!(out, "\n    headers: {}", headers.join(", "));
        }
        if !first.body.is_empty() || self.body.is_some() {
            let _ = write!(out, "\n    with a JSON body");
        }
        if let Some(r) = &self.rate_limit {
            let _ = write!(out, "\n    at most {} request(s) per {}", r.requests, r.per);
        }
        out
    }
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
    fn credentials_stay_on_their_origin_and_never_go_over_http() {
        let mut s = build(
            "x",
            &spec(r#"{"endpoint": "/x", "allowed_hosts": ["cdn.example:443", "other.example"]}"#),
            &http("https://api.example"),
        )
        .unwrap();
        let at = |u: &str| Url::parse(u).unwrap();
        let from = at("https://api.example/x");
        assert_eq!(
            s.credentials_for(&from, &at("https://api.example/x?page=2")),
            Ok(true)
        );
        assert_eq!(
            s.credentials_for(&from, &at("https://cdn.example/x")),
            Ok(true)
        );
        assert_eq!(
            s.credentials_for(&from, &at("https://other.example/x")),
            Ok(true)
        );
        assert!(
            s.credentials_for(&from, &at("https://evil.example/x"))
                .unwrap_err()
                .contains("`allowed_hosts`")
        );
        assert!(
            s.credentials_for(&from, &at("http://api.example/x"))
                .unwrap_err()
                .contains("plain http")
        );
        s.follow_foreign_links = true;
        assert_eq!(
            s.credentials_for(&from, &at("https://evil.example/x")),
            Ok(false)
        );
        // Reached over http, an allowed host still gets nothing over http.
        let plain = at("http://other.example/x");
        assert_eq!(
            s.credentials_for(&plain, &at("http://other.example/x?page=2")),
            Ok(false)
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
