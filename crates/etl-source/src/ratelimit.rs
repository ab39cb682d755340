//! One request budget per host, shared by every source and every in-flight request to it.
//!
//! The budget is a GCRA (generic cell rate algorithm): one request every `per / requests`,
//! with up to `burst` at once after an idle spell. Independently of any budget, the server
//! can pause the whole host (`Retry-After`, an exhausted `X-RateLimit-Remaining`): every
//! request to it then waits for the pause to end, instead of each finding out with a 429.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::spec::RateLimitSpec;

/// The limiters of every host of a run.
#[derive(Debug, Default, Clone)]
pub(crate) struct RateLimiters {
    hosts: Arc<Mutex<HashMap<String, Arc<HostLimiter>>>>,
}

impl RateLimiters {
    /// The limiter of `origin`, created on first use. When sources of one host set different
    /// budgets, the strictest applies to all of them.
    pub(crate) fn for_origin(
        &self,
        origin: &str,
        budget: Option<RateLimitSpec>,
    ) -> Arc<HostLimiter> {
        let mut hosts = self
            .hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let limiter = hosts
            .entry(origin.to_owned())
            .or_insert_with(|| Arc::new(HostLimiter::new(None)));
        if let Some(b) = budget {
            limiter.tighten(Gcra::from_spec(b));
        }
        Arc::clone(limiter)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Gcra {
    /// Time between two requests at the sustained rate.
    interval: Duration,
    /// How far ahead of the schedule a request may go (bursts).
    tolerance: Duration,
}

impl Gcra {
    fn from_spec(spec: RateLimitSpec) -> Self {
        let interval = spec.per.0 / spec.requests.max(1);
        let burst = spec.burst.unwrap_or(1).max(1);
        Self {
            interval,
            tolerance: interval * (burst - 1),
        }
    }
}

enum Step {
    Go,
    Paused(Instant),
    Reserved(Instant),
}

#[derive(Debug)]
struct State {
    gcra: Option<Gcra>,
    /// Theoretical arrival time of the next request.
    tat: Instant,
    paused_until: Option<Instant>,
}

/// The budget and pauses of one host.
#[derive(Debug)]
pub(crate) struct HostLimiter {
    state: Mutex<State>,
}

impl HostLimiter {
    fn new(gcra: Option<Gcra>) -> Self {
        Self {
            state: Mutex::new(State {
                gcra,
                tat: Instant::now(),
                paused_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tighten(&self, gcra: Gcra) {
        let mut s = self.lock();
        match s.gcra {
            Some(g) if g.interval >= gcra.interval => {}
            _ => s.gcra = Some(gcra),
        }
    }

    /// Waits for permission to send one request; returns how long it waited.
    pub(crate) async fn acquire(&self) -> Duration {
        let started = Instant::now();
        loop {
            match self.step() {
                Step::Go => return started.elapsed(),
                Step::Paused(until) => tokio::time::sleep_until(until).await,
                Step::Reserved(at) => {
                    // The slot is ours: sleep until it, then go, unless a pause began
                    // meanwhile (then wait for it and take a new slot).
                    tokio::time::sleep_until(at).await;
                    if !self.paused() {
                        return started.elapsed();
                    }
                }
            }
        }
    }

    fn step(&self) -> Step {
        let mut s = self.lock();
        let now = Instant::now();
        if let Some(until) = s.paused_until {
            if until > now {
                return Step::Paused(until);
            }
            s.paused_until = None;
        }
        let Some(g) = s.gcra else {
            return Step::Go;
        };
        let tat = s.tat.max(now);
        let allowed_at = tat.checked_sub(g.tolerance).unwrap_or(now);
        s.tat = tat + g.interval;
        if allowed_at > now {
            Step::Reserved(allowed_at)
        } else {
            Step::Go
        }
    }

    fn paused(&self) -> bool {
        self.lock().paused_until.is_some_and(|u| u > Instant::now())
    }

    /// Holds every request to this host for `wait` from now (a longer pause already in force
    /// is kept).
    pub(crate) fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut s = self.lock();
        if s.paused_until.is_none_or(|u| u < until) {
            s.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HumanDuration;

    fn spec(requests: u32, per_ms: u64, burst: Option<u32>) -> RateLimitSpec {
        RateLimitSpec {
            requests,
            per: HumanDuration::from_millis(per_ms),
            burst,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn paces_requests_at_the_budget() {
        let limiters = RateLimiters::default();
        let l = limiters.for_origin("http://h", Some(spec(10, 1000, None)));
        let start = Instant::now();
        for _ in 0..11 {
            l.acquire().await;
        }
        // The first goes at once, then one every 100 ms.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_go_at_once() {
        let l = RateLimiters::default().for_origin("http://h", Some(spec(10, 1000, Some(5))));
        let start = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        l.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_to_the_host() {
        let limiters = RateLimiters::default();
        let a = limiters.for_origin("http://h", None);
        let b = limiters.for_origin("http://h", None);
        let other = limiters.for_origin("http://other", None);
        a.pause_for(Duration::from_secs(3));
        let start = Instant::now();
        assert_eq!(other.acquire().await, Duration::ZERO);
        b.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn the_strictest_budget_of_a_host_wins() {
        let limiters = RateLimiters::default();
        limiters.for_origin("http://h", Some(spec(100, 1000, None)));
        let l = limiters.for_origin("http://h", Some(spec(2, 1000, None)));
        let start = Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }
}
