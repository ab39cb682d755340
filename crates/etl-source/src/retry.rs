//! Whether and when to try again. The only module that touches the `backoff` crate, so that it
//! can be swapped here alone.
//!
//! [`classify_status`] is a pure function of the status code; [`retry_after`] and
//! [`rate_limit_reset`] read the headers that say when to come back; [`run`] drives attempts
//! within the policy's bounds.

use std::future::Future;
use std::time::{Duration, SystemTime};

use backoff::ExponentialBackoffBuilder;
use backoff::backoff::Backoff;

use crate::config::RetryPolicy;

/// What a response status means for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusClass {
    Success,
    /// 408, 429 and every 5xx: try again.
    Retry,
    /// Every other status: retrying cannot help.
    Fail,
}

pub(crate) fn classify_status(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Success,
        408 | 429 | 500..=599 => StatusClass::Retry,
        _ => StatusClass::Fail,
    }
}

/// `Retry-After`: seconds, or an HTTP date (a date in the past means now).
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `X-RateLimit-Reset` / `RateLimit-Reset`: seconds from now, or a Unix time when larger
/// than 10^9.
pub(crate) fn rate_limit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let n: f64 = value.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    if n > 1e9 {
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(n);
        return Some(when.duration_since(now).unwrap_or(Duration::ZERO));
    }
    Some(Duration::from_secs_f64(n))
}

/// A quota a response states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    pub(crate) remaining: u64,
    pub(crate) reset: Duration,
    /// The reset was given in whole seconds (so it is rounded).
    pub(crate) whole_seconds: bool,
}

/// The IETF structured `RateLimit` header: `limit=100, remaining=50, reset=5`, or the later
/// form `"default";r=50;t=5`.
///
/// With several policies (`"burst";r=0;t=1, "day";r=900;t=3600`), the strictest: the one with
/// the fewest requests left.
pub(crate) fn structured_quota(value: &str, now: SystemTime) -> Option<Quota> {
    let one = |text: &str| -> Option<Quota> {
        let mut remaining = None;
        let mut reset = None;
        for part in text.split([',', ';']) {
            let Some((key, v)) = part.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match key.trim() {
                "remaining" | "r" => remaining = v.parse().ok(),
                "reset" | "t" => reset = Some(v.to_owned()),
                _ => {}
            }
        }
        let reset = reset?;
        Some(Quota {
            remaining: remaining?,
            reset: rate_limit_reset(&reset, now)?,
            whole_seconds: !reset.contains('.'),
        })
    };
    // The older form is one policy written with commas: `limit=.., remaining=.., reset=..`.
    if value.contains("remaining=") {
        return one(value);
    }
    value.split(',').filter_map(one).min_by_key(|q| q.remaining)
}

/// A failed attempt that may succeed if tried again.
#[derive(Debug, Clone)]
pub(crate) struct Transient {
    /// What went wrong, for logs and the final error (no secrets).
    pub(crate) reason: String,
    /// When the server said to come back.
    pub(crate) retry_after: Option<Duration>,
    /// A 429 that said when to come back: not counted against `max_attempts`.
    pub(crate) rate_limited: bool,
}

/// How a series of attempts ended without success.
#[derive(Debug)]
pub(crate) enum Failure<E> {
    /// An attempt failed in a way retrying cannot fix.
    Permanent(E),
    /// The policy's bounds ran out; the last transient failure.
    Exhausted {
        attempts: u32,
        last: Transient,
        why: GaveUp,
    },
    /// The server asked for a wait longer than `max_wait`.
    WaitTooLong { wait: Duration },
}

/// Which bound ended the retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GaveUp {
    /// `max_attempts`.
    Attempts,
    /// The next wait would pass `max_elapsed`.
    Elapsed,
}

/// Runs `attempt` until it succeeds, fails permanently, or the policy gives up. `on_retry` is
/// told each transient failure and the wait before the next attempt.
pub(crate) async fn run<T, E, F, Fut>(
    policy: &RetryPolicy,
    max_wait: Duration,
    mut attempt: F,
    mut on_retry: impl FnMut(&Transient, Duration),
) -> Result<T, Failure<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Result<Transient, E>>>,
{
    let mut backoff = ExponentialBackoffBuilder::new()
        .with_initial_interval(policy.initial_backoff)
        .with_max_interval(policy.max_backoff)
        .with_multiplier(2.0)
        .with_randomization_factor(0.5)
        .with_max_elapsed_time(None)
        .build();
    let started = tokio::time::Instant::now();
    let mut attempts = 0u32;
    let mut counted = 0u32;
    loop {
        attempts += 1;
        let transient = match attempt().await {
            Ok(value) => return Ok(value),
            Err(Err(permanent)) => return Err(Failure::Permanent(permanent)),
            Err(Ok(transient)) => transient,
        };
        if !transient.rate_limited {
            counted += 1;
        }
        // Jitter may overshoot: `max_backoff` is the longest wait, whatever the draw.
        let backoff_wait = backoff
            .next_backoff()
            .unwrap_or(policy.max_backoff)
            .min(policy.max_backoff);
        let wait = match transient.retry_after {
            Some(wait) if wait > max_wait => return Err(Failure::WaitTooLong { wait }),
            // A server saying "now" (0, a past date) gets `initial_backoff` at least, never a
            // tight loop.
            Some(wait) => wait.max(policy.initial_backoff),
            None => backoff_wait,
        };
        if counted >= policy.max_attempts {
            return Err(Failure::Exhausted {
                attempts,
                last: transient,
                why: GaveUp::Attempts,
            });
        }
        if started.elapsed() + wait > policy.max_elapsed {
            return Err(Failure::Exhausted {
                attempts,
                last: transient,
                why: GaveUp::Elapsed,
            });
        }
        on_retry(&transient, wait);
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn statuses_are_classified() {
        for s in [200, 201, 204] {
            assert_eq!(classify_status(s), StatusClass::Success, "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(classify_status(s), StatusClass::Retry, "{s}");
        }
        for s in [301, 400, 401, 403, 404, 409, 422] {
            assert_eq!(classify_status(s), StatusClass::Fail, "{s}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_784_000_000);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(90)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn reset_reads_seconds_and_unix_times() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_784_000_000);
        assert_eq!(rate_limit_reset("30", now), Some(Duration::from_secs(30)));
        assert_eq!(
            rate_limit_reset("1784000012", now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(rate_limit_reset("-1", now), None);
    }

    #[test]
    fn structured_quota_headers_are_read() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_784_000_000);
        let q = structured_quota("limit=100, remaining=7, reset=3", now).unwrap();
        assert_eq!(
            (q.remaining, q.reset, q.whole_seconds),
            (7, Duration::from_secs(3), true)
        );
        let q = structured_quota(r#""default";r=0;t=0.5"#, now).unwrap();
        assert_eq!(
            (q.remaining, q.reset, q.whole_seconds),
            (0, Duration::from_millis(500), false)
        );
        assert_eq!(structured_quota("limit=100", now), None);
        let q = structured_quota(r#""burst";r=0;t=1, "day";r=900;t=3600"#, now).unwrap();
        assert_eq!((q.remaining, q.reset), (0, Duration::from_secs(1)));
    }

    fn transient(retry_after: Option<Duration>, rate_limited: bool) -> Transient {
        Transient {
            reason: "503".into(),
            retry_after,
            rate_limited,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let calls = Cell::new(0);
        let result: Result<(), Failure<()>> = run(
            &policy,
            Duration::from_secs(60),
            || {
                calls.set(calls.get() + 1);
                async { Err(Ok(transient(None, false))) }
            },
            |_, _| {},
        )
        .await;
        assert!(matches!(
            result,
            Err(Failure::Exhausted { attempts: 3, .. })
        ));
        assert_eq!(calls.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_and_does_not_count_rate_limits() {
        let policy = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let calls = Cell::new(0);
        let waits = std::cell::RefCell::new(Vec::new());
        let result: Result<u32, Failure<()>> = run(
            &policy,
            Duration::from_secs(60),
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n <= 3 {
                        Err(Ok(transient(Some(Duration::from_secs(2)), true)))
                    } else {
                        Ok(n)
                    }
                }
            },
            |_, wait| waits.borrow_mut().push(wait),
        )
        .await;
        assert_eq!(result.unwrap(), 4);
        assert_eq!(*waits.borrow(), vec![Duration::from_secs(2); 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_longer_than_max_wait_fails() {
        let result: Result<(), Failure<()>> = run(
            &RetryPolicy::default(),
            Duration::from_secs(60),
            || async { Err(Ok(transient(Some(Duration::from_secs(3600)), true))) },
            |_, _| {},
        )
        .await;
        assert!(matches!(result, Err(Failure::WaitTooLong { wait }) if wait.as_secs() == 3600));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried() {
        let calls = Cell::new(0);
        let result: Result<(), Failure<&str>> = run(
            &RetryPolicy::default(),
            Duration::from_secs(60),
            || {
                calls.set(calls.get() + 1);
                async { Err(Err("401")) }
            },
            |_, _| {},
        )
        .await;
        assert!(matches!(result, Err(Failure::Permanent("401"))));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_within_bounds() {
        let policy = RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            ..RetryPolicy::default()
        };
        let waits = std::cell::RefCell::new(Vec::new());
        let _: Result<(), Failure<()>> = run(
            &policy,
            Duration::from_secs(60),
            || async { Err(Ok(transient(None, false))) },
            |_, wait| waits.borrow_mut().push(wait),
        )
        .await;
        let waits = waits.into_inner();
        assert_eq!(waits.len(), 5);
        assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(150));
        assert!(
            waits.iter().all(|w| *w <= Duration::from_millis(400)),
            "{waits:?}"
        );
        assert!(waits[4] >= Duration::from_millis(200), "{waits:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_retry_after_still_waits_the_initial_backoff() {
        let calls = Cell::new(0);
        let waits = std::cell::RefCell::new(Vec::new());
        let _: Result<(), Failure<()>> = run(
            &RetryPolicy {
                max_elapsed: Duration::from_secs(2),
                ..RetryPolicy::default()
            },
            Duration::from_secs(60),
            || {
                calls.set(calls.get() + 1);
                async { Err(Ok(transient(Some(Duration::ZERO), true))) }
            },
            |_, wait| waits.borrow_mut().push(wait),
        )
        .await;
        // 500 ms each: four waits fit in 2 s, not thousands of requests.
        assert_eq!(calls.get(), 5);
        assert!(
            waits
                .borrow()
                .iter()
                .all(|w| *w == Duration::from_millis(500))
        );
    }
}

#[cfg(test)]
mod properties {
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::{rate_limit_reset, retry_after};

    proptest! {
        #[test]
        fn retry_after_reads_any_seconds_and_any_date(secs in 0u64..10_000_000, ahead in 0u64..100_000) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            prop_assert_eq!(retry_after(&secs.to_string(), now), Some(Duration::from_secs(secs)));
            let date = httpdate::fmt_http_date(now + Duration::from_secs(ahead));
            prop_assert_eq!(retry_after(&date, now), Some(Duration::from_secs(ahead)));
        }

        #[test]
        fn resets_are_seconds_or_unix_times(secs in 0u64..1_000_000_000, ahead in 0u64..100_000) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            prop_assert_eq!(rate_limit_reset(&secs.to_string(), now), Some(Duration::from_secs(secs)));
            let at = 1_700_000_000 + ahead;
            prop_assert_eq!(rate_limit_reset(&at.to_string(), now), Some(Duration::from_secs(ahead)));
        }

        #[test]
        fn header_parsing_never_panics(text in ".{0,40}") {
            let now = SystemTime::now();
            let _ = retry_after(&text, now);
            let _ = rate_limit_reset(&text, now);
            let _ = super::structured_quota(&text, now);
        }
    }
}
