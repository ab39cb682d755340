use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use crate::http::Request;

/// What the mock has seen, as served at `GET /__stats`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Requests received (the test routes under `/__`, `/__stats` itself included, excluded).
    pub requests: u64,
    /// Responses by status code; dropped connections are not responses and are not here.
    pub by_status: BTreeMap<u16, u64>,
    /// Faults served, by kind: `status_500`, `status_503`, `dropped`, `truncated`,
    /// `invalid_json`.
    pub faults: BTreeMap<String, u64>,
    /// Records served in successful list and item responses.
    pub items_served: u64,
    /// Requests by path (query excluded).
    pub by_path: BTreeMap<String, u64>,
    /// Requests that carried a credential: an `Authorization` or `X-API-Key` header, or an
    /// `api_key` / `access_token` query parameter.
    pub with_credentials: u64,
    /// Requests that came through a proxy (absolute-form request target).
    pub proxied: u64,
    /// OAuth2 tokens issued by `POST /oauth/token`.
    pub tokens_issued: u64,
    /// TLS handshakes that failed (an untrusted or missing client certificate, say).
    pub tls_failures: u64,
    /// The target (path and query, percent-decoded) of each request, in arrival order: the
    /// last 10,000 at most. The values of `api_key`, `access_token` and `token` are
    /// masked as `***`.
    pub targets: Vec<String>,
}

/// How many request targets [`Stats::targets`] keeps.
const MAX_TARGETS: usize = 10_000;

/// Query parameters whose values never reach [`Stats::targets`].
const SECRET_PARAMS: [&str; 3] = ["api_key", "access_token", "token"];

impl Stats {
    /// Responses with this status.
    pub fn status(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Faults of this kind (`status_500`, `status_503`, `dropped`, `truncated`).
    pub fn fault(&self, kind: &str) -> u64 {
        self.faults.get(kind).copied().unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    counter: AtomicU64,
    stats: Mutex<Stats>,
    targets: Mutex<VecDeque<String>>,
}

impl Recorder {
    /// Counts a request and returns its number (from 0), the input of the fault generator.
    pub(crate) fn request(&self, request: &Request) -> u64 {
        let mut stats = self.lock();
        stats.requests += 1;
        *stats.by_path.entry(request.path.clone()).or_default() += 1;
        let credentials = request.header("authorization").is_some()
            || request.header("x-api-key").is_some()
            || request.query("api_key").is_some()
            || request.query("access_token").is_some();
        stats.with_credentials += u64::from(credentials);
        stats.proxied += u64::from(request.proxied);
        drop(stats);
        let mut targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        if targets.len() == MAX_TARGETS {
            targets.pop_front();
        }
        targets.push_back(target(request));
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn response(&self, status: u16, items: usize) {
        let mut s = self.lock();
        *s.by_status.entry(status).or_default() += 1;
        s.items_served += items as u64;
    }

    pub(crate) fn tls_failure(&self) {
        self.lock().tls_failures += 1;
    }

    pub(crate) fn fault(&self, kind: &str) {
        *self.lock().faults.entry(kind.to_owned()).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let mut stats = self.lock().clone();
        let targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        stats.targets = targets.iter().cloned().collect();
        stats
    }

    fn lock(&self) -> MutexGuard<'_, Stats> {
        // A panic while holding the lock cannot leave the counters inconsistent: keep going.
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `/path?name=value&...`, decoded, secrets masked.
fn target(request: &Request) -> String {
    let mut target = request.path.clone();
    for (i, (name, value)) in request.query.iter().enumerate() {
        target.push(if i == 0 { '?' } else { '&' });
        target.push_str(name);
        target.push('=');
        let secret = SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s));
        target.push_str(if secret { "***" } else { value });
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_the_query_mask_secrets_and_the_last_ten_thousand() {
        let recorder = Recorder::default();
        let request = crate::routes::tests::request;
        recorder.request(&request(
            "/orders?updated_since=2026-11-25T10%3A00%3A00Z&token=s3",
        ));
        recorder.request(&request("/users?api_key=k&_limit=2"));
        assert_eq!(
            recorder.snapshot().targets,
            vec![
                "/orders?updated_since=2026-11-25T10:00:00Z&token=***",
                "/users?api_key=***&_limit=2",
            ]
        );
        for _ in 0..MAX_TARGETS - 1 {
            recorder.request(&request("/posts"));
        }
        let targets = recorder.snapshot().targets;
        assert_eq!(targets.len(), MAX_TARGETS);
        assert_eq!(targets[0], "/users?api_key=***&_limit=2");
    }
}
