//! Invented shop orders for incremental-load tests: `etl-mockapi generate-orders` writes
//! `fixtures/shop/orders.json` with [`generate_orders`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::faults::splitmix64;

/// 2026-11-01T00:00:00Z: the first `created_at`.
const FIRST: i64 = 1_793_491_200;
/// 2026-11-25T23:59:59Z: no time after it.
const LAST: i64 = 1_795_651_199;
/// An order is updated at most this long after it was created.
const MAX_UPDATE_DELAY: i64 = 72 * 3600;

/// Statuses and their shares, in percent (they sum to 100).
const STATUSES: [(&str, u64); 5] = [
    ("paid", 65),
    ("shipped", 17),
    ("pending", 5),
    ("refunded", 8),
    ("cancelled", 5),
];

/// `count` orders with ids `1..=count`, the same for the same `seed`.
///
/// Each is `{id, customer_id, status, total, currency, created_at, updated_at}`: customers
/// 1 to 200; statuses `paid` (about 65%), `shipped` (17%), `pending` (5%), `refunded` (8%),
/// `cancelled` (5%); totals from 5.00 to 500.00 EUR in cents; `created_at` ascending with the
/// id over 2026-11-01T00:00:00Z..2026-11-25T23:59:59Z; `updated_at` up to 72 hours later but
/// never after the end of that span, and strictly later for shipped, refunded and cancelled
/// orders. Times are RFC 3339 in UTC, to the second (`2026-11-03T14:05:09Z`).
pub fn generate_orders(count: usize, seed: u64) -> Vec<Value> {
    let mut rng = Rng(seed);
    let span = (LAST - FIRST).unsigned_abs();
    let count_u64 = count as u64;
    (0..count_u64)
        .map(|i| {
            // Slot `i` of `count` equal slots over the span: ascending with the id, and
            // strictly before `LAST`, so that a later update always fits.
            let low = i * span / count_u64;
            let high = (i + 1) * span / count_u64;
            let created = FIRST + offset(low + rng.below(high.saturating_sub(low).max(1)));
            let status = rng.status();
            let later = !matches!(status, "paid" | "pending");
            let room = MAX_UPDATE_DELAY.min(LAST - created).unsigned_abs();
            let delay = if later {
                1 + rng.below(room)
            } else {
                rng.below(room + 1)
            };
            let updated = created + offset(delay);
            let cents = 500 + rng.below(49_501);
            json!({
                "id": i + 1,
                "customer_id": 1 + rng.below(200),
                "status": status,
                "total": cents as f64 / 100.0,
                "currency": "EUR",
                "created_at": rfc3339(created),
                "updated_at": rfc3339(updated),
            })
        })
        .collect()
}

/// A time in seconds since the epoch as `2026-11-03T14:05:09Z`. The generator's times all
/// lie in November 2026, well inside chrono's range: the default is never used.
fn rfc3339(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Seconds within the generator's span (under a month) as a signed offset.
fn offset(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// splitmix64 as a stream: small, seedable, well mixed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        let out = splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        out
    }

    /// A number in `0..n` (`n` > 0); the bias of the multiply-shift is below 2^-40 here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    fn status(&mut self) -> &'static str {
        let mut draw = self.below(100);
        for (status, share) in STATUSES {
            if draw < share {
                return status;
            }
            draw -= share;
        }
        STATUSES[0].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(order: &Value, field: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(order[field].as_str().unwrap())
            .unwrap()
            .to_utc()
    }

    #[test]
    fn the_same_seed_gives_the_same_orders_and_another_seed_others() {
        let a = generate_orders(300, 7);
        assert_eq!(a, generate_orders(300, 7));
        assert_ne!(a, generate_orders(300, 8));
        assert_eq!(a.len(), 300);
        assert!(generate_orders(0, 7).is_empty());
    }

    #[test]
    fn orders_keep_their_promises() {
        let orders = generate_orders(2000, 7);
        let first = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap();
        let last = DateTime::parse_from_rfc3339("2026-11-25T23:59:59Z").unwrap();
        let mut previous = first.to_utc();
        let mut refunded = 0;
        for (i, order) in orders.iter().enumerate() {
            assert_eq!(order["id"].as_u64(), Some(i as u64 + 1));
            assert!((1..=200).contains(&order["customer_id"].as_u64().unwrap()));
            let total = order["total"].as_f64().unwrap();
            assert!((5.0..=500.0).contains(&total), "{order}");
            assert!(
                ((total * 100.0).round() - total * 100.0).abs() < 1e-6,
                "{order}"
            );
            assert_eq!(order["currency"], "EUR");
            let created_text = order["created_at"].as_str().unwrap();
            assert!(
                created_text.ends_with('Z') && created_text.len() == 20,
                "{order}"
            );
            let (created, updated) = (time(order, "created_at"), time(order, "updated_at"));
            assert!(created >= previous && updated <= last, "{order}");
            assert!(updated - created <= chrono::TimeDelta::hours(72), "{order}");
            let status = order["status"].as_str().unwrap();
            if matches!(status, "refunded" | "cancelled") {
                assert!(updated > created, "{order}");
            }
            refunded += usize::from(status == "refunded");
            previous = created;
        }
        // About 8% of 2000.
        assert!((110..=210).contains(&refunded), "{refunded}");
    }
}
