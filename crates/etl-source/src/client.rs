//! One request, with the whole HTTP policy around it: host rate limit -> attempt (auth,
//! timeout) -> classify -> retry with backoff.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use reqwest::RequestBuilder;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;
use url::Url;

use crate::Error;
use crate::auth::{Auth, OAuth2, TokenError};
use crate::config::{SourceConfig, TlsMaterial};
use crate::progress::{Progress, WaitReason};
use crate::ratelimit::{HostLimiter, RateLimiters};
use crate::records::Records;
use crate::redact::{display_url, is_sensitive_header};
use crate::retry::{self, Failure, GaveUp, StatusClass, Transient};
use crate::secret::Secret;
use crate::spec::Method;

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

impl RequestCounts {
    /// Adds `other`'s counts to these.
    pub(crate) fn add(&mut self, other: &RequestCounts) {
        self.requests += other.requests;
        self.retries += other.retries;
        self.rate_limited += other.rate_limited;
        self.waited += other.waited;
        self.bytes += other.bytes;
        self.parsing += other.parsing;
    }
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
            // Redirects are followed by `Attempt`, which applies the origin rules to each hop.
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
}

/// What the requests of one source share: the client, the host rate limiters of the run, and
/// where progress goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fetcher<'a> {
    pub(crate) client: &'a HttpClient,
    pub(crate) source: &'a SourceConfig,
    pub(crate) limiters: &'a RateLimiters,
    pub(crate) progress: Progress<'a>,
}

impl Fetcher<'_> {
    /// Fetches one page: waits for the host's permit, sends, follows redirects, classifies,
    /// retries.
    pub(crate) async fn fetch(
        &self,
        target: &Target,
        counts: &mut RequestCounts,
    ) -> Result<Fetched, Error> {
        let cell = Mutex::new(*counts);
        let outcome = self.fetch_counted(target, &cell).await;
        *counts = cell
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        outcome
    }

    /// [`Fetcher::fetch`], counting into `counts` as it goes: a request is counted when it
    /// is sent, so a fetch dropped on the way (a page fetched ahead that paging did not
    /// reach) leaves the requests it sent counted.
    pub(crate) async fn fetch_counted(
        &self,
        target: &Target,
        counts: &Mutex<RequestCounts>,
    ) -> Result<Fetched, Error> {
        let source = self.source;
        let shown = source.redact(&display_url(&target.url, &target.params));
        let counts_cell = counts;
        let attempt = Attempt {
            fetcher: self,
            target,
            shown: &shown,
            counts: counts_cell,
        };
        let outcome = retry::run(
            &source.retry,
            source.max_wait,
            || attempt.run(),
            |transient, wait| {
                let mut c = lock(counts_cell);
                c.retries += 1;
                c.waited += wait;
                let failure = transient.reason.clone();
                self.progress.wait(wait, WaitReason::Retry { failure });
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
        outcome.map_err(|failure| self.gave_up(failure, shown))
    }

    /// The error of a request that did not succeed.
    fn gave_up(&self, failure: Failure<Error>, shown: String) -> Error {
        let source = self.source;
        match failure {
            Failure::Permanent(e) => e,
            Failure::Exhausted {
                attempts,
                last,
                why,
            } => Error::RetriesExhausted {
                source_name: source.name.clone(),
                method: source.method.as_str(),
                url: shown,
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
                url: shown,
                wait_secs: wait.as_secs(),
                max_wait_secs: source.max_wait.as_secs(),
            },
        }
    }
}

/// How an attempt fails: `Ok`, transiently (it is retried); `Err`, for good.
type Failed = Result<Transient, Error>;

/// A transient failure without a time to come back.
fn transient(reason: String) -> Transient {
    Transient {
        reason,
        retry_after: None,
        rate_limited: false,
    }
}

/// One attempt: the request and the redirects it leads to.
struct Attempt<'a> {
    fetcher: &'a Fetcher<'a>,
    target: &'a Target,
    /// The target's URL as messages show it.
    shown: &'a str,
    counts: &'a Mutex<RequestCounts>,
}

/// Where one hop of an attempt goes: the target, then each redirect.
struct Hop<'t> {
    url: Url,
    params: &'t [(String, String)],
    method: Method,
    body: Option<Value>,
    credentials: bool,
}

/// A response whose headers have arrived.
struct Answer {
    response: reqwest::Response,
    status: u16,
    headers: HeaderMap,
    /// The limiter of the host that answered.
    limiter: Arc<HostLimiter>,
    /// The OAuth2 token sent, if any.
    token: Option<Secret>,
    /// When the headers arrived.
    at: SystemTime,
}

impl Attempt<'_> {
    async fn run(&self) -> Result<Fetched, Failed> {
        let target = self.target;
        let mut hop = Hop {
            url: target.url.clone(),
            params: &target.params,
            method: self.fetcher.source.method,
            body: target.body.clone(),
            credentials: target.credentials,
        };
        let mut refreshed = false;
        let mut redirects = 0;
        loop {
            let answer = self.send(&hop).await?;
            let status = answer.status;
            if (300..400).contains(&status) && status != 304 {
                redirects += 1;
                hop = self.redirect(hop, status, &answer.headers, redirects)?;
                continue;
            }
            let Answer {
                response,
                headers,
                limiter,
                token,
                at,
                ..
            } = answer;
            let bytes = self.read_body(response, status).await?;
            lock(self.counts).bytes += bytes.len() as u64;
            if status == 401 && !refreshed && self.refuse_token(token.as_ref()).await {
                refreshed = true;
                continue;
            }
            return self.outcome(status, headers, bytes, hop, &limiter, at);
        }
    }

    /// A failure retrying cannot fix, about the target.
    fn permanent(&self, message: String) -> Failed {
        let source = self.fetcher.source;
        Err(Error::Request {
            source_name: source.name.clone(),
            method: source.method.as_str(),
            url: self.shown.to_owned(),
            message,
        })
    }

    /// Waits for the host's permit and sends one hop; the permit is held until the headers
    /// arrive, and a quota they state is noted.
    async fn send(&self, hop: &Hop<'_>) -> Result<Answer, Failed> {
        let source = self.fetcher.source;
        let limiter = self
            .fetcher
            .limiters
            .for_origin(&hop.url.origin().ascii_serialization(), source.rate_limit);
        let (waited, permit) = limiter.acquire().await;
        self.fetcher.progress.wait(waited, WaitReason::RateLimit);
        {
            let mut c = lock(self.counts);
            c.waited += waited;
            c.requests += 1;
        }
        let (request, token) = self.request(hop).await?;
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let reason = source.redact(&describe_transport(&e, source.timeout));
                return Err(if e.is_builder() {
                    self.permanent(reason)
                } else {
                    Ok(transient(reason))
                });
            }
        };
        let headers = response.headers().clone();
        let at = SystemTime::now();
        if let Some(quota) = stated_quota(&headers, at) {
            // The host's quota, shared by every request to it: counted down locally, and
            // waited out when spent, instead of letting each request find out with a 429.
            if quota.reset <= source.max_wait {
                limiter.observe(quota.remaining, quota.reset, quota.whole_seconds);
            }
        }
        drop(permit);
        Ok(Answer {
            status: response.status().as_u16(),
            response,
            headers,
            limiter,
            token,
            at,
        })
    }

    /// The request of one hop, with the credentials when it may have them (an OAuth2 token is
    /// fetched first; it is returned, to be refused on a 401).
    async fn request(&self, hop: &Hop<'_>) -> Result<(RequestBuilder, Option<Secret>), Failed> {
        let source = self.fetcher.source;
        let mut send_to = hop.url.clone();
        if let Some(name) = source.auth.as_ref().and_then(Auth::query_param) {
            // A next link may carry the key already: never send it twice (or at all,
            // without credentials).
            strip_param(&mut send_to, name);
        }
        if !hop.credentials {
            // A link echoing a secret in its query (`access_token=...`) loses it.
            strip_secret_values(&mut send_to, &source.secrets());
        }
        let client = &self.fetcher.client.inner;
        let mut request = match hop.method {
            Method::Get => client.get(send_to),
            Method::Post => client.post(send_to),
        }
        .query(hop.params)
        .timeout(source.timeout);
        if let Some(body) = &hop.body {
            let bytes = serde_json::to_vec(body).unwrap_or_default();
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(bytes);
        }
        if !hop.credentials {
            // Headers without secrets still go (`Accept`, ...).
            let plain: HeaderMap = source
                .headers
                .iter()
                .filter(|(n, _)| !is_sensitive_header(n.as_str()))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            return Ok((request.headers(plain), None));
        }
        request = request.headers(source.headers.clone());
        let Some(auth) = &source.auth else {
            return Ok((request, None));
        };
        let token = match auth {
            Auth::OAuth2(oauth) => Some(self.token(oauth).await?),
            _ => None,
        };
        Ok((auth.apply(request, token.as_ref()), token))
    }

    /// A valid OAuth2 token, cached or fetched now.
    async fn token(&self, oauth: &OAuth2) -> Result<Secret, Failed> {
        let source = self.fetcher.source;
        oauth
            .token(&self.fetcher.client.inner, source.timeout)
            .await
            .map_err(|e| match e {
                TokenError::Transient(m) => Ok(transient(source.redact(&m))),
                TokenError::Permanent(m) => self.permanent(source.redact(&m)),
            })
    }

    /// After a 401: drops the OAuth2 token `used` (refused before its time) so that the next
    /// hop fetches a new one. Whether there was one to drop.
    async fn refuse_token(&self, used: Option<&Secret>) -> bool {
        match (&self.fetcher.source.auth, used) {
            (Some(Auth::OAuth2(oauth)), Some(used)) => {
                oauth.invalidate(used).await;
                true
            }
            _ => false,
        }
    }

    /// The hop the redirect `status` leads to, under the origin rules; the `redirects`th of
    /// this attempt.
    fn redirect<'t>(
        &self,
        hop: Hop<'t>,
        status: u16,
        headers: &HeaderMap,
        redirects: usize,
    ) -> Result<Hop<'t>, Failed> {
        let source = self.fetcher.source;
        let Some(location) = header_str(headers, "location") else {
            return Err(self.permanent(format!("answered {status} without a `Location` to follow")));
        };
        if redirects > MAX_REDIRECTS {
            return Err(self.permanent(format!("more than {MAX_REDIRECTS} redirects")));
        }
        let next = match hop.url.join(location) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => {
                return Err(
                    self.permanent(format!("answered {status} with an unusable `Location`"))
                );
            }
        };
        let allowed = source
            .credentials_for(&hop.url, &next)
            .map_err(|why| self.permanent(format!("redirect refused: {why}")))?;
        let credentials = hop.credentials && allowed;
        // 303, and 301/302 after a POST, turn into a GET without a body (as browsers do).
        let (method, body) =
            if status == 303 || (matches!(status, 301 | 302) && hop.method == Method::Post) {
                (Method::Get, None)
            } else {
                (hop.method, hop.body)
            };
        tracing::debug!(source = %source.name, status, to = %display_url(&next, &[]), credentials, "Following a redirect.");
        Ok(Hop {
            url: next,
            params: &[],
            method,
            body,
            credentials,
        })
    }

    /// The body, read piece by piece so that an oversized one is refused without being held.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        status: u16,
    ) -> Result<Vec<u8>, Failed> {
        let source = self.fetcher.source;
        let too_large = || {
            self.permanent(format!(
                "answered {status} with a body over `max_response_size` ({}); raise it if the \
                 API really sends that much in one response, or ask for smaller pages",
                crate::ByteSize(source.max_response_size)
            ))
        };
        let stated = response.content_length();
        if stated.is_some_and(|n| n > source.max_response_size) {
            return Err(too_large());
        }
        // Room for the whole body at once when its length is stated (and not past the
        // limit): no copy each time the buffer would have grown.
        let mut bytes = Vec::with_capacity(stated.map_or(0, |n| usize::try_from(n).unwrap_or(0)));
        loop {
            match response.chunk().await {
                Ok(Some(piece)) => {
                    if (bytes.len() + piece.len()) as u64 > source.max_response_size {
                        return Err(too_large());
                    }
                    bytes.extend_from_slice(&piece);
                }
                Ok(None) => return Ok(bytes),
                Err(e) => {
                    return Err(Ok(transient(source.redact(&format!(
                        "{} (body cut short)",
                        describe_transport(&e, source.timeout)
                    )))));
                }
            }
        }
    }

    /// What the final answer of the attempt means: the records, a transient failure (the
    /// host paused when the server says when to come back), or a permanent one.
    fn outcome(
        &self,
        status: u16,
        headers: HeaderMap,
        bytes: Vec<u8>,
        hop: Hop<'_>,
        limiter: &HostLimiter,
        at: SystemTime,
    ) -> Result<Fetched, Failed> {
        let source = self.fetcher.source;
        match retry::classify_status(status) {
            StatusClass::Success => {
                let size = bytes.len();
                match parse_timed(bytes, source.records.as_deref(), self.counts) {
                    Ok((body, records)) => Ok(Fetched {
                        body,
                        records,
                        headers,
                        url: hop.url,
                    }),
                    Err(e) => Err(Ok(transient(format!(
                        "status {status} with invalid JSON ({e}) after {size} bytes"
                    )))),
                }
            }
            StatusClass::Retry => Err(Ok(self.retry_later(status, &headers, limiter, at))),
            StatusClass::Fail => Err(Err(Error::Status {
                source_name: source.name.clone(),
                method: hop.method.as_str(),
                url: if hop.url == self.target.url {
                    self.shown.to_owned()
                } else {
                    display_url(&hop.url, &[])
                },
                status,
                excerpt: excerpt(&source.redact(&String::from_utf8_lossy(&bytes))),
                hint: hint(status),
            })),
        }
    }

    /// A status worth retrying: when the server says to come back (`Retry-After`, or a 429's
    /// rate-limit reset), the whole host pauses until then.
    fn retry_later(
        &self,
        status: u16,
        headers: &HeaderMap,
        limiter: &HostLimiter,
        at: SystemTime,
    ) -> Transient {
        let retry_after = header_str(headers, "retry-after")
            .and_then(|v| retry::retry_after(v, at))
            .or_else(|| {
                if status == 429 {
                    reset_after(headers, at)
                } else {
                    None
                }
            });
        if status == 429 {
            lock(self.counts).rate_limited += 1;
        }
        if let Some(wait) = retry_after {
            if wait <= self.fetcher.source.max_wait {
                limiter.pause_for(wait);
            }
        }
        Transient {
            reason: format!("status {status}"),
            retry_after,
            rate_limited: status == 429 && retry_after.is_some(),
        }
    }
}

/// Removes from `url`'s query every value that is one of `secrets`.
fn strip_secret_values(url: &mut Url, secrets: &[Secret]) {
    let keep: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(_, v)| !secrets.iter().any(|s| s.expose() == v.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if keep.len() != url.query_pairs().count() {
        url.query_pairs_mut().clear().extend_pairs(keep);
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
