//! Seeded fault decisions: the n-th request's fault depends only on the seed and n.

use crate::config::Faults;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Status500,
    Status503,
    Drop,
    Truncate,
    InvalidJson,
    SlowDrip,
}

impl Fault {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Fault::Status500 => "status_500",
            Fault::Status503 => "status_503",
            Fault::Drop => "dropped",
            Fault::Truncate => "truncated",
            Fault::InvalidJson => "invalid_json",
            Fault::SlowDrip => "slow_drip",
        }
    }
}

/// splitmix64: a small, well-mixed generator; enough for fault injection and invented data.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub(crate) fn draw(faults: &Faults, request_number: u64) -> Option<Fault> {
    if !faults.any() {
        return None;
    }
    let r =
        (splitmix64(faults.seed ^ splitmix64(request_number)) >> 11) as f64 / (1u64 << 53) as f64;
    let mut edge = 0.0;
    for (p, fault) in [
        (faults.status_500, Fault::Status500),
        (faults.status_503, Fault::Status503),
        (faults.drop, Fault::Drop),
        (faults.truncate, Fault::Truncate),
        (faults.invalid_json, Fault::InvalidJson),
        (faults.slow_drip, Fault::SlowDrip),
    ] {
        edge += p;
        if r < edge {
            return Some(fault);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_the_configured_probabilities() {
        let faults = Faults {
            status_500: 0.1,
            drop: 0.05,
            seed: 7,
            ..Faults::default()
        };
        let n = 20_000;
        let drawn: Vec<_> = (0..n).map(|i| draw(&faults, i)).collect();
        let count = |f| drawn.iter().filter(|d| **d == Some(f)).count() as f64 / n as f64;
        assert!((count(Fault::Status500) - 0.1).abs() < 0.01);
        assert!((count(Fault::Drop) - 0.05).abs() < 0.01);
        assert!(count(Fault::Truncate).abs() < f64::EPSILON);
    }

    #[test]
    fn same_seed_same_faults() {
        let faults = Faults {
            status_503: 0.3,
            seed: 42,
            ..Faults::default()
        };
        let a: Vec<_> = (0..100).map(|i| draw(&faults, i)).collect();
        let b: Vec<_> = (0..100).map(|i| draw(&faults, i)).collect();
        assert_eq!(a, b);
    }
}
