#![allow(clippy::unwrap_used)]

//! Sources against `etl-mockapi` on 127.0.0.1.

mod ahead;

use std::path::Path;
use std::sync::Arc;

use etl_mockapi::{AuthRequirement, Dataset, Faults, MockConfig, MockServer};
use etl_source::{
    Error, Extractor, HttpSpec, ProgressEvent, ProgressSink, SourceConfig, SourceSpec, WaitReason,
    build,
};
use serde_json::{Value, json};

fn dataset(n: usize) -> Dataset {
    let items = (1..=n)
        .map(|i| json!({ "id": i, "nested": { "n": i } }))
        .collect();
    Dataset::from_collections([("items".to_owned(), items)])
}

fn source(api: &MockServer, spec: Value) -> SourceConfig {
    let http = HttpSpec {
        base_url: Some(api.url()),
        ..HttpSpec::default()
    };
    let spec: SourceSpec = serde_json::from_value(spec).unwrap();
    build("items", &spec, &http).unwrap()
}

async fn run(
    config: &SourceConfig,
    dir: &Path,
) -> Result<(etl_source::SourceStats, Vec<Value>), Error> {
    let path = dir.join("items.parquet");
    let (stats, table) = Extractor::new()
        .unwrap()
        .run(config, &path, None, None)
        .await?;
    assert_eq!(table.rows, stats.records);
    let rows = staged_rows(&table);
    assert_eq!(rows.len() as u64, table.rows);
    Ok((stats, rows))
}

/// The staged records, read back from the table's Parquet parts: every column in each.
fn staged_rows(table: &etl_source::StagedTable) -> Vec<Value> {
    use polars::prelude::*;
    let mut rows = Vec::new();
    for part in &table.parts {
        let frame = ParquetReader::new(std::fs::File::open(part).unwrap())
            .finish()
            .unwrap();
        for i in 0..frame.height() {
            let mut row = serde_json::Map::new();
            for (name, _) in &table.columns {
                let value = match frame.column(name).map(|c| c.get(i).unwrap()) {
                    Ok(AnyValue::Int64(n)) => Value::from(n),
                    Ok(AnyValue::Float64(f)) => Value::from(f),
                    Ok(AnyValue::Boolean(b)) => Value::from(b),
                    Ok(AnyValue::String(s)) => Value::from(s),
                    Ok(AnyValue::StringOwned(s)) => Value::from(s.as_str()),
                    Ok(AnyValue::Null) | Err(_) => Value::Null,
                    Ok(other) => panic!("a staged {other:?} in test data"),
                };
                row.insert(name.clone(), value);
            }
            rows.push(Value::Object(row));
        }
    }
    rows
}

/// The mock serving `n` items, with `faults`.
fn faulty_api(n: usize, faults: Faults) -> MockServer {
    let config = MockConfig {
        faults,
        ..MockConfig::default()
    };
    MockServer::start(dataset(n), config).unwrap()
}

fn ids(rows: &[Value]) -> Vec<u64> {
    rows.iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn offset_paging_survives_a_silent_page_size_cap() {
    let api = MockServer::start(
        dataset(45),
        MockConfig {
            max_page_size: Some(7),
            ..MockConfig::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 20}, "concurrency": 1}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), (1..=45).collect::<Vec<_>>());
    assert_eq!(rows[44]["nested__n"], 45);
    // 7 pages of 7 (the last of 3), then the empty page that confirms the end.
    assert_eq!(stats.counts.requests, 8);
    assert_eq!(stats.page_size_cap, Some(7));
}

#[tokio::test]
async fn staging_keeps_only_the_columns_named_whatever_their_case() {
    let items = (1..=30)
        .map(|i| json!({ "id": i, "Title": format!("t{i}"), "body": "x".repeat(50), "meta": { "score": i, "tag": "a" } }))
        .collect();
    let api = MockServer::start(
        Dataset::from_collections([("items".to_owned(), items)]),
        MockConfig::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 7}}),
    );
    config.stage_columns = Some(["ID", "title", "meta__score"].map(String::from).into());
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(stats.records, 30);
    // The nested field is flattened, then kept by its column's name; `body` and `meta__tag`
    // are not staged.
    assert_eq!(
        rows[29],
        json!({ "id": 30, "Title": "t30", "meta__score": 30 })
    );
    assert_eq!(ids(&rows), (1..=30).collect::<Vec<_>>());
}

#[tokio::test]
async fn page_paging_with_short_page_end_saves_the_confirming_request() {
    let api = MockServer::start(dataset(45), MockConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "page", "page_size": 10, "short_page": "end"}, "concurrency": 1}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(rows.len(), 45);
    assert_eq!(stats.counts.requests, 5);
    assert_eq!(stats.page_size_cap, None);
}

#[tokio::test]
async fn an_api_ignoring_paging_is_caught_on_the_second_page() {
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
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 10}, "concurrency": 1}),
    );
    let err = run(&config, dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::Loop { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("holds the same 10 records as the page before"),
        "{err}"
    );
    assert_eq!(api.stats().requests, 2);
}

#[tokio::test]
async fn invalid_json_truncation_and_5xx_are_retried_until_complete() {
    let api = faulty_api(
        200,
        Faults {
            status_500: 0.1,
            truncate: 0.1,
            invalid_json: 0.1,
            seed: 3,
            ..Faults::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 5}, "concurrency": 1,
               "retry": {"max_attempts": 10, "initial_backoff": "1ms", "max_backoff": "5ms"}}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), (1..=200).collect::<Vec<_>>());
    let served = api.stats();
    assert!(
        served.fault("invalid_json") > 0 && served.fault("truncated") > 0,
        "{served:?}"
    );
    assert_eq!(stats.counts.retries, served.faults.values().sum::<u64>());
    assert_eq!(stats.counts.requests, served.requests);
}

#[tokio::test]
async fn a_401_is_not_retried_and_names_status_and_url_without_the_key() {
    let api = MockServer::start(
        dataset(5),
        MockConfig {
            auth: Some(AuthRequirement::Query {
                name: "api_key".into(),
                value: "good".into(),
            }),
            ..MockConfig::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "auth": {"type": "api_key", "key": "bad-key-123", "query": "api_key"}}),
    );
    let err = run(&config, dir.path()).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "source `items`: GET {}/items answered 401: {{\"error\":\"missing or invalid credentials: got `***`\"}}; \
             check the credentials in `auth` and the environment variables they name",
            api.url()
        )
    );
    assert_eq!(api.stats().requests, 1);
}

#[tokio::test]
async fn records_are_found_at_a_dotted_path_or_the_error_says_where_to_look() {
    let api = MockServer::start(
        dataset(3),
        MockConfig {
            envelope: Some("payload.rows".into()),
            ..MockConfig::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "records": "payload.rows"}),
    );
    let (_, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), [1, 2, 3]);
    let config = source(&api, json!({"endpoint": "/items"}));
    let err = run(&config, dir.path()).await.unwrap_err().to_string();
    assert!(
        err.contains("found no list of records") && err.contains("`payload`"),
        "{err}"
    );
}

#[tokio::test]
async fn an_empty_source_fails_unless_allowed() {
    let api = MockServer::start(dataset(0), MockConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = run(&source(&api, json!({"endpoint": "/items"})), dir.path())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("set `allow_empty: true`"), "{err}");
    let (stats, rows) = run(
        &source(&api, json!({"endpoint": "/items", "allow_empty": true})),
        dir.path(),
    )
    .await
    .unwrap();
    assert_eq!((stats.records, rows.len()), (0, 0));
}

#[tokio::test]
async fn an_api_repeating_its_short_last_page_is_complete_not_looping() {
    // Some APIs answer a position past the end with the last page again.
    let config = MockConfig {
        clamp_paging: true,
        ..MockConfig::default()
    };
    let api = MockServer::start(dataset(25), config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 10}, "concurrency": 1}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), (1..=25).collect::<Vec<_>>());
    assert_eq!(stats.counts.requests, 4);
}

#[tokio::test]
async fn a_repeated_full_last_page_is_the_end_too() {
    // 30 records in pages of 10: the repeat past the end is a full page.
    let config = MockConfig {
        clamp_paging: true,
        ..MockConfig::default()
    };
    let api = MockServer::start(dataset(30), config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 10}, "concurrency": 1}),
    );
    let (stats, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), (1..=30).collect::<Vec<_>>());
    assert_eq!(stats.counts.requests, 4);
}

#[tokio::test]
async fn an_api_ignoring_paging_with_a_smaller_default_page_fails() {
    // Wrong parameter names: the API serves its own first page of 10 every time. Taking the
    // repeat for the end would give 10 records and exit 0.
    let config = MockConfig {
        ignore_paging: true,
        max_page_size: Some(10),
        ..MockConfig::default()
    };
    let api = MockServer::start(dataset(45), config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 100}}),
    );
    let err = run(&config, dir.path()).await.unwrap_err().to_string();
    assert!(
        err.contains("holds the same 10 records as the page before"),
        "{err}"
    );
    assert!(
        err.contains("taken as the end only after two different pages"),
        "{err}"
    );
}

#[tokio::test]
async fn numeric_and_boolean_params_reach_the_server_as_text() {
    let api = MockServer::start(dataset(10), MockConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // As a pipeline file writes them: `params: { _limit: 3, ratio: 0.5, flag: true }`.
    let config = source(
        &api,
        json!({"endpoint": "/items", "params": {"_limit": 3, "ratio": 0.5, "flag": true}}),
    );
    let (_, rows) = run(&config, dir.path()).await.unwrap();
    assert_eq!(ids(&rows), [1, 2, 3]);
    assert_eq!(api.stats().targets, ["/items?_limit=3&ratio=0.5&flag=true"]);
}

/// Progress events as a display receives them.
#[derive(Debug, Default)]
struct Recorded(std::sync::Mutex<Vec<(String, ProgressEvent)>>);

impl ProgressSink for Recorded {
    fn event(&self, source: &str, event: ProgressEvent) {
        self.0.lock().unwrap().push((source.to_owned(), event));
    }
}

#[tokio::test]
async fn progress_goes_to_the_sink_started_pages_retry_waits_finished() {
    let api = faulty_api(
        30,
        Faults {
            status_503: 0.3,
            seed: 5,
            ..Faults::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let config = source(
        &api,
        json!({"endpoint": "/items", "pagination": {"type": "offset", "page_size": 10},
               "retry": {"max_attempts": 10, "initial_backoff": "100ms", "max_backoff": "100ms"}}),
    );
    let sink = Arc::new(Recorded::default());
    let (stats, _) = Extractor::new()
        .unwrap()
        .with_progress(sink.clone())
        .run(&config, &dir.path().join("items.parquet"), None, None)
        .await
        .unwrap();
    let events = sink.0.lock().unwrap().clone();
    assert!(events.iter().all(|(s, _)| s == "items"));
    assert_eq!(events.first().map(|e| &e.1), Some(&ProgressEvent::Started));
    assert_eq!(events.last().map(|e| &e.1), Some(&ProgressEvent::Finished));
    let pages: Vec<u64> = events
        .iter()
        .filter_map(|(_, e)| match e {
            ProgressEvent::Page { records } => Some(*records),
            _ => None,
        })
        .collect();
    // Three pages of 10, then the empty page that confirms the end.
    assert_eq!(pages, [10, 10, 10, 0]);
    let retries = events
        .iter()
        .filter(|(_, e)| {
            matches!(e, ProgressEvent::Waiting { reason: WaitReason::Retry { failure }, .. }
                if failure == "status 503")
        })
        .count() as u64;
    assert!(retries > 0);
    assert_eq!(retries, stats.counts.retries);
}
