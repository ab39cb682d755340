//! Runtime configuration of a source, as `build` makes it from its spec (see `build.rs`), and
//! the rules it applies while running: where credentials may go, the URL of each series.

use std::time::Duration;

use std::fmt;

use reqwest::header::{HeaderMap, HeaderName};
use serde_json::Value;
use url::Url;

use crate::auth::Auth;
use crate::incremental::Window;
use crate::redact::{display_url, shown_param};
use crate::spec::{ForEachSpec, Method, PaginationSpec, RateLimitSpec};

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
    pub for_each: Option<ForEachSpec>,
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
    /// Staging keeps only the columns of these names (compared without case), when set: the
    /// columns the pipeline reads (set by the runner; `None`, every column, as built).
    pub stage_columns: Option<std::collections::BTreeSet<String>>,
    /// In a sharded run, for a `for_each` source whose parents are split between shards:
    /// this shard's share (set by the runner; `None`: every parent).
    pub shard: Option<Shard>,
}

/// One of the processes of a sharded run (`--shard K/N`): which parents of a `for_each` it
/// fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// `K`, from 0.
    pub index: u32,
    /// `N`, at least 1.
    pub count: u32,
}

impl Shard {
    /// Whether the parent whose key reads `key` is this shard's: by a stable hash of the key
    /// (FNV-1a, 64 bits), the same on every machine, in every process and every version.
    #[must_use]
    pub fn owns(&self, key: &str) -> bool {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in key.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash % u64::from(self.count.max(1)) == u64::from(self.index)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
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
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default largest response body: 64 MiB.
pub(crate) const DEFAULT_MAX_RESPONSE_SIZE: u64 = 64 << 20;
/// Default longest wait a server may impose.
pub(crate) const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(15 * 60);

/// PEM material read from the files `tls` names, checked at build time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsMaterial {
    /// CA certificates trusted in addition to the system's.
    pub ca: Option<Vec<u8>>,
    /// Client certificate chain and private key, concatenated.
    pub identity: Option<Vec<u8>>,
}

/// Why a next link or a redirect may not be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkRefused {
    /// From https (or an https source) down to plain http.
    Downgrade { to: String },
    /// Another origin, not in `allowed_hosts`.
    Foreign {
        to: String,
        origin: String,
        host: String,
    },
}

impl fmt::Display for LinkRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Downgrade { to } => write!(
                f,
                "`{to}` leaves https for plain http; credentials are never sent that way: set \
                 `follow_foreign_links: true` to follow it without them"
            ),
            Self::Foreign { to, origin, host } => write!(
                f,
                "`{to}` is on another origin than `{origin}`; credentials stay with it: add \
                 `{host}` to `allowed_hosts` to trust that host, or set \
                 `follow_foreign_links: true` to follow without credentials"
            ),
        }
    }
}

impl SourceConfig {
    /// Whether a request to `url` (a next link or a redirect) gets this source's
    /// credentials: yes on the source's own origin and on `allowed_hosts`, never from https
    /// down to http; other origins are followed without credentials only under
    /// `follow_foreign_links`, and refused otherwise (the error says what to do).
    pub(crate) fn credentials_for(&self, from: &Url, to: &Url) -> Result<bool, LinkRefused> {
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
        let to = display_url(to, &[]);
        Err(if downgrade {
            LinkRefused::Downgrade { to }
        } else {
            LinkRefused::Foreign {
                to,
                origin: self.url.origin().ascii_serialization(),
                host: with_port.unwrap_or(host),
            }
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

    /// Values that must never appear in a message.
    pub(crate) fn secrets(&self) -> Vec<crate::Secret> {
        let mut all = self.auth.as_ref().map(Auth::secrets).unwrap_or_default();
        all.extend(self.header_secrets.iter().cloned());
        all
    }

    /// [`redact`](crate::redact::redact) with this source's secrets, read now (an OAuth2
    /// token fetched meanwhile is among them).
    pub(crate) fn redact(&self, text: &str) -> String {
        let secrets = self.secrets();
        crate::redact::redact(text, secrets.iter().map(crate::Secret::expose))
    }

    /// The first request this source would send, as a person reads it, secrets masked; no
    /// network. With `for_each`, the endpoint keeps its `{key}` placeholder.
    pub fn first_request(&self, window: &Window) -> String {
        use std::fmt::Write as _;
        let first = crate::pagination::paginator(&self.pagination).first();
        let since = self.incremental.as_ref().and_then(|inc| {
            window
                .since_for(None, inc)
                .ok()
                .flatten()
                .map(|c| c.format(inc.format.as_deref()))
        });
        let fill = |v: &str| match &since {
            Some(s) => v.replace(SINCE, s),
            None => v.to_owned(),
        };
        let mut params: Vec<(String, String)> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), fill(v)))
            .collect();
        if let (Some(p), Some(s)) = (
            self.incremental.as_ref().and_then(|i| i.param.as_ref()),
            &since,
        ) {
            params.push((p.clone(), s.clone()));
        }
        params.extend(first.params.iter().cloned());
        let url = match (&self.endpoint_template, &self.for_each) {
            (Some(t), Some(_)) => {
                let mut shown = fill(t);
                if !params.is_empty() {
                    let query: Vec<String> =
                        params.iter().map(|(k, v)| shown_param(k, v)).collect();
                    shown.push(if shown.contains('?') { '&' } else { '?' });
                    shown.push_str(&query.join("&"));
                }
                shown
            }
            _ => display_url(&self.url, &params),
        };
        let mut out = format!("{} {url}", self.method.as_str());
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
    #[test]
    fn every_parent_belongs_to_exactly_one_shard_and_always_the_same() {
        use super::Shard;
        let shards: Vec<Shard> = (0..4).map(|index| Shard { index, count: 4 }).collect();
        let mut per_shard = [0u32; 4];
        for key in 0..2000 {
            let key = key.to_string();
            let owners: Vec<u32> = shards
                .iter()
                .filter(|s| s.owns(&key))
                .map(|s| s.index)
                .collect();
            assert_eq!(owners.len(), 1, "key {key}: {owners:?}");
            per_shard[owners[0] as usize] += 1;
        }
        // Spread evenly enough (each shard within 20% of a quarter).
        assert!(
            per_shard.iter().all(|n| (400..=600).contains(n)),
            "{per_shard:?}"
        );
        // The hash is fixed: FNV-1a of "1" is 0xaf63ac4c86019afc, 0 modulo 4.
        assert!(Shard { index: 0, count: 4 }.owns("1"));
        assert!(Shard { index: 0, count: 1 }.owns("anything"));
    }

    use super::*;
    use crate::spec::{HttpSpec, SourceSpec};

    #[test]
    fn credentials_stay_on_their_origin_and_never_go_over_http() {
        let spec: SourceSpec = serde_json::from_str(
            r#"{"endpoint": "/x", "allowed_hosts": ["cdn.example:443", "other.example"]}"#,
        )
        .unwrap();
        let http = HttpSpec {
            base_url: Some("https://api.example".into()),
            ..HttpSpec::default()
        };
        let mut s = crate::build("x", &spec, &http).unwrap();
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
                .to_string()
                .contains("`allowed_hosts`")
        );
        assert!(
            s.credentials_for(&from, &at("http://api.example/x"))
                .unwrap_err()
                .to_string()
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
}
