//! Pipelined paging without a stated total: eight requests in flight at predicted positions,
//! the paging rules still in charge.

use std::time::Duration;

use etl_mockapi::{Faults, MockConfig, MockServer, RateLimit};
use etl_source::Error;
use serde_json::json;

use crate::{dataset, ids, run, source};

/// `served` requests reached the server; etl counts a request when it sends it, so it may
/// count a few the server never saw (dropped on the way), never fewer.
fn counted_as_sent(etl: u64, served: u64, in_flight: u64) {
    assert!(
        served <= etl && etl < served + in_flight,
        "etl counted {etl} requests, the server saw {served}"
    );
}

#[tokio::test]
async fn a_capped_api_is_read_whole_with_eight_pages_in_flight() {
    let api = MockServer::start(
        dataset(500),
        MockConfig {
            max_page_size: Some(7),
            ..MockConfig::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 20}, "concurrency": 8}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), (1..=500).collect::<Vec<_>>());
    assert_eq!(stats.page_size_cap, Some(7));
    // 72 pages of 7 (the last of 3) and the empty page that confirms the end.
    assert_eq!(stats.pages, 73);
    assert!(stats.pages_ahead >= 60, "{stats:?}");
    let served = api.stats().requests;
    counted_as_sent(stats.counts.requests, served, 8);
    // Past the end, at most the pages in flight then: eight.
    assert!(served <= 73 + 8, "{served}");
}

#[tokio::test]
async fn page_numbers_are_fetched_ahead_and_the_short_page_still_confirmed() {
    let api = MockServer::start(dataset(95), MockConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "page", "page_size": 10}, "concurrency": 8}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), (1..=95).collect::<Vec<_>>());
    assert_eq!(stats.pages, 11);
    assert!(stats.pages_ahead > 0, "{stats:?}");
    counted_as_sent(stats.counts.requests, api.stats().requests, 8);
}

#[tokio::test]
async fn an_api_ignoring_paging_fails_on_the_second_page_with_eight_in_flight() {
    let api = MockServer::start(
        dataset(45),
        MockConfig {
            ignore_paging: true,
            max_page_size: Some(10),
            ..MockConfig::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 10}, "concurrency": 8}),
    );
    let err = run(&config, dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::Loop { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("page 2 (`offset=10&limit=10`) holds the same 10 records as the page before"),
        "{err}"
    );
    // The first page, then at most eight in flight when the second showed the loop.
    let served = api.stats().requests;
    assert!((2..=9).contains(&served), "{served}");
}

#[tokio::test]
async fn a_last_page_repeated_past_the_end_ends_the_source_with_eight_in_flight() {
    let api = MockServer::start(
        dataset(95),
        MockConfig {
            clamp_paging: true,
            ..MockConfig::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 10}, "concurrency": 8}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    // Nothing past the repeat is staged: every record once, in order.
    assert_eq!(ids(&rows), (1..=95).collect::<Vec<_>>());
    assert_eq!(stats.records, 95);
}

#[tokio::test]
async fn max_pages_and_max_records_bound_the_pages_fetched_ahead() {
    let api = MockServer::start(dataset(500), MockConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 10},
               "concurrency": 8, "max_pages": 5}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), (1..=50).collect::<Vec<_>>());
    assert_eq!(api.stats().requests, 5);
    assert_eq!(stats.counts.requests, 5);

    let api = MockServer::start(dataset(500), MockConfig::default()).unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 10},
               "concurrency": 8, "max_records": 35}),
    );
    let (_, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), (1..=35).collect::<Vec<_>>());
    assert_eq!(api.stats().requests, 4);
}

#[tokio::test]
async fn faults_with_eight_in_flight_still_give_every_record_once() {
    let api = MockServer::start(
        dataset(400),
        MockConfig {
            faults: Faults {
                status_500: 0.05,
                status_503: 0.05,
                drop: 0.05,
                truncate: 0.05,
                seed: 7,
                ..Faults::default()
            },
            ..MockConfig::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 5}, "concurrency": 8,
               "retry": {"max_attempts": 10, "initial_backoff": "1ms", "max_backoff": "5ms"}}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), (1..=400).collect::<Vec<_>>());
    let served = api.stats();
    assert!(
        served.fault("status_500") > 0 && served.fault("truncated") > 0,
        "{served:?}"
    );
    counted_as_sent(stats.counts.requests, served.requests, 8);
}

#[tokio::test]
async fn a_quota_of_20_per_second_is_kept_with_eight_in_flight() {
    let api = MockServer::start(
        dataset(400),
        MockConfig {
            rate_limit: Some(RateLimit {
                requests: 20,
                window: Duration::from_secs(1),
                advertise: true,
            }),
            faults: Faults {
                status_500: 0.05,
                drop: 0.05,
                truncate: 0.05,
                seed: 11,
                ..Faults::default()
            },
            ..MockConfig::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 10}, "concurrency": 8,
               "retry": {"max_attempts": 10, "initial_backoff": "1ms", "max_backoff": "5ms"}}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), (1..=400).collect::<Vec<_>>());
    let served = api.stats();
    assert!(served.status(429) <= 2, "{served:?}");
    assert_eq!(stats.counts.rate_limited, served.status(429));
}
