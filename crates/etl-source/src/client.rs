//! One request, with the whole HTTP policy around it: host rate limit -> attempt (auth,
//! timeout) -> classify -> retry with backoff.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;

use crate::config::{SourceConfig, display_url};
use crate::ratelimit::HostLimiter;
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
}

/// A JSON response body.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) body: Value,
}

/// A shared HTTP client with a TLS setup; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    pub(crate) fn new() -> Result<Self, Error> {
        // rustls needs a process-wide crypto provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let inner = reqwest::Client::builder()
            .user_agent(concat!("etl/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // Credentials are bound to the configured origin: follow a redirect only
                // within it.
                let same = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.origin() == attempt.url().origin());
                if attempt.previous().len() > 10 {
                    attempt.error("more than 10 redirects")
                } else if same {
                    attempt.follow()
                } else {
                    attempt.error("redirect to another origin refused: credentials stay with the configured base URL")
                }
            }))
            .build()
            .map_err(|e| Error::Client { message: e.without_url().to_string() })?;
        Ok(Self { inner })
    }

    /// Fetches one page: waits for the host's permit, sends, classifies, retries.
    pub(crate) async fn fetch(
        &self,
        source: &SourceConfig,
        limiter: &Arc<HostLimiter>,
        page_params: &[(String, String)],
        counts: &mut RequestCounts,
    ) -> Result<Fetched, Error> {
        let mut all_params = source.params.clone();
        all_params.extend(page_params.iter().cloned());
        let shown = display_url(&source.url, &all_params);
        let method = match source.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let counts_cell = Mutex::new(*counts);
        let outcome = retry::run(
            &source.retry,
            source.max_wait,
            || self.attempt(source, limiter, &all_params, &shown, &counts_cell),
            |transient, wait| {
                let mut c = lock(&counts_cell);
                c.retries += 1;
                c.waited += wait;
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

    async fn attempt(
        &self,
        source: &SourceConfig,
        limiter: &Arc<HostLimiter>,
        params: &[(String, String)],
        shown: &str,
        counts: &Mutex<RequestCounts>,
    ) -> Result<Fetched, Result<Transient, Error>> {
        let waited = limiter.acquire().await;
        {
            let mut c = lock(counts);
            c.waited += waited;
            c.requests += 1;
        }
        let secrets = source.secrets();
        let method_name = match source.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let mut request = match source.method {
            Method::Get => self.inner.get(source.url.clone()),
            Method::Post => self.inner.post(source.url.clone()),
        }
        .query(params)
        .headers(source.headers.clone())
        .timeout(source.timeout);
        if let Some(body) = &source.body {
            let bytes = serde_json::to_vec(body).unwrap_or_default();
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(bytes);
        }
        if let Some(auth) = &source.auth {
            request = auth.apply(request);
        }
        let transient = |reason: String| {
            Err(Ok(Transient {
                reason,
                retry_after: None,
                rate_limited: false,
            }))
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let reason = describe_transport(&e, source.timeout);
                if e.is_builder() || e.is_redirect() {
                    return Err(Err(Error::Request {
                        source_name: source.name.clone(),
                        method: method_name,
                        url: shown.to_owned(),
                        message: secret::redact(&reason, &secrets),
                    }));
                }
                return transient(secret::redact(&reason, &secrets));
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let now = SystemTime::now();
        if let Some(reset) = exhausted_quota(&headers, now) {
            // The quota is spent: hold every request to this host until it resets instead
            // of letting each find out with a 429.
            if reset <= source.max_wait {
                limiter.pause_for(reset);
            }
        }
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return transient(format!(
                    "{} (body cut short)",
                    describe_transport(&e, source.timeout)
                ));
            }
        };
        lock(counts).bytes += body.len() as u64;
        match retry::classify_status(status) {
            StatusClass::Success => match serde_json::from_slice(&body) {
                Ok(body) => Ok(Fetched { body }),
                Err(e) => transient(format!(
                    "status {status} with invalid JSON ({e}) after {} bytes",
                    body.len()
                )),
            },
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
                method: method_name,
                url: shown.to_owned(),
                status,
                excerpt: excerpt(&body, &secrets),
                hint: hint(status),
            })),
        }
    }
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

/// When `X-RateLimit-Remaining` / `RateLimit-Remaining` says 0: the time until the reset.
fn exhausted_quota(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let remaining = header_str(headers, "ratelimit-remaining")
        .or_else(|| header_str(headers, "x-ratelimit-remaining"))?;
    if remaining.trim().parse::<u64>().ok()? > 0 {
        return None;
    }
    reset_after(headers, now)
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

fn excerpt(body: &[u8], secrets: &[&crate::Secret]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return String::new();
    }
    let cut: String = text.chars().take(200).collect();
    let more = if cut.len() < text.len() { "..." } else { "" };
    format!(": {}{more}", secret::redact(&cut, secrets))
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
