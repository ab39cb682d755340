//! Declarative transforms, declared types, data checks, graph checks and outputs, end to end.

use std::path::Path;

use etl_mockapi::{Dataset, MockConfig, MockServer};
use polars::prelude::*;
use serde_json::{Value, json};

use crate::{etl, files, mock, repo};

/// Runs a shipped pipeline (file names by run id) against `api` in a new folder.
fn run_shipped(api: &MockServer, file: &str, env: &str) -> (tempfile::TempDir, crate::Outcome) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("pipelines").join(file))
        .unwrap()
        .replace("{timestamp}", "{run_id}");
    std::fs::write(dir.path().join(file), text).unwrap();
    let out = etl(dir.path(), &["run", file], &[(env, &api.url())]);
    (dir, out)
}

fn only_file(dir: &Path, suffix: &str) -> std::path::PathBuf {
    let found: Vec<String> = files(dir)
        .into_iter()
        .filter(|f| f.ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    dir.join(&found[0])
}

fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

#[test]
fn engagement_in_steps_equals_engagement_in_sql_byte_for_byte() {
    let api = mock(MockConfig::default());
    let (sql_dir, sql) = run_shipped(&api, "engagement.yaml", "API_BASE_URL");
    assert_eq!(sql.code, 0, "{}", sql.stderr);
    let (steps_dir, steps) = run_shipped(&api, "engagement_steps.yaml", "API_BASE_URL");
    assert_eq!(steps.code, 0, "{}", steps.stderr);
    let a = std::fs::read(only_file(sql_dir.path(), ".csv")).unwrap();
    let b = std::fs::read(only_file(steps_dir.path(), ".csv")).unwrap();
    assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
    assert_eq!(crate::report_in(steps_dir.path()), crate::expected_report());

    // Parquet: the same values (column types may differ in width, not in value).
    let parquet = |dir: &Path, file: &str| {
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap()
            .replace("format: csv", "format: parquet")
            .replace(".csv", ".parquet");
        std::fs::write(dir.join(file), text).unwrap();
        let out = etl(dir, &["run", file], &[("API_BASE_URL", &api.url())]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let df = read_parquet(&only_file(dir, ".parquet"));
        df.lazy()
            .select([all().as_expr().cast(DataType::String)])
            .collect()
            .unwrap()
    };
    let a = parquet(sql_dir.path(), "engagement.yaml");
    let b = parquet(steps_dir.path(), "engagement_steps.yaml");
    assert_eq!(a, b);
}

/// A fixture folder with one collection, served by the mock.
fn serve(name: &str, records: &Value) -> (tempfile::TempDir, MockServer) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(format!("{name}.json")),
        serde_json::to_vec(records).unwrap(),
    )
    .unwrap();
    let api = MockServer::start(Dataset::load(dir.path()).unwrap(), MockConfig::default()).unwrap();
    (dir, api)
}

fn pipeline(dir: &Path, api: &MockServer, body: &str) -> crate::Outcome {
    let yaml = format!(
        "version: 1\nname: t\nhttp:\n  base_url: {}\n  pagination: {{ type: offset, offset_param: _start, limit_param: _limit, page_size: 100 }}\n{body}",
        api.url()
    );
    std::fs::write(dir.join("t.yaml"), yaml).unwrap();
    etl(dir, &["run", "t.yaml"], &[])
}

#[test]
fn a_raw_export_keeps_late_fields_and_widens_mixed_numbers() {
    // 250 records over three pages: `score` is an integer on the first two pages and a
    // float on the last; `late` appears only in the very last record; `tags` is a list.
    let items: Vec<Value> = (1..=250)
        .map(|i| {
            let mut r = json!({"id": i, "score": if i > 200 { json!(f64::from(i) + 0.5) } else { json!(i) },
                               "tags": ["x", format!("t{i}")], "nested": {"a": i}});
            if i == 250 {
                r["late"] = json!("only here");
            }
            r
        })
        .collect();
    let (_fixtures, api) = serve("items", &Value::Array(items));
    let dir = tempfile::tempdir().unwrap();
    let out = pipeline(
        dir.path(),
        &api,
        "sources:\n  items: { endpoint: /items }\nsinks:\n  raw: { from: items, format: parquet, path: raw.parquet }\n  flat: { from: items, format: csv, path: raw.csv }\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let df = read_parquet(&dir.path().join("raw.parquet"));
    assert_eq!(df.height(), 250);
    assert_eq!(df.column("score").unwrap().dtype(), &DataType::Float64);
    let score = df.column("score").unwrap().f64().unwrap();
    assert_eq!(score.get(0), Some(1.0));
    assert_eq!(score.get(249), Some(250.5));
    let late = df.column("late").unwrap().str().unwrap();
    assert_eq!(late.get(249), Some("only here"));
    assert_eq!(late.null_count(), 249);
    assert!(matches!(
        df.column("tags").unwrap().dtype(),
        DataType::List(_)
    ));
    assert_eq!(df.column("nested__a").unwrap().dtype(), &DataType::Int64);
    // In CSV the list is JSON text.
    let csv = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(dir.path().join("raw.csv")))
        .unwrap()
        .finish()
        .unwrap();
    let tags = csv.column("tags").unwrap().str().unwrap();
    let first: Vec<String> = serde_json::from_str(tags.get(0).unwrap()).unwrap();
    assert_eq!(first, ["x", "t1"]);
}

#[test]
fn declared_types_reach_parquet_and_bad_values_fail_the_run() {
    let data = Dataset::load(&repo().join("fixtures/shop")).unwrap();
    let api = MockServer::start(data, MockConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = "sources:\n  orders:\n    endpoint: /orders\n    records: data\n    pagination: { type: cursor, cursor_param: cursor, cursor_path: next_cursor, limit_param: limit, page_size: 100 }\n    schema:\n      id: int64\n      customer_id: string\n      total: decimal(10, 2)\n      created_at: datetime\n      updated_at: { type: datetime, time_zone: Europe/Paris }\n      status: string\n";
    let out = pipeline(
        dir.path(),
        &api,
        &format!(
            "{source}transforms:\n  days:\n    from: orders\n    steps:\n      - with_columns: {{ day: \"date(created_at)\" }}\n      - select: [id, customer_id, total, created_at, updated_at, day]\nsinks:\n  out: {{ from: days, format: parquet, path: typed.parquet }}\n"
        ),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let df = read_parquet(&dir.path().join("typed.parquet"));
    let dtype = |c: &str| df.column(c).unwrap().dtype().clone();
    assert_eq!(dtype("id"), DataType::Int64);
    assert_eq!(dtype("customer_id"), DataType::String);
    assert_eq!(dtype("total"), DataType::Decimal(10, 2));
    assert!(matches!(
        dtype("created_at"),
        DataType::Datetime(TimeUnit::Microseconds, _)
    ));
    match dtype("updated_at") {
        DataType::Datetime(_, Some(z)) => assert_eq!(z.as_str(), "Europe/Paris"),
        other => panic!("{other}"),
    }
    assert_eq!(dtype("day"), DataType::Date);
    assert_eq!(df.height(), 2000);

    // A declared type a value does not fit: the run fails naming source and column.
    let out = pipeline(
        dir.path(),
        &api,
        "sources:\n  orders:\n    endpoint: /orders\n    records: data\n    pagination: { type: cursor, cursor_param: cursor, cursor_path: next_cursor, limit_param: limit, page_size: 100 }\n    schema: { status: int64 }\nsinks:\n  out: { from: orders, format: parquet, path: bad.parquet }\n",
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("source `orders`: `status` does not convert to the declared int64"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("bad.parquet").exists());
}

#[test]
fn a_failed_check_fails_the_run_before_any_sink_writes() {
    let api = mock(MockConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let out = pipeline(
        dir.path(),
        &api,
        "sources:\n  users:\n    endpoint: /users\n    checks: { accepted_values: { id: [1, 2, 3] } }\nsinks:\n  out: { from: users, format: csv, path: out.csv }\n",
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let users = crate::expected_report().len();
    assert!(
        out.stderr.contains(&format!(
            "check `accepted_values: id` on `users` failed: {} of {users} row(s) have a `id` outside [1, 2, 3]",
            users - 3
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("  id=4, "), "{}", out.stderr);
    assert_eq!(files(dir.path()), ["t.yaml"]);
}

#[test]
fn graph_mistakes_are_reported_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "version: 1
http: { base_url: \"http://127.0.0.1:9\" }
sources:
  users: { endpoint: /users }
  posts: { endpoint: /posts }
transforms:
  joined:
    sql: SELECT * FROM users u JOIN post p ON p.userId = u.id
  early:
    from: later
    steps:
      - limit: 1
  later:
    from: users
    steps:
      - join: { with: postz, on: id }
  users:
    sql: SELECT 1
  unused:
    sql: SELECT * FROM users
  both:
    sql: SELECT 1
    from: users
sinks:
  out: { from: joined, format: csv, path: out.csv }
  other: { from: early, format: csv, path: other.csv }
  third: { from: nothing, format: csv, path: third.csv }
";
    std::fs::write(dir.path().join("g.yaml"), yaml).unwrap();
    let out = etl(dir.path(), &["validate", "g.yaml"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    insta::assert_snapshot!("graph_errors", out.stderr);
    // Transforms feeding no sink are reported, without failing a valid file.
    let ok = "version: 1
http: { base_url: \"http://127.0.0.1:9\" }
sources:
  users: { endpoint: /users }
transforms:
  unused: { sql: SELECT * FROM users }
sinks:
  out: { from: users, format: csv, path: out.csv }
";
    std::fs::write(dir.path().join("ok.yaml"), ok).unwrap();
    let out = etl(dir.path(), &["validate", "ok.yaml"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("warning: ok.yaml: transform `unused` feeds no sink; it is not computed"),
        "{}",
        out.stderr
    );
}

#[test]
fn customer_value_matches_an_independent_computation() {
    let data = Dataset::load(&repo().join("fixtures/shop")).unwrap();
    let api = MockServer::start(data, MockConfig::default()).unwrap();
    let (dir, out) = run_shipped(&api, "customer_value.yaml", "SHOP_API_URL");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let folder = dir.path().join("reports/customer_value");
    let csv_files: Vec<String> = files(&folder)
        .into_iter()
        .filter(|f| Path::new(f).extension().is_some_and(|e| e == "csv"))
        .collect();
    assert_eq!(csv_files.len(), 2, "{csv_files:?}");
    let latest = std::fs::read(folder.join("latest.csv")).unwrap();
    let report = csv_files.iter().find(|f| *f != "latest.csv").unwrap();
    assert_eq!(std::fs::read(folder.join(report)).unwrap(), latest);

    // The figures, computed here from every order.
    let mut want: std::collections::BTreeMap<i64, (i64, f64, i64)> =
        std::collections::BTreeMap::new();
    for o in api.orders() {
        let c = o["customer_id"].as_i64().unwrap();
        let status = o["status"].as_str().unwrap();
        if status == "paid" || status == "shipped" {
            let e = want.entry(c).or_default();
            e.0 += 1;
            e.1 += o["total"].as_f64().unwrap();
        }
    }
    for o in api.orders() {
        if o["status"] == "refunded" {
            if let Some(e) = want.get_mut(&o["customer_id"].as_i64().unwrap()) {
                e.2 += 1;
            }
        }
    }
    let df = read_parquet(&only_file(&folder, ".parquet"));
    assert_eq!(df.height(), want.len());
    let ids = df.column("customer_id").unwrap().i64().unwrap().clone();
    let orders = df.column("orders").unwrap().cast(&DataType::Int64).unwrap();
    let revenue = df.column("revenue").unwrap().f64().unwrap().clone();
    let refunded = df
        .column("refunded_orders")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap();
    let mut previous = f64::INFINITY;
    for i in 0..df.height() {
        let id = ids.get(i).unwrap();
        let (n, total, refunds) = want[&id];
        assert_eq!(orders.i64().unwrap().get(i), Some(n), "customer {id}");
        assert!(
            (revenue.get(i).unwrap() - total).abs() < 0.006,
            "customer {id}"
        );
        assert_eq!(
            refunded.i64().unwrap().get(i),
            Some(refunds),
            "customer {id}"
        );
        assert!(revenue.get(i).unwrap() <= previous, "sorted by revenue");
        previous = revenue.get(i).unwrap();
    }
    assert!(matches!(
        df.column("first_order_at").unwrap().dtype(),
        DataType::Datetime(_, _)
    ));
    // The raw export: every order, one JSON object per line.
    let raw = std::fs::read_to_string(only_file(&folder, ".ndjson")).unwrap();
    assert_eq!(raw.lines().count(), 2000);
    let first: Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert!(first.get("updated_at").is_some());
}
