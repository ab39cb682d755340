use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::http::Request;

/// What the mock has seen, as served at `GET /__stats`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Requests received (the `/__stats` requests themselves excluded).
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
}

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
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stats> {
        // A panic while holding the lock cannot leave the counters inconsistent: keep going.
        self.stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
