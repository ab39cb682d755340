//! The config stage of a source: [`build`] turns its spec and the `http` defaults into a
//! [`SourceConfig`], checking everything it can without the network, section by section, and
//! reporting every problem with its key path.

use std::time::Duration;

use etl_config::{ConfigError, KeyPath};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::auth::Auth;
use crate::config::{
    DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_MAX_WAIT, DEFAULT_TIMEOUT, Flatten, RetryPolicy, SINCE,
    SourceConfig, TlsMaterial, UNTIL,
};
use crate::duration::HumanDuration;
use crate::incremental::{Cursor, Incremental, Lookback};
use crate::redact::{display_written_url, is_sensitive_header, is_sensitive_param};
use crate::secret::Secret;
use crate::spec::{
    FlattenSpec, HttpSpec, IncrementalSpec, Method, PaginationSpec, RateLimitSpec, RetrySpec,
    ScalarSpec, SourceSpec, TlsSpec,
};

/// `setting!(builder, field)`: [`Builder::setting`] for `field`, which `SourceSpec` and
/// `HttpSpec` both have.
macro_rules! setting {
    ($b:expr, $field:ident) => {
        $b.setting(
            stringify!($field),
            $b.spec.$field.as_ref(),
            $b.http.$field.as_ref(),
        )
    };
}

/// Builds a source from its spec and the `http` defaults, reporting every problem found.
/// Key paths in errors start with `sources.{name}` or `http`.
pub fn build(
    name: &str,
    spec: &SourceSpec,
    http: &HttpSpec,
) -> Result<SourceConfig, Vec<ConfigError>> {
    let mut b = Builder {
        name,
        spec,
        http,
        at: KeyPath::root().key("sources").key(name),
        errors: Vec::new(),
    };
    let base = b.base_url();
    let endpoint = b.endpoint(base.as_ref());
    let headers = b.headers();
    let params = b.params();
    let header_secrets = sensitive_values(spec, http, &params);
    let auth = b.auth();
    let rate_limit = b.rate_limit();
    let retry = b.retry();
    let pagination = b.pagination(&params);
    let records = b.records();
    let flatten = b.flatten();
    b.check_bounds();
    let timeout = b.timeout();
    let allowed_hosts = b.allowed_hosts();
    let concurrency = b.concurrency();
    let tls = b.tls();
    b.check_for_each();
    let incremental = b.incremental();
    let primary_key = b.primary_key();
    b.check_include_from_parent();
    let follow_foreign_links = setting!(b, follow_foreign_links).1 == Some(&true);
    let max_wait = setting!(b, max_wait).1.map_or(DEFAULT_MAX_WAIT, |d| d.0);
    let max_response_size = setting!(b, max_response_size)
        .1
        .map_or(DEFAULT_MAX_RESPONSE_SIZE, |s| s.0);
    match endpoint.url {
        Some(url) if b.errors.is_empty() => Ok(SourceConfig {
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
            endpoint_template: endpoint.template,
            for_each: spec.for_each.clone(),
            include_from_parent: spec.include_from_parent.clone(),
            allowed_hosts,
            follow_foreign_links,
            tls,
            concurrency,
            max_response_size,
            header_secrets,
            incremental,
            primary_key,
            stage_columns: None,
            shard: None,
        }),
        _ => Err(b.errors),
    }
}

/// One source being built: its spec, the `http` defaults, the problems found so far.
struct Builder<'a> {
    name: &'a str,
    spec: &'a SourceSpec,
    http: &'a HttpSpec,
    /// `sources.{name}`.
    at: KeyPath,
    errors: Vec<ConfigError>,
}

/// The endpoint, joined and checked.
struct Endpoint {
    /// The URL of the first request; `None` when it cannot be made.
    url: Option<Url>,
    /// With `{key}`, `{since}` or `{until}` in it: the endpoint joined to the base URL, the
    /// placeholders kept (see `SourceConfig::url_for`).
    template: Option<String>,
}

impl<'a> Builder<'a> {
    fn error(&mut self, key: KeyPath, message: impl Into<String>) {
        self.errors.push(ConfigError::new(key, message));
    }

    fn error_with_hint(&mut self, key: KeyPath, message: impl Into<String>, hint: &str) {
        self.errors
            .push(ConfigError::new(key, message).with_hint(hint));
    }

    /// The value, or `None` with the error noted at `key`.
    fn noted<T, E: std::fmt::Display>(&mut self, key: KeyPath, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.error(key, e.to_string());
                None
            }
        }
    }

    /// `sources.{name}.{key}`.
    fn own(&self, key: &str) -> KeyPath {
        self.at.key(key)
    }

    /// A setting the source may override: its own value, else the `http` default, with the
    /// key of the one that applies (`http.{name}` when neither is set).
    fn setting<T>(
        &self,
        name: &str,
        own: Option<&'a T>,
        default: Option<&'a T>,
    ) -> (KeyPath, Option<&'a T>) {
        match own {
            Some(value) => (self.own(name), Some(value)),
            None => (KeyPath::root().key("http").key(name), default),
        }
    }

    fn base_url(&mut self) -> Option<Url> {
        let (key, base) = setting!(self, base_url);
        match base {
            Some(b) => self.noted(key, parse_http_url(b)),
            None => {
                if !self.spec.endpoint.contains("://") {
                    self.error_with_hint(
                        self.own("endpoint"),
                        format!(
                            "`{}` is a path but there is no base URL",
                            display_written_url(&self.spec.endpoint)
                        ),
                        "set `http.base_url` or give an absolute URL",
                    );
                }
                None
            }
        }
    }

    /// The endpoint joined to the base URL (or absolute, on the base URL's origin). With
    /// `for_each`, `{key}` in the endpoint is filled per parent record, and `{since}` and
    /// `{until}` per run: the URL is checked with sample values in their places.
    fn endpoint(&mut self, base: Option<&Url>) -> Endpoint {
        let spec = self.spec;
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
            let url = self.noted(self.own("endpoint"), parse_http_url(&endpoint));
            if let (Some(b), Some(u)) = (base, &url) {
                self.check_origin(b, u);
            }
            url
        } else {
            base.and_then(|b| self.noted(self.own("endpoint"), join(b, &endpoint)))
        };
        let template = (placeholder.is_some() || windowed).then(|| {
            if spec.endpoint.contains("://") {
                spec.endpoint.clone()
            } else {
                let base = base.map_or("", Url::as_str);
                format!(
                    "{}/{}",
                    base.trim_end_matches('/'),
                    spec.endpoint.trim_start_matches('/')
                )
            }
        });
        Endpoint { url, template }
    }

    /// An absolute endpoint stays on the base URL's origin.
    fn check_origin(&mut self, base: &Url, endpoint: &Url) {
        if base.origin() == endpoint.origin() {
            return;
        }
        let (base_key, _) = setting!(self, base_url);
        self.error(
            self.own("endpoint"),
            format!(
                "`{}` is not on the origin of `{base_key}` (`{}`); credentials and rate limits \
                 are bound to that origin: set this source's `base_url` to `{}` instead",
                display_written_url(&self.spec.endpoint),
                base.origin().ascii_serialization(),
                endpoint.origin().ascii_serialization()
            ),
        );
    }

    /// `http.headers` then the source's own, every value marked sensitive.
    fn headers(&mut self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let sections = [
            (KeyPath::root().key("http"), &self.http.headers),
            (self.at.clone(), &self.spec.headers),
        ];
        for (section, map) in sections {
            for (n, v) in map {
                let key = section.key("headers").key(n.as_str());
                match (
                    HeaderName::try_from(n.as_str()),
                    HeaderValue::try_from(v.as_str()),
                ) {
                    (Ok(n), Ok(mut v)) => {
                        v.set_sensitive(true);
                        headers.insert(n, v);
                    }
                    (Err(_), _) => self.error(key, format!("`{n}` is not a valid header name")),
                    (_, Err(_)) => self.error(
                        key,
                        "is not a valid header value (control characters or non-ASCII?)",
                    ),
                }
            }
        }
        headers
    }

    /// `http.params` then the source's own (which win on a clash).
    fn params(&self) -> Vec<(String, String)> {
        let (own, http) = (&self.spec.params, &self.http.params);
        http.iter()
            .filter(|(k, _)| !own.contains_key(*k))
            .chain(own)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn auth(&mut self) -> Option<Auth> {
        let (key, spec) = setting!(self, auth);
        match Auth::build(spec?, &key) {
            Ok(auth) => Some(auth),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    fn rate_limit(&mut self) -> Option<RateLimitSpec> {
        let (key, rate_limit) = setting!(self, rate_limit);
        let r = *rate_limit?;
        if r.requests == 0 {
            self.error(key.key("requests"), "must be at least 1");
        }
        if r.per.0.is_zero() {
            self.error(key.key("per"), "must be longer than zero");
        }
        if r.burst == Some(0) {
            self.error(key.key("burst"), "must be at least 1");
        }
        Some(r)
    }

    fn retry(&mut self) -> RetryPolicy {
        let (key, spec) = setting!(self, retry);
        let retry = retry_policy(spec.copied().unwrap_or_default());
        if retry.max_attempts == 0 {
            self.error(
                key.key("max_attempts"),
                "must be at least 1 (the first attempt)",
            );
        }
        retry
    }

    /// The paging style, checked: sizes, `*_body_path` with POST, and no `params` that the
    /// paginator sets on every page.
    fn pagination(&mut self, params: &[(String, String)]) -> PaginationSpec {
        let (key, spec) = setting!(self, pagination);
        let pagination = spec.cloned().unwrap_or(PaginationSpec::None {});
        let (paging_params, size, body_paths): (Vec<&str>, Option<u64>, bool) = match &pagination {
            PaginationSpec::Offset(o) => (
                vec![&o.offset_param, &o.limit_param],
                Some(o.page_size),
                o.offset_body_path.is_some() || o.limit_body_path.is_some(),
            ),
            PaginationSpec::Page(p) => (
                vec![&p.page_param, &p.size_param],
                Some(p.page_size),
                p.page_body_path.is_some() || p.size_body_path.is_some(),
            ),
            PaginationSpec::Cursor(c) => (
                std::iter::once(c.cursor_param.as_str())
                    .chain(c.limit_param.as_deref())
                    .collect(),
                None,
                c.cursor_body_path.is_some() || c.limit_body_path.is_some(),
            ),
            PaginationSpec::NextUrl(_)
            | PaginationSpec::LinkHeader(_)
            | PaginationSpec::None {} => (Vec::new(), None, false),
        };
        if size == Some(0) {
            self.error(key.key("page_size"), "must be at least 1");
        }
        if body_paths && self.spec.method != Method::Post {
            self.error(
                key.key("type"),
                "puts paging values in the body (`*_body_path`), which needs `method: POST`",
            );
        }
        for (name, _) in params {
            if paging_params.contains(&name.as_str()) {
                let section = if self.spec.params.contains_key(name) {
                    self.at.clone()
                } else {
                    KeyPath::root().key("http")
                };
                self.error_with_hint(
                    section.key("params").key(name.as_str()),
                    format!("`{name}` is set by `pagination` on every page"),
                    "remove it from `params`",
                );
            }
        }
        pagination
    }

    /// The dotted path of the records, split; `.` is the body itself.
    fn records(&mut self) -> Option<Vec<String>> {
        let (key, written) = setting!(self, records);
        let written = written?;
        if written.trim() == "." {
            return Some(Vec::new());
        }
        let path: Vec<String> = written.split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            self.error(
                key,
                format!("`{written}` is not a dotted path such as `data.items`"),
            );
        }
        Some(path)
    }

    fn flatten(&mut self) -> Flatten {
        match &self.spec.flatten {
            None | Some(FlattenSpec::Enabled(true)) => Flatten::default(),
            Some(FlattenSpec::Enabled(false)) => Flatten {
                enabled: false,
                ..Flatten::default()
            },
            Some(FlattenSpec::Options(o)) => {
                let separator = o.separator.clone().unwrap_or_else(|| "__".into());
                if separator.is_empty() {
                    self.error(self.own("flatten").key("separator"), "must not be empty");
                }
                Flatten {
                    enabled: true,
                    separator,
                    max_depth: o.max_depth,
                }
            }
        }
    }

    /// `max_pages`, `max_records` and `body`.
    fn check_bounds(&mut self) {
        for (key, value) in [
            ("max_pages", self.spec.max_pages),
            ("max_records", self.spec.max_records),
        ] {
            if value == Some(0) {
                self.error_with_hint(
                    self.own(key),
                    "must be at least 1",
                    "remove it for no bound",
                );
            }
        }
        if self.spec.body.is_some() && self.spec.method == Method::Get {
            self.error_with_hint(
                self.own("body"),
                "is sent only with `method: POST`",
                "add it or remove `body`",
            );
        }
    }

    fn timeout(&mut self) -> Duration {
        let (key, timeout) = setting!(self, timeout);
        let timeout = timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
        if timeout.is_zero() {
            self.error(key, "must be longer than zero");
        }
        timeout
    }

    /// Hosts trusted with credentials, lowercase.
    fn allowed_hosts(&mut self) -> Vec<String> {
        let (key, hosts) = setting!(self, allowed_hosts);
        let hosts: Vec<String> = hosts
            .into_iter()
            .flatten()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        for host in &hosts {
            if host.is_empty() || host.contains('/') || host.contains("://") {
                self.error_with_hint(
                    key.clone(),
                    format!("`{host}` is not a host"),
                    "write `api.example.com` or `api.example.com:8443`",
                );
            }
        }
        hosts
    }

    fn concurrency(&mut self) -> usize {
        let (key, concurrency) = setting!(self, concurrency);
        let concurrency = concurrency.copied().unwrap_or(4);
        if concurrency == 0 {
            self.error(key, "must be at least 1");
        }
        concurrency.max(1) as usize
    }

    fn tls(&mut self) -> Option<TlsMaterial> {
        let (key, tls) = setting!(self, tls);
        match load_tls(tls?) {
            Ok(material) => Some(material),
            Err((field, message)) => {
                self.error(key.key(field), message);
                None
            }
        }
    }

    /// `{key}` is used somewhere, and the parent is another source.
    fn check_for_each(&mut self) {
        let Some(f) = &self.spec.for_each else {
            return;
        };
        let p = format!("{{{}}}", f.key);
        if !self.spec.endpoint.contains(&p) && !self.placed_in_params_or_body(&p) {
            self.error(
                self.own("for_each").key("key"),
                format!(
                    "`{p}` appears nowhere: put it in `endpoint` (`/{}/{p}/...`), `params` or \
                     `body`, or every request would be the same",
                    f.source
                ),
            );
        }
        if f.source == self.name {
            self.error(
                self.own("for_each").key("source"),
                "names this source itself",
            );
        }
    }

    /// Whether `placeholder` is written in the source's `params` or `body`.
    fn placed_in_params_or_body(&self, placeholder: &str) -> bool {
        self.spec.params.values().any(|v| v.contains(placeholder))
            || self
                .spec
                .body
                .as_ref()
                .is_some_and(|b| b.to_string().contains(placeholder))
    }

    fn primary_key(&mut self) -> Vec<String> {
        let Some(spec) = &self.spec.primary_key else {
            return Vec::new();
        };
        let fields = spec.fields();
        if fields.is_empty() || fields.iter().any(|f| f.trim().is_empty()) {
            self.error_with_hint(
                self.own("primary_key"),
                "names no field",
                "write `primary_key: id` or `primary_key: [order_id, line]`",
            );
        }
        fields
    }

    fn check_include_from_parent(&mut self) {
        if !self.spec.include_from_parent.is_empty() && self.spec.for_each.is_none() {
            self.error(
                self.own("include_from_parent"),
                "copies fields of a parent: it needs `for_each`",
            );
        }
    }
}

/// `incremental`: the cursor field, where the start goes, `initial`, `lookback` and `format`.
impl Builder<'_> {
    /// The checked `incremental`, or `None` when it is not set or has a problem.
    fn incremental(&mut self) -> Option<Incremental> {
        let i = self.spec.incremental.as_ref()?;
        let at = self.own("incremental");
        let found = self.errors.len();
        let cursor_field: Vec<String> = i.cursor_field.split('.').map(str::to_owned).collect();
        if cursor_field.iter().any(|p| p.trim().is_empty()) {
            self.error(
                at.key("cursor_field"),
                format!(
                    "`{}` is not a field name or a dotted path such as `meta.updated_at`",
                    i.cursor_field
                ),
            );
        }
        self.check_since_placed(i, &at);
        let initial = self.initial(i, &at);
        let lookback = self.lookback(i, initial, &at);
        if let Some(f) = &i.format {
            if f.is_empty()
                || chrono::format::StrftimeItems::new(f)
                    .any(|item| item == chrono::format::Item::Error)
            {
                self.error(
                    at.key("format"),
                    format!("`{f}` is not a strftime format such as `%Y-%m-%dT%H:%M:%SZ`"),
                );
            }
        }
        (self.errors.len() == found).then(|| Incremental {
            cursor_field,
            param: i.param.clone(),
            until_param: i.until_param.clone(),
            initial,
            lookback,
            format: i.format.clone(),
        })
    }

    /// The start goes somewhere: `param`, or `{since}` with an `initial` to start from.
    fn check_since_placed(&mut self, i: &IncrementalSpec, at: &KeyPath) {
        let placed = self.spec.endpoint.contains(SINCE) || self.placed_in_params_or_body(SINCE);
        if i.param.as_deref().is_some_and(|p| p.trim().is_empty()) {
            self.error(at.key("param"), "must not be empty");
        }
        if i.param.is_none() && !placed {
            self.error(
                at.key("param"),
                "is missing: name the query parameter that takes the start (`param: \
                 updated_since`), or put `{since}` in `endpoint`, `params` or `body`",
            );
        }
        if i.initial.is_none() && placed && i.param.is_none() {
            self.error(
                at.key("initial"),
                "is needed when `{since}` is placed in `endpoint`, `params` or `body`: the \
                 first run has to start somewhere",
            );
        }
    }

    fn initial(&mut self, i: &IncrementalSpec, at: &KeyPath) -> Option<Cursor> {
        match i.initial.as_ref()? {
            ScalarSpec::Int(n) => Some(Cursor::Int(*n)),
            ScalarSpec::Text(t) => self.noted(at.key("initial"), Cursor::parse(t)),
        }
    }

    /// `lookback`, of the kind of `initial`.
    fn lookback(&mut self, i: &IncrementalSpec, initial: Option<Cursor>, at: &KeyPath) -> Lookback {
        let key = at.key("lookback");
        let lookback = match &i.lookback {
            None => Lookback::None,
            Some(ScalarSpec::Int(n)) if *n >= 0 => Lookback::Int(*n),
            Some(ScalarSpec::Int(_)) => {
                self.error(key.clone(), "must not be negative");
                Lookback::None
            }
            Some(ScalarSpec::Text(t)) => self
                .noted(key.clone(), t.parse::<HumanDuration>())
                .map_or(Lookback::None, |d| Lookback::Time(d.0)),
        };
        match (initial, lookback) {
            (Some(Cursor::Int(_)), Lookback::Time(_)) => self.error_with_hint(
                key,
                "is a duration but `initial` is an integer",
                "write a number of cursor units",
            ),
            (Some(Cursor::Time(_)), Lookback::Int(_)) => self.error_with_hint(
                key,
                "is a number but `initial` is a date-time",
                "write a duration such as `1h`",
            ),
            _ => {}
        }
        lookback
    }
}

/// Values of sensitive headers and query parameters, kept out of every message.
fn sensitive_values(
    spec: &SourceSpec,
    http: &HttpSpec,
    params: &[(String, String)],
) -> Vec<Secret> {
    let headers = http
        .headers
        .iter()
        .chain(&spec.headers)
        .filter(|(n, _)| is_sensitive_header(n));
    let params = params
        .iter()
        .filter(|(n, _)| is_sensitive_param(n))
        .map(|(n, v)| (n, v));
    let mut secrets = Vec::new();
    for (_, value) in headers.chain(params) {
        secrets.push(Secret::new(value.clone()));
        // `Bearer xyz`: the token alone may be echoed back too.
        if let Some((_, last)) = value.trim().rsplit_once(' ') {
            secrets.push(Secret::new(last));
        }
    }
    secrets
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

/// Reads and checks the files `tls` names; an error names the field and says what is wrong.
fn load_tls(spec: &TlsSpec) -> Result<TlsMaterial, (&'static str, String)> {
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
    Ok(TlsMaterial { ca, identity })
}

fn parse_http_url(raw: &str) -> Result<Url, String> {
    let s = display_written_url(raw);
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
    fn params_take_numbers_and_booleans_as_text() {
        let s = spec(
            r#"{"endpoint": "/x", "params": {"per_page": 30, "ratio": 0.5, "draft": true,
                "q": "a b", "id": "{since}"}}"#,
        );
        let http: HttpSpec =
            serde_json::from_str(r#"{"base_url": "http://h", "params": {"v": 2}}"#).unwrap();
        let built = build("x", &s, &http).unwrap();
        let params: Vec<(&str, &str)> = built
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            params,
            [
                ("v", "2"),
                ("per_page", "30"),
                ("ratio", "0.5"),
                ("draft", "true"),
                ("q", "a b"),
                ("id", "{since}")
            ]
        );
        let err = serde_json::from_str::<SourceSpec>(r#"{"endpoint": "/x", "params": {"a": [1]}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected a string, a number or a boolean"),
            "{err}"
        );
        let err =
            serde_json::from_str::<SourceSpec>(r#"{"endpoint": "/x", "params": {"a": null}}"#)
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("expected a string, a number or a boolean"),
            "{err}"
        );
    }

    #[test]
    fn a_default_from_http_is_reported_at_its_own_key() {
        let http: HttpSpec = serde_json::from_str(
            r#"{"base_url": "http://h", "timeout": "0s", "concurrency": 0,
                "rate_limit": {"requests": 0}, "retry": {"max_attempts": 0}}"#,
        )
        .unwrap();
        let errors = build("x", &spec(r#"{"endpoint": "/x"}"#), &http).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "`http.rate_limit.requests`: must be at least 1",
                "`http.retry.max_attempts`: must be at least 1 (the first attempt)",
                "`http.timeout`: must be longer than zero",
                "`http.concurrency`: must be at least 1",
            ]
        );
        // The source's own value wins, and is the one reported.
        let own = spec(r#"{"endpoint": "/x", "rate_limit": {"requests": 0}}"#);
        let errors = build("x", &own, &http).unwrap_err();
        assert_eq!(
            errors[0].key,
            KeyPath::parse("sources.x.rate_limit.requests")
        );
    }

    #[test]
    fn hints_print_after_the_message() {
        let s = spec(
            r#"{"endpoint": "/x", "max_records": 0, "params": {"offset": "5"},
                "pagination": {"type": "offset"}}"#,
        );
        let errors = build("x", &s, &http("http://h")).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "`sources.x.params.offset`: `offset` is set by `pagination` on every page; \
                 remove it from `params`",
                "`sources.x.max_records`: must be at least 1; remove it for no bound",
            ]
        );
        assert_eq!(errors[1].hint.as_deref(), Some("remove it for no bound"));
    }
}
