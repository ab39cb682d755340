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
    /// What the server last said of its quota, counted down locally.
    quota: Option<Quota>,
    /// Requests sent and not yet answered.
    in_flight: u32,
}

/// The server's quota for the current window: requests left, and when the window resets.
/// A reset given in whole seconds is only known to lie within a second; every response
/// narrows the interval, and the wait for a spent quota ends at its upper bound.
#[derive(Debug, Clone, Copy)]
struct Quota {
    remaining: i64,
    reset_lo: Instant,
    reset_hi: Instant,
}

/// A sent request; dropped when its answer's headers have been read.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    limiter: &'a HostLimiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.limiter.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
    }
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
                quota: None,
                in_flight: 0,
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

    /// Waits for permission to send one request; returns how long it waited, and the permit
    /// to hold until the answer is read.
    pub(crate) async fn acquire(&self) -> (Duration, Permit<'_>) {
        let started = Instant::now();
        loop {
            match self.step() {
                Step::Go => break,
                Step::Paused(until) => tokio::time::sleep_until(until).await,
                Step::Reserved(at) => {
                    // The slot is ours: sleep until it, then go, unless a pause began
                    // meanwhile (then wait for it and take a new slot).
                    tokio::time::sleep_until(at).await;
                    if !self.paused() {
                        break;
                    }
                }
            }
        }
        self.lock().in_flight += 1;
        (started.elapsed(), Permit { limiter: self })
    }

    /// Records the quota a response stated: `remaining` requests until `reset` from now
    /// (`whole_seconds`: the reset was rounded to a second). Called while the response's own
    /// permit is held.
    pub(crate) fn observe(&self, remaining: u64, reset: Duration, whole_seconds: bool) {
        let now = Instant::now();
        let hi = now + reset;
        let lo = if whole_seconds {
            hi.checked_sub(Duration::from_secs(1)).unwrap_or(now)
        } else {
            hi
        };
        let mut s = self.lock();
        // Requests sent since may already count against what the server said remains.
        let others = i64::from(s.in_flight.saturating_sub(1));
        let local = i64::try_from(remaining).unwrap_or(i64::MAX) - others;
        s.quota = Some(match s.quota {
            // The same window: narrow when it resets, keep the lower count.
            Some(q) if lo <= q.reset_hi && q.reset_lo <= hi => Quota {
                remaining: q.remaining.min(local),
                reset_lo: q.reset_lo.max(lo),
                reset_hi: q.reset_hi.min(hi),
            },
            _ => Quota {
                remaining: local,
                reset_lo: lo,
                reset_hi: hi,
            },
        });
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
        if let Some(q) = s.quota.as_mut() {
            if now >= q.reset_hi {
                // A new window: its quota is learnt from the next answer.
                s.quota = None;
            } else if q.remaining <= 0 {
                return Step::Paused(q.reset_hi);
            } else {
                q.remaining -= 1;
            }
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
            per_shard: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shards_sharing_a_budget_keep_it_together() {
        // Four shards, each with its own limiter: together 10 requests per second, as one.
        let shares: Vec<_> = (0..4)
            .map(|_| {
                RateLimiters::default()
                    .for_origin("http://h", Some(spec(10, 1000, Some(4)).shared_by(4)))
            })
            .collect();
        let start = Instant::now();
        for _ in 0..11 {
            for share in &shares {
                let _ = share.acquire().await;
            }
        }
        // 44 requests: 4 at once, then one per shard every 400 ms (10 a second in all).
        assert_eq!(start.elapsed(), Duration::from_secs(4));
        let own = spec(10, 1000, None);
        let own = RateLimitSpec {
            per_shard: true,
            ..own
        };
        assert_eq!(own.shared_by(4), own);
    }

    #[tokio::test(start_paused = true)]
    async fn paces_requests_at_the_budget() {
        let limiters = RateLimiters::default();
        let l = limiters.for_origin("http://h", Some(spec(10, 1000, None)));
        let start = Instant::now();
        for _ in 0..11 {
            let _ = l.acquire().await;
        }
        // The first goes at once, then one every 100 ms.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_go_at_once() {
        let l = RateLimiters::default().for_origin("http://h", Some(spec(10, 1000, Some(5))));
        let start = Instant::now();
        for _ in 0..5 {
            let _ = l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        let _ = l.acquire().await;
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
        assert_eq!(other.acquire().await.0, Duration::ZERO);
        let _ = b.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn the_strictest_budget_of_a_host_wins() {
        let limiters = RateLimiters::default();
        limiters.for_origin("http://h", Some(spec(100, 1000, None)));
        let l = limiters.for_origin("http://h", Some(spec(2, 1000, None)));
        let start = Instant::now();
        for _ in 0..3 {
            let _ = l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stated_quota_is_counted_down_and_waited_out() {
        let l = RateLimiters::default().for_origin("http://h", None);
        let start = Instant::now();
        {
            let (_, _permit) = l.acquire().await;
            // 2 left, reset in "1" second (rounded up).
            l.observe(2, Duration::from_secs(1), true);
        }
        let _ = l.acquire().await;
        let _ = l.acquire().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Spent: the next waits for the reset.
        let _ = l.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn answers_narrow_a_rounded_reset() {
        let l = RateLimiters::default().for_origin("http://h", None);
        let start = Instant::now();
        let (_, p) = l.acquire().await;
        l.observe(10, Duration::from_secs(1), true); // resets in (0 s, 1 s]
        drop(p);
        tokio::time::sleep(Duration::from_millis(700)).await;
        let (_, p) = l.acquire().await;
        l.observe(0, Duration::from_secs(1), true); // in (0.7 s, 1.7 s]: so (0.7 s, 1 s]
        drop(p);
        let _ = l.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_count_against_the_quota() {
        let l = RateLimiters::default().for_origin("http://h", None);
        let (_, a) = l.acquire().await;
        let (_, _b) = l.acquire().await;
        let (_, _c) = l.acquire().await;
        // `a`'s answer: 2 remain, but `b` and `c` are already on their way.
        l.observe(2, Duration::from_secs(5), true);
        drop(a);
        let start = Instant::now();
        let _ = l.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }
}
