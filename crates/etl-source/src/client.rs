//! One request, with the whole HTTP policy around it: host rate limit -> attempt (auth,
//! timeout) -> classify -> retry with backoff.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;

use url::Url;

use crate::auth::{Auth, TokenError};
use crate::config::{SourceConfig, TlsMaterial, display_url};
use crate::ratelimit::RateLimiters;
use crate::records::Records;
use crate::retry::{self, Failure, GaveUp, StatusClass, Transient};
use crate::spec::Method;
use crate::{Error, secret};

/// Counters one source accumulates over its requests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestCounts {
    /// Requests sent, retries included.
    pub requests: u64,
    /// Attempts that failed transiently and were tried again.
    pub retries: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// Time spent waiting for the rate limit, `Retry-After` and backoff.
    pub waited: Duration,
    /// Bytes of response bodies received.
    pub bytes: u64,
    /// Time spent parsing response bodies as JSON.
    pub parsing: Duration,
}

/// One request to send: where, with which values, with or without credentials.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) url: Url,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) body: Option<Value>,
    /// Whether the source's credentials go with it (see `SourceConfig::credentials_for`).
    pub(crate) credentials: bool,
}

/// A JSON response.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The body, its records taken out.
    pub(crate) body: Value,
    /// The records, or why none were found (see `records::take`).
    pub(crate) records: Result<Records, String>,
    pub(crate) headers: HeaderMap,
    /// The URL that answered, after redirects.
    pub(crate) url: Url,
}

/// Redirects followed for one request at most.
const MAX_REDIRECTS: usize = 10;

/// A shared HTTP client with one TLS setup; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    pub(crate) fn new(tls: Option<&TlsMaterial>) -> Result<Self, Error> {
        // rustls needs a process-wide crypto provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client_error = |e: reqwest::Error| Error::Client {
            message: e.without_url().to_string(),
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("etl/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            // Redirects are followed by `fetch`, which applies the origin rules to each hop.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(tls) = tls {
            if let Some(ca) = &tls.ca {
                for cert in reqwest::Certificate::from_pem_bundle(ca).map_err(client_error)? {
                    builder = builder.add_root_certificate(cert);
                }
            }
            if let Some(identity) = &tls.identity {
                builder =
                    builder.identity(reqwest::Identity::from_pem(identity).map_err(client_error)?);
            }
        }
        Ok(Self {
            inner: builder.build().map_err(client_error)?,
        })
    }

    /// Fetches one page: waits for the host's permit, sends, follows redirects, classifies,
    /// retries.
    pub(crate) async fn fetch(
        &self,
        source: &SourceConfig,
        limiters: &RateLimiters,
        target: &Target,
        counts: &mut RequestCounts,
    ) -> Result<Fetched, Error> {
        let secrets = source.secrets();
        let shown = secret::redact(
            &display_url(&target.url, &target.params),
            &secrets.iter().collect::<Vec<_>>(),
        );
        let method = method_name(source.method);
        let counts_cell = Mutex::new(*counts);
        let outcome = retry::run(
            &source.retry,
            source.max_wait,
            || self.attempt(source, limiters, target, &shown, &counts_cell),
            |transient, wait| {
                let mut c = lock(&counts_cell);
                c.retries += 1;
                c.waited += wait;
                crate::progress::wait(&source.name, wait, &format!("retry: {}", transient.reason));
                tracing::warn!(
                    source = %source.name,
                    url = %shown,
                    reason = %transient.reason,
                    wait_ms = wait.as_millis() as u64,
                    "Retrying."
                );
            },
        )
        .await;
        *counts = counts_cell
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        outcome.map_err(|failure| match failure {
            Failure::Permanent(e) => e,
            Failure::Exhausted {
                attempts,
                last,
                why,
            } => Error::RetriesExhausted {
                source_name: source.name.clone(),
                method,
                url: shown.clone(),
                attempts,
                last: last.reason,
                bound: match why {
                    GaveUp::Attempts => "retry.max_attempts".to_owned(),
                    GaveUp::Elapsed => format!(
                        "retry.max_elapsed: {}",
                        crate::HumanDuration(source.retry.max_elapsed)
                    ),
                },
            },
            Failure::WaitTooLong { wait } => Error::WaitTooLong {
                source_name: source.name.clone(),
                url: shown.clone(),
                wait_secs: wait.as_secs(),
                max_wait_secs: source.max_wait.as_secs(),
            },
        })
    }

    /// One attempt: the request and the redirects it leads to.
    async fn attempt(
        &self,
        source: &SourceConfig,
        limiters: &RateLimiters,
        target: &Target,
        shown: &str,
        counts: &Mutex<RequestCounts>,
    ) -> Result<Fetched, Result<Transient, Error>> {
        // Read the secrets when a message is made: an OAuth2 token fetched in this attempt
        // is among them by then.
        let redact = |text: &str| {
            let secrets = source.secrets();
            secret::redact(text, &secrets.iter().collect::<Vec<_>>())
        };
        let permanent = |message: String| -> Result<Transient, Error> {
            Err(Error::Request {
                source_name: source.name.clone(),
                method: method_name(source.method),
                url: shown.to_owned(),
                message,
            })
        };
        let transient = |reason: String| -> Result<Transient, Error> {
            Ok(Transient {
                reason,
                retry_after: None,
                rate_limited: false,
            })
        };

        let mut url = target.url.clone();
        let mut params: &[(String, String)] = &target.params;
        let mut method = source.method;
        let mut body = target.body.clone();
        let mut credentials = target.credentials;
        let mut refreshed = false;
        let mut hops = 0;
        loop {
            let limiter =
                limiters.for_origin(&url.origin().ascii_serialization(), source.rate_limit);
            let (waited, permit) = limiter.acquire().await;
            crate::progress::wait(&source.name, waited, "rate limit");
            {
                let mut c = lock(counts);
                c.waited += waited;
                c.requests += 1;
            }
            let mut send_to = url.clone();
            if let Some(name) = source.auth.as_ref().and_then(Auth::query_param) {
                // A next link may carry the key already: never send it twice (or at all,
                // without credentials).
                strip_param(&mut send_to, name);
            }
            if !credentials {
                // A link echoing a secret in its query (`access_token=...`) loses it.
                let secrets = source.secrets();
                let keep: Vec<(String, String)> = send_to
                    .query_pairs()
                    .filter(|(_, v)| !secrets.iter().any(|s| s.expose() == v.as_ref()))
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                if keep.len() != send_to.query_pairs().count() {
                    send_to.query_pairs_mut().clear().extend_pairs(keep);
                }
            }
            let mut request = match method {
                Method::Get => self.inner.get(send_to),
                Method::Post => self.inner.post(send_to),
            }
            .query(params)
            .timeout(source.timeout);
            if let Some(body) = &body {
                let bytes = serde_json::to_vec(body).unwrap_or_default();
                request = request
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(bytes);
            }
            let mut token = None;
            if credentials {
                request = request.headers(source.headers.clone());
                if let Some(auth) = &source.auth {
                    if let Auth::OAuth2(oauth) = auth {
                        token = Some(oauth.token(&self.inner, source.timeout).await.map_err(
                            |e| match e {
                                TokenError::Transient(m) => transient(redact(&m)),
                                TokenError::Permanent(m) => permanent(redact(&m)),
                            },
                        )?);
                    }
                    request = auth.apply(request, token.as_ref());
                }
            } else {
                // Headers without secrets still go (`Accept`, ...).
                let plain: HeaderMap = source
                    .headers
                    .iter()
                    .filter(|(n, _)| {
                        !crate::config::is_sensitive_param(n.as_str())
                            && *n != reqwest::header::COOKIE
                    })
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect();
                request = request.headers(plain);
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    let reason = redact(&describe_transport(&e, source.timeout));
                    return Err(if e.is_builder() {
                        permanent(reason)
                    } else {
                        transient(reason)
                    });
                }
            };
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let mut response = response;
            let now = SystemTime::now();
            if let Some(quota) = stated_quota(&headers, now) {
                // The host's quota, shared by every request to it: counted down locally, and
                // waited out when spent, instead of letting each request find out with a 429.
                if quota.reset <= source.max_wait {
                    limiter.observe(quota.remaining, quota.reset, quota.whole_seconds);
                }
            }
            drop(permit);
            if (300..400).contains(&status) && status != 304 {
                let Some(location) = header_str(&headers, "location") else {
                    return Err(permanent(format!(
                        "answered {status} without a `Location` to follow"
                    )));
                };
                hops += 1;
                if hops > MAX_REDIRECTS {
                    return Err(permanent(format!("more than {MAX_REDIRECTS} redirects")));
                }
                let next = match url.join(location) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => u,
                    _ => {
                        return Err(permanent(format!(
                            "answered {status} with an unusable `Location`"
                        )));
                    }
                };
                match source.credentials_for(&url, &next) {
                    Ok(allowed) => credentials = credentials && allowed,
                    Err(why) => return Err(permanent(format!("redirect refused: {why}"))),
                }
                // 303, and 301/302 after a POST, turn into a GET without a body (as browsers do).
                if status == 303 || (matches!(status, 301 | 302) && method == Method::Post) {
                    method = Method::Get;
                    body = None;
                }
                tracing::debug!(source = %source.name, status, to = %display_url(&next, &[]), credentials, "Following a redirect.");
                url = next;
                params = &[];
                continue;
            }
            let too_large = || {
                permanent(format!(
                    "answered {status} with a body over `max_response_size` ({}); raise it if the \
                     API really sends that much in one response, or ask for smaller pages",
                    crate::ByteSize(source.max_response_size)
                ))
            };
            if response
                .content_length()
                .is_some_and(|n| n > source.max_response_size)
            {
                return Err(too_large());
            }
            // Read piece by piece, so that an oversized body is refused without being held.
            let mut bytes = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(Some(piece)) => {
                        if (bytes.len() + piece.len()) as u64 > source.max_response_size {
                            return Err(too_large());
                        }
                        bytes.extend_from_slice(&piece);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        return Err(transient(redact(&format!(
                            "{} (body cut short)",
                            describe_transport(&e, source.timeout)
                        ))));
                    }
                }
            }
            lock(counts).bytes += bytes.len() as u64;
            if status == 401 && !refreshed {
                if let (Some(Auth::OAuth2(oauth)), Some(used)) = (&source.auth, &token) {
                    // The token was refused before its time: fetch a new one, once.
                    oauth.invalidate(used).await;
                    refreshed = true;
                    continue;
                }
            }
            return match retry::classify_status(status) {
                StatusClass::Success => {
                    let size = bytes.len();
                    match parse_timed(bytes, source.records.as_deref(), counts) {
                        Ok((body, records)) => Ok(Fetched {
                            body,
                            records,
                            headers,
                            url,
                        }),
                        Err(e) => Err(transient(format!(
                            "status {status} with invalid JSON ({e}) after {size} bytes"
                        ))),
                    }
                }
                StatusClass::Retry => {
                    let retry_after = header_str(&headers, "retry-after")
                        .and_then(|v| retry::retry_after(v, now))
                        .or_else(|| {
                            if status == 429 {
                                reset_after(&headers, now)
                            } else {
                                None
                            }
                        });
                    if status == 429 {
                        lock(counts).rate_limited += 1;
                    }
                    if let Some(wait) = retry_after {
                        if wait <= source.max_wait {
                            limiter.pause_for(wait);
                        }
                    }
                    Err(Ok(Transient {
                        reason: format!("status {status}"),
                        retry_after,
                        rate_limited: status == 429 && retry_after.is_some(),
                    }))
                }
                StatusClass::Fail => Err(Err(Error::Status {
                    source_name: source.name.clone(),
                    method: method_name(method),
                    url: if url == target.url {
                        shown.to_owned()
                    } else {
                        display_url(&url, &[])
                    },
                    status,
                    excerpt: excerpt(&redact(&String::from_utf8_lossy(&bytes))),
                    hint: hint(status),
                })),
            };
        }
    }
}

fn strip_param(url: &mut Url, name: &str) {
    if url.query_pairs().any(|(k, _)| k == name) {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != name)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
    }
}

/// A JSON body and its records (see `records::parse`), the time it took counted in `counts`.
fn parse_timed(
    bytes: Vec<u8>,
    records: Option<&[String]>,
    counts: &Mutex<RequestCounts>,
) -> Result<(Value, Result<Records, String>), serde_json::Error> {
    let started = std::time::Instant::now();
    let parsed = crate::records::parse(bytes, records);
    lock(counts).parsing += started.elapsed();
    parsed
}

fn lock(counts: &Mutex<RequestCounts>) -> MutexGuard<'_, RequestCounts> {
    counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn reset_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    header_str(headers, "ratelimit-reset")
        .or_else(|| header_str(headers, "x-ratelimit-reset"))
        .and_then(|v| retry::rate_limit_reset(v, now))
}

/// The quota a response states: `RateLimit-Remaining` / `X-RateLimit-Remaining` with
/// `RateLimit-Reset` / `X-RateLimit-Reset`, or the structured `RateLimit` header.
fn stated_quota(headers: &HeaderMap, now: SystemTime) -> Option<retry::Quota> {
    if let Some(q) = header_str(headers, "ratelimit").and_then(|v| retry::structured_quota(v, now))
    {
        return Some(q);
    }
    let remaining = header_str(headers, "ratelimit-remaining")
        .or_else(|| header_str(headers, "x-ratelimit-remaining"))?;
    let reset = header_str(headers, "ratelimit-reset")
        .or_else(|| header_str(headers, "x-ratelimit-reset"))?;
    Some(retry::Quota {
        remaining: remaining.trim().parse().ok()?,
        reset: retry::rate_limit_reset(reset, now)?,
        whole_seconds: !reset.contains('.'),
    })
}

fn describe_transport(e: &reqwest::Error, timeout: Duration) -> String {
    let mut text = if e.is_timeout() {
        format!(
            "no complete answer within the timeout of {}s",
            timeout.as_secs_f64()
        )
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "connection failed".to_owned()
    };
    // The chain of causes says what really happened; the URL is left out of every level.
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut seen = Vec::new();
    while let Some(c) = cause {
        let s = c.to_string();
        if !seen.contains(&s) {
            seen.push(s);
        }
        cause = c.source();
    }
    if !seen.is_empty() {
        text.push_str(": ");
        text.push_str(&seen.join(": "));
    }
    text
}

/// `: <the start of the body>`, on one line; masked by the caller before it is cut.
fn excerpt(text: &str) -> String {
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return String::new();
    }
    let cut: String = text.chars().take(200).collect();
    let more = if cut.len() < text.len() { "..." } else { "" };
    format!(": {cut}{more}")
}

fn hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "check the credentials in `auth` and the environment variables they name",
        404 | 410 => "check `endpoint` and `base_url`",
        400 | 422 => "check `params`, `body` and `pagination`",
        300..=399 => "the server redirects; point `endpoint` at the final address",
        _ => "retrying cannot fix this status; check the request",
    }
}
