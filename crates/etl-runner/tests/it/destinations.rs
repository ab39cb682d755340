//! Reports in databases: the engagement report in SQLite and PostgreSQL equals the CSV value
//! for value (each read back independently: the sqlite file with rusqlite, PostgreSQL with
//! `psql`), merges leave the truth, a killed load leaves the previous table, and a
//! destination that cannot be reached fails the run before the first API request.
//!
//! PostgreSQL is the real server `scripts/services.sh` starts (`make test`); without it these
//! tests fail, they are never skipped.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etl_mockapi::{Dataset, MockConfig, MockServer};
use serde_json::{Value, json};

use crate::{Row, engagement_with, etl, expected_report, killable_tmp, mock, repo, report_in};

/// The server `scripts/services.sh` started: `postgres://etl:PASSWORD@127.0.0.1:PORT/etl`.
fn postgres_url() -> String {
    std::env::var("ETL_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "ETL_TEST_POSTGRES_URL is not set: run the tests through `make test` (or \
             `scripts/services.sh cargo test`), which starts PostgreSQL"
        )
    })
}

/// `psql` on the test server: the output of `sql` as CSV (no header).
fn psql(sql: &str) -> String {
    psql_with(&["--csv"], sql)
}

/// `psql` on the test server, unaligned, without a header, with `options`.
fn psql_with(options: &[&str], sql: &str) -> String {
    let out = Command::new("psql")
        .arg(postgres_url())
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(options)
        .args(["-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("psql runs (installed with the server by scripts/services.sh)");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A table name no other test uses.
fn unique_table(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// The rows of `table`, read with `psql` as JSON (text with commas, quotes and line breaks
/// survives).
fn rows_in_postgres(table: &str) -> Vec<Row> {
    let json = psql_with(
        &[],
        &format!(
            "SELECT coalesce(json_agg(t ORDER BY id), '[]') FROM (SELECT {COLUMNS} FROM {table}) t"
        ),
    );
    let rows: Vec<Value> = serde_json::from_str(json.trim()).unwrap();
    rows.iter()
        .map(|r| Row {
            id: r["id"].as_i64().unwrap(),
            name: r["name"].as_str().unwrap().to_owned(),
            email: r["email"].as_str().unwrap().to_owned(),
            company_name: r["company_name"].as_str().unwrap().to_owned(),
            total_posts: r["total_posts"].as_i64().unwrap(),
            total_comments: r["total_comments"].as_i64().unwrap(),
            avg_comments_per_post: r["avg_comments_per_post"].as_f64().unwrap(),
        })
        .collect()
}

const COLUMNS: &str = "id, name, email, company_name, total_posts, total_comments, \
                       avg_comments_per_post";

#[test]
fn the_demo_report_in_sqlite_equals_the_csv() {
    let api = mock(MockConfig::default());
    let (dir, out) = crate::run_variant(&api, &[], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let csv = report_in(dir.path());
    assert_eq!(csv, expected_report());
    let db = rusqlite::Connection::open(dir.path().join("reports/engagement.sqlite")).unwrap();
    let mut statement = db
        .prepare(&format!("SELECT {COLUMNS} FROM engagement ORDER BY id"))
        .unwrap();
    let rows: Vec<Row> = statement
        .query_map([], |r| {
            Ok(Row {
                id: r.get(0)?,
                name: r.get(1)?,
                email: r.get(2)?,
                company_name: r.get(3)?,
                total_posts: r.get(4)?,
                total_comments: r.get(5)?,
                avg_comments_per_post: r.get(6)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, csv);
    assert!(
        out.stdout
            .contains("table `engagement` in reports/engagement.sqlite"),
        "{}",
        out.stdout
    );
}

/// The engagement pipeline with a PostgreSQL sink of `table` added.
fn with_postgres(table: &str, extra: &str) -> Vec<(String, String)> {
    vec![(
        "sinks:\n".to_owned(),
        format!(
            "sinks:\n  warehouse:\n    from: engagement\n    format: postgres\n    url: ${{DATABASE_URL}}\n    table: {table}\n{extra}"
        ),
    )]
}

fn run_with(
    api: &MockServer,
    replacements: &[(String, String)],
    url: &str,
) -> (tempfile::TempDir, crate::Outcome) {
    let pairs: Vec<(&str, &str)> = replacements
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    crate::run_variant(api, &pairs, &[("DATABASE_URL", url)])
}

#[test]
fn the_report_in_postgres_equals_the_csv_and_the_manifest_masks_the_password() {
    let api = mock(MockConfig::default());
    let table = unique_table("engagement");
    let url = postgres_url();
    let (dir, out) = run_with(&api, &with_postgres(&table, ""), &url);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let csv = report_in(dir.path());
    let pg = rows_in_postgres(&table);
    assert_eq!(pg, csv);
    let password = password_of(&url);
    let manifest = newest_manifest(dir.path());
    let text = manifest.to_string();
    assert!(!text.contains(&password), "{text}");
    assert!(!out.stdout.contains(&password) && !out.stderr.contains(&password));
    let entry = manifest["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "warehouse")
        .unwrap()
        .clone();
    assert_eq!(entry["table"], table.as_str());
    assert_eq!(entry["rows"], 10);
    assert_eq!(entry["mode"], "replace");
    assert!(
        entry["database"].as_str().unwrap().contains(":***@"),
        "{entry}"
    );
    // A second run replaces the rows: still the report, once.
    let (_dir, again) = run_with(&api, &with_postgres(&table, ""), &url);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(psql(&format!("SELECT count(*) FROM {table}")).trim(), "10");
    // `etl plan` shows the destination, masked, and makes no request.
    let plan = etl(
        dir.path(),
        &["plan", "p.yaml"],
        &[("DATABASE_URL", &url), ("API_BASE_URL", &api.url())],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains(&format!("table `{table}` in postgres://etl:***@")),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains(&password));
}

fn password_of(url: &str) -> String {
    let userinfo = url.split("://").nth(1).unwrap().split('@').next().unwrap();
    userinfo.split(':').nth(1).unwrap().to_owned()
}

fn newest_manifest(dir: &Path) -> Value {
    let folder = dir.join(".etl/runs");
    let mut all: Vec<Value> = std::fs::read_dir(folder)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    all.sort_by_key(|m: &Value| m["finished_at"].as_str().unwrap().to_owned());
    all.pop().unwrap()
}

#[test]
fn an_unusable_database_fails_the_run_before_any_request() {
    let url = postgres_url();
    let password = password_of(&url);
    let wrong = url.replacen(&format!(":{password}@"), ":not-the-password@", 1);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let unreachable = format!("postgres://etl:{password}@127.0.0.1:{port}/etl?connect_timeout=3");
    for (url, cause) in [(wrong, "password"), (unreachable, "connect")] {
        let api = mock(MockConfig::default());
        let (dir, out) = run_with(&api, &with_postgres(&unique_table("never"), ""), &url);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains("sink `warehouse`"), "{}", out.stderr);
        assert!(
            out.stderr.to_lowercase().contains(cause),
            "{cause}: {}",
            out.stderr
        );
        assert_eq!(
            api.stats().requests,
            0,
            "a source was fetched: {}",
            out.stderr
        );
        assert!(!out.stderr.contains(&password) && !out.stdout.contains(&password));
        assert!(!newest_manifest(dir.path()).to_string().contains(&password));
        assert!(crate::files(&dir.path().join("reports")).is_empty());
    }
    // `etl validate` stays offline: the same file is valid.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        engagement_with(&[(
            "sinks:\n",
            "sinks:\n  warehouse:\n    from: engagement\n    format: postgres\n    url: postgres://etl:pw@127.0.0.1:1/etl\n    table: t\n",
        )]),
    )
    .unwrap();
    let valid = etl(dir.path(), &["validate", "p.yaml"], &[]);
    assert_eq!(valid.code, 0, "{}", valid.stderr);
}

fn shop() -> MockServer {
    let data = Dataset::load(&repo().join("fixtures/shop")).unwrap();
    MockServer::start(data, MockConfig::default()).unwrap()
}

/// Per day: orders and revenue, from every current order.
fn daily_truth(orders: &[Value]) -> Vec<(String, i64, f64)> {
    let mut per_day: std::collections::BTreeMap<String, (i64, f64)> =
        std::collections::BTreeMap::default();
    for o in orders {
        let day = o["created_at"].as_str().unwrap()[..10].to_owned();
        let e = per_day.entry(day).or_default();
        e.0 += 1;
        if !matches!(o["status"].as_str().unwrap(), "refunded" | "cancelled") {
            e.1 += o["total"].as_f64().unwrap();
        }
    }
    per_day.into_iter().map(|(d, (n, r))| (d, n, r)).collect()
}

fn daily_in_postgres(table: &str) -> Vec<(String, i64, f64)> {
    psql(&format!(
        "SELECT day, orders, revenue FROM {table} ORDER BY day"
    ))
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        (
            f[0].to_owned(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
        )
    })
    .collect()
}

#[test]
fn merging_twice_leaves_exactly_the_truth() {
    let api = shop();
    let table = unique_table("daily");
    let url = postgres_url();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("pipelines/daily_sales.yaml"))
        .unwrap()
        .replace("{pipeline}_{timestamp}", "{pipeline}_{run_id}")
        .replace(
            "sinks:\n",
            &format!(
                "sinks:\n  warehouse:\n    from: daily_report\n    format: postgres\n    url: ${{DATABASE_URL}}\n    table: {table}\n    mode: merge\n    primary_key: day\n"
            ),
        );
    std::fs::write(dir.path().join("daily_sales.yaml"), text).unwrap();
    let run = || {
        etl(
            dir.path(),
            &["run", "daily_sales.yaml"],
            &[("SHOP_API_URL", &api.url()), ("DATABASE_URL", &url)],
        )
    };
    let first = run();
    assert_eq!(first.code, 0, "{}", first.stderr);
    let close = |a: &[(String, i64, f64)], b: &[(String, i64, f64)]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && x.1 == y.1 && (x.2 - y.2).abs() < 1e-6)
    };
    let truth = daily_truth(&api.orders());
    assert!(close(&daily_in_postgres(&table), &truth));
    // Between the runs: a refund, a changed total, and new orders on an old and a new day.
    api.update_order(3, json!({"status": "refunded"})).unwrap();
    api.update_order(77, json!({"total": 999.5})).unwrap();
    api.add_orders(vec![
        json!({"id": 900_001, "customer_id": 1, "status": "paid", "total": 10.0,
               "currency": "EUR", "created_at": "2026-11-02T10:00:00Z"}),
        json!({"id": 900_002, "customer_id": 2, "status": "paid", "total": 20.0,
               "currency": "EUR", "created_at": "2026-12-01T08:00:00Z"}),
    ])
    .unwrap();
    let second = run();
    assert_eq!(second.code, 0, "{}", second.stderr);
    let after = daily_truth(&api.orders());
    assert_ne!(truth, after);
    let loaded = daily_in_postgres(&table);
    assert!(close(&loaded, &after), "{loaded:?}\n{after:?}");
    let days: std::collections::BTreeSet<&String> = loaded.iter().map(|r| &r.0).collect();
    assert_eq!(days.len(), loaded.len(), "a day twice");
}

/// Comments of a generated fixture set (100,000 of them) into `table`: a load that lasts.
fn big_load(dir: &Path, table: &str) -> MockServer {
    let fixtures = dir.join("fixtures");
    etl_mockapi::bench::generate_jsonplaceholder(&fixtures, etl_mockapi::bench::Scale::MEDIUM, 7)
        .unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        format!(
            "version: 1\nname: killed\nhttp:\n  base_url: ${{API_BASE_URL}}\n  pagination: {{ type: offset, offset_param: _start, limit_param: _limit, page_size: 5000 }}\nsources:\n  comments: {{ endpoint: /comments }}\nsinks:\n  warehouse:\n    from: comments\n    format: postgres\n    url: ${{DATABASE_URL}}\n    table: {table}\n    mode: append\n"
        ),
    )
    .unwrap();
    MockServer::start(Dataset::load(&fixtures).unwrap(), MockConfig::default()).unwrap()
}

#[test]
fn a_run_killed_during_the_load_leaves_the_previous_table() {
    let dir = tempfile::tempdir().unwrap();
    let table = unique_table("killed");
    let url = postgres_url();
    let api = big_load(dir.path(), &table);
    let env = [("API_BASE_URL", api.url()), ("DATABASE_URL", url.clone())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // A first run puts 100,000 rows in place.
    let first = etl(dir.path(), &["run", "p.yaml"], &env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // The whole table, every column of every row in key order, as one digest.
    let digest =
        format!("SELECT count(*), md5(string_agg(t::text, E'\\n' ORDER BY t.id)) FROM {table} t");
    let before = psql(&digest);
    assert!(before.starts_with("100000,"), "{before}");
    // A second run, appending, is killed (SIGKILL) once its transaction has written rows.
    let marker = unique_table("app");
    let url2 = format!(
        "{url}{}application_name={marker}",
        if url.contains('?') { '&' } else { '?' }
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_etl"))
        .args(["run", "p.yaml"])
        .current_dir(dir.path())
        .env("API_BASE_URL", api.url())
        .env("DATABASE_URL", &url2)
        .env("TMPDIR", killable_tmp(dir.path()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut caught = false;
    while Instant::now() < deadline {
        let writing = psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{marker}' \
             AND backend_xid IS NOT NULL"
        ));
        if writing.trim() != "0" {
            child.kill().unwrap();
            caught = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.wait();
    assert!(caught, "the run ended before its load could be caught");
    // The server ends the dead connection and its transaction; the table is as it was.
    let wait = Instant::now() + Duration::from_secs(10);
    while Instant::now() < wait
        && psql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{marker}'"
        ))
        .trim()
            != "0"
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(psql(&digest), before);
}

/// The S3-compatible server `scripts/services.sh` started, as `AWS_*` variables for `etl`.
pub(crate) fn s3_env() -> (Vec<(String, String)>, String, std::path::PathBuf) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: run the tests through `make test`, which starts the S3 server"
            )
        })
    };
    let env = vec![
        ("AWS_ENDPOINT_URL".to_owned(), var("ETL_TEST_S3_ENDPOINT")),
        (
            "AWS_ACCESS_KEY_ID".to_owned(),
            var("ETL_TEST_S3_ACCESS_KEY_ID"),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            var("ETL_TEST_S3_SECRET_ACCESS_KEY"),
        ),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_ALLOW_HTTP".to_owned(), "true".to_owned()),
    ];
    (
        env,
        var("ETL_TEST_S3_BUCKET"),
        std::path::PathBuf::from(var("ETL_TEST_S3_DATA_DIR")),
    )
}

#[test]
fn the_report_on_s3_equals_the_local_csv_byte_for_byte() {
    let api = mock(MockConfig::default());
    let (aws, bucket, data) = s3_env();
    let prefix = unique_table("engagement");
    let extra = format!(
        "sinks:\n  shared:\n    from: engagement\n    format: csv\n    path: s3://{bucket}/{prefix}/{{pipeline}}_{{timestamp}}.csv\n    latest: s3://{bucket}/{prefix}/latest.csv\n"
    );
    let mut env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("RUST_LOG", "warn"));
    let (dir, out) = crate::run_variant(&api, &[("sinks:\n", extra.as_str())], &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let local = crate::report_files(dir.path());
    let local_bytes = std::fs::read(dir.path().join("reports").join(&local[0])).unwrap();
    let objects: Vec<std::path::PathBuf> = std::fs::read_dir(data.join(&bucket).join(&prefix))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(objects.len(), 2, "{objects:?}");
    for object in &objects {
        assert_eq!(
            std::fs::read(object).unwrap(),
            local_bytes,
            "{}",
            object.display()
        );
    }
    let manifest = newest_manifest(dir.path());
    let entry = manifest["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "shared")
        .unwrap()
        .clone();
    assert!(
        entry["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("s3://{bucket}/{prefix}/engagement_")),
        "{entry}"
    );
    assert_eq!(entry["bytes"], local_bytes.len());
    assert_eq!(
        entry["sha256"].as_str().unwrap(),
        format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&local_bytes))
    );
    let secret = &aws[2].1;
    // `etl plan` shows the object and how its bucket is reached, never the credentials.
    let plan = etl(dir.path(), &["plan", "p.yaml"], &env);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains(&format!(
            "s3://{bucket}/{prefix}/{{pipeline}}_{{timestamp}}.csv (credentials from the environment)"
        )),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains(secret.as_str()));
    assert!(!manifest.to_string().contains(secret.as_str()));
    assert!(!out.stdout.contains(secret.as_str()) && !out.stderr.contains(secret.as_str()));
}

#[test]
fn a_missing_bucket_fails_before_any_request() {
    let api = mock(MockConfig::default());
    let (aws, _, _) = s3_env();
    let extra = "sinks:\n  shared:\n    from: engagement\n    format: parquet\n    path: s3://no-such-bucket-etl/{pipeline}_{timestamp}.parquet\n";
    let env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (dir, out) = crate::run_variant(&api, &[("sinks:\n", extra)], &env);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("sink `shared`"), "{}", out.stderr);
    assert!(out.stderr.contains("no-such-bucket-etl"), "{}", out.stderr);
    assert_eq!(
        api.stats().requests,
        0,
        "a source was fetched: {}",
        out.stderr
    );
    assert!(!out.stderr.contains(aws[2].1.as_str()));
    assert!(crate::files(&dir.path().join("reports")).is_empty());
}

#[test]
fn object_store_credentials_are_taken_from_the_environment_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        engagement_with(&[(
            "sinks:\n",
            "sinks:\n  shared:\n    from: engagement\n    format: csv\n    path: s3://b/r.csv\n    s3: { access_key_id: AKIAEXAMPLE, secret_access_key: wJalrXUtnFEMI-K7MDENG }\n",
        )]),
    )
    .unwrap();
    let out = etl(dir.path(), &["validate", "p.yaml"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "`sinks.shared.s3.secret_access_key`: is a credential written into the pipeline file"
        ),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("wJalrXUtnFEMI") && !out.stderr.contains("AKIAEXAMPLE"),
        "{}",
        out.stderr
    );
}
