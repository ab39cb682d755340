//! The chaos matrix: every fault alone, then all together, and the report never changes.

use std::time::Duration;

use etl_mockapi::{Faults, MockConfig, RateLimit};

use crate::{expected_report, mock, report_in, run_variant};

/// Many small pages, no client-side budget, quick retries.
const FAST: [(&str, &str); 3] = [
    ("page_size: 100", "page_size: 5"),
    ("  rate_limit: { requests: 10, per: 1s, burst: 5 }\n", ""),
    (
        "retry: { max_attempts: 5, initial_backoff: 500ms, max_backoff: 30s, max_elapsed: 5m }",
        "retry: { max_attempts: 12, initial_backoff: 5ms, max_backoff: 50ms }",
    ),
];

#[test]
fn every_fault_alone_and_all_together_give_the_same_report() {
    let none = Faults {
        seed: 11,
        ..Faults::default()
    };
    let cases = [
        (
            "500",
            Faults {
                status_500: 0.08,
                ..none
            },
            vec!["status_500"],
        ),
        (
            "503",
            Faults {
                status_503: 0.08,
                ..none
            },
            vec!["status_503"],
        ),
        (
            "dropped connections",
            Faults { drop: 0.08, ..none },
            vec!["dropped"],
        ),
        (
            "truncated bodies",
            Faults {
                truncate: 0.08,
                ..none
            },
            vec!["truncated"],
        ),
        (
            "invalid JSON",
            Faults {
                invalid_json: 0.08,
                ..none
            },
            vec!["invalid_json"],
        ),
        (
            "slow drip",
            Faults {
                slow_drip: 0.06,
                ..none
            },
            vec!["slow_drip"],
        ),
        ("latency", none, vec![]),
        (
            "all together",
            Faults {
                status_500: 0.05,
                status_503: 0.05,
                drop: 0.05,
                truncate: 0.05,
                invalid_json: 0.05,
                slow_drip: 0.05,
                seed: 5,
            },
            vec![
                "status_500",
                "status_503",
                "dropped",
                "truncated",
                "invalid_json",
                "slow_drip",
            ],
        ),
    ];
    for (name, faults, kinds) in cases {
        let latency = match name {
            "latency" => Duration::from_millis(25),
            "all together" => Duration::from_millis(5),
            _ => Duration::ZERO,
        };
        let api = mock(MockConfig {
            faults,
            latency,
            ..MockConfig::default()
        });
        let (dir, out) = run_variant(&api, &FAST, &[]);
        assert_eq!(out.code, 0, "{name}: {out:?}");
        assert_eq!(report_in(dir.path()), expected_report(), "{name}");
        let stats = api.stats();
        for kind in kinds {
            assert!(
                stats.fault(kind) > 0,
                "{name}: no `{kind}` served: {stats:?}"
            );
        }
        println!(
            "{name}: {} requests, faults {:?}",
            stats.requests, stats.faults
        );
    }
}

#[test]
fn a_shared_quota_is_kept_without_any_configured_budget() {
    // 50 requests a second, three sources at once, ~125 requests, nothing configured: the
    // quota headers pace the client (X-RateLimit-* here, the IETF names next).
    for ietf in [false, true] {
        let api = mock(MockConfig {
            rate_limit: Some(RateLimit {
                requests: 50,
                window: Duration::from_secs(1),
                advertise: true,
            }),
            ietf_rate_headers: ietf,
            ..MockConfig::default()
        });
        let (dir, out) = run_variant(&api, &FAST, &[]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(report_in(dir.path()), expected_report());
        let stats = api.stats();
        assert!(stats.requests >= 120, "{stats:?}");
        assert!(stats.status(429) <= 2, "ietf {ietf}: {stats:?}");
    }
}

#[test]
fn retry_after_as_an_http_date_is_obeyed() {
    let api = mock(MockConfig {
        rate_limit: Some(RateLimit {
            requests: 30,
            window: Duration::from_secs(1),
            advertise: false,
        }),
        retry_after_date: true,
        ..MockConfig::default()
    });
    let (dir, out) = run_variant(&api, &FAST, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(report_in(dir.path()), expected_report());
    let stats = api.stats();
    assert!(stats.status(429) > 0, "{stats:?}");
    // Each 429 paused the whole host: far fewer refusals than requests.
    assert!(stats.status(429) < stats.requests / 4, "{stats:?}");
}
