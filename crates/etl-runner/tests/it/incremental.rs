//! Nightly jobs: the daily sales pipeline run twice with changes between the runs, state that
//! never gets ahead of the outputs, backfills and subsets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use etl_mockapi::{Dataset, MockConfig, MockServer};
use polars::prelude::*;
use serde_json::{Value, json};

use crate::{Outcome, etl, repo};

fn shop() -> MockServer {
    let data = Dataset::load(&repo().join("fixtures/shop")).unwrap();
    MockServer::start(data, MockConfig::default()).unwrap()
}

/// `daily_sales.yaml` as shipped, file names by run id (two runs may share a second here).
fn daily_sales(dir: &Path, replacements: &[(&str, &str)]) {
    let mut text = std::fs::read_to_string(repo().join("pipelines/daily_sales.yaml")).unwrap();
    text = text.replace("{pipeline}_{timestamp}", "{pipeline}_{run_id}");
    for (from, to) in replacements {
        assert!(text.contains(from), "`{from}` is not in daily_sales.yaml");
        text = text.replace(from, to);
    }
    std::fs::write(dir.join("daily_sales.yaml"), text).unwrap();
}

fn run(dir: &Path, api: &MockServer, extra: &[&str]) -> Outcome {
    let url = api.url();
    let mut args = vec!["run", "daily_sales.yaml"];
    args.extend_from_slice(extra);
    etl(dir, &args, &[("SHOP_API_URL", &url)])
}

/// The manifest a run printed the path of.
fn manifest(dir: &Path, out: &Outcome) -> Value {
    let line = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("manifest: "))
        .unwrap_or_else(|| panic!("no manifest line in {}", out.stdout));
    serde_json::from_slice(&std::fs::read(dir.join(line)).unwrap()).unwrap()
}

/// Checks a manifest against `docs/manifest.schema.json`, and its checksums against the files.
fn check_manifest(m: &Value) {
    let schema: Value =
        serde_json::from_slice(&std::fs::read(repo().join("docs/manifest.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(m).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?} in {m:#}");
    let sha = |path: &str| {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(std::fs::read(path).unwrap()))
    };
    for sink in m["sinks"].as_array().unwrap() {
        assert_eq!(
            sink["sha256"].as_str().unwrap(),
            sha(sink["absolute_path"].as_str().unwrap())
        );
    }
}

fn newest_manifest(dir: &Path) -> Value {
    let folder = dir.join(".etl/runs/daily_sales");
    let mut all: Vec<Value> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    all.sort_by_key(|m: &Value| m["finished_at"].as_str().unwrap().to_owned());
    all.pop().unwrap()
}

fn sink_path(manifest: &Value, sink: &str) -> PathBuf {
    let entry = manifest["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == sink)
        .unwrap();
    PathBuf::from(entry["absolute_path"].as_str().unwrap())
}

/// Per day: orders, revenue, average order value, refunded share.
type Daily = BTreeMap<String, (i64, f64, f64, f64)>;

/// The daily figures computed from scratch from every current order.
fn expected(orders: &[Value]) -> Daily {
    let mut per_day: BTreeMap<String, (i64, f64, i64, i64)> = BTreeMap::new();
    for o in orders {
        let day = o["created_at"].as_str().unwrap()[..10].to_owned();
        let status = o["status"].as_str().unwrap();
        let e = per_day.entry(day).or_default();
        e.0 += 1;
        if status != "refunded" && status != "cancelled" {
            e.1 += o["total"].as_f64().unwrap();
            e.2 += 1;
        }
        if status == "refunded" {
            e.3 += 1;
        }
    }
    per_day
        .into_iter()
        .map(|(day, (n, revenue, paid, refunded))| {
            #[allow(clippy::cast_precision_loss)]
            let aov = if paid == 0 {
                0.0
            } else {
                revenue / paid as f64
            };
            #[allow(clippy::cast_precision_loss)]
            let share = refunded as f64 / n as f64;
            (day, (n, revenue, aov, share))
        })
        .collect()
}

fn read_daily(path: &Path) -> Daily {
    let df = if path.extension().is_some_and(|e| e == "parquet") {
        ParquetReader::new(std::fs::File::open(path).unwrap())
            .finish()
            .unwrap()
    } else {
        CsvReadOptions::default()
            .with_has_header(true)
            .try_into_reader_with_file_path(Some(path.to_owned()))
            .unwrap()
            .finish()
            .unwrap()
    };
    let col = |n: &str| df.column(n).unwrap().clone();
    let days = col("day");
    let orders = col("orders").cast(&DataType::Int64).unwrap();
    let revenue = col("revenue").cast(&DataType::Float64).unwrap();
    let aov = col("average_order_value").cast(&DataType::Float64).unwrap();
    let share = col("refunded_share").cast(&DataType::Float64).unwrap();
    (0..df.height())
        .map(|i| {
            (
                days.str().unwrap().get(i).unwrap().to_owned(),
                (
                    orders.i64().unwrap().get(i).unwrap(),
                    revenue.f64().unwrap().get(i).unwrap(),
                    aov.f64().unwrap().get(i).unwrap(),
                    share.f64().unwrap().get(i).unwrap(),
                ),
            )
        })
        .collect()
}

fn assert_same(got: &Daily, want: &Daily) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (day, g) in got {
        let w = want[day];
        assert_eq!(g.0, w.0, "orders on {day}");
        for (what, a, b) in [
            ("revenue", g.1, w.1),
            ("aov", g.2, w.2),
            ("share", g.3, w.3),
        ] {
            assert!((a - b).abs() < 1e-6, "{what} on {day}: {a} vs {b}");
        }
    }
}

fn orders_targets(api: &MockServer, from: usize) -> Vec<String> {
    api.stats()
        .targets
        .iter()
        .skip(from)
        .filter(|t| t.starts_with("/orders"))
        .cloned()
        .collect()
}

#[test]
fn the_second_run_fetches_only_changes_and_equals_a_full_recomputation() {
    let api = shop();
    let dir = tempfile::tempdir().unwrap();
    daily_sales(dir.path(), &[]);

    let first = run(dir.path(), &api, &[]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let m1 = manifest(dir.path(), &first);
    check_manifest(&m1);
    let before = expected(&api.orders());
    assert_same(&read_daily(&sink_path(&m1, "daily_parquet")), &before);
    assert_same(&read_daily(&sink_path(&m1, "daily_csv")), &before);
    let cursor1 = m1["sources"][0]["cursor"]["after"]
        .as_str()
        .unwrap()
        .to_owned();
    let max_updated = api
        .orders()
        .iter()
        .map(|o| o["updated_at"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    assert_eq!(cursor1, max_updated);

    // Between the runs: a refund and a cancellation of old orders, a late payment, and two
    // new orders, one of them created on an old day.
    api.update_order(3, json!({"status": "refunded"})).unwrap();
    api.update_order(40, json!({"status": "cancelled"}))
        .unwrap();
    api.update_order(77, json!({"total": 999.5})).unwrap();
    api.add_orders(vec![
        json!({"id": 5001, "customer_id": 1, "status": "paid", "total": 12.5,
               "currency": "EUR", "created_at": "2026-11-02T10:00:00Z"}),
        json!({"id": 5002, "customer_id": 2, "status": "paid", "total": 30.0,
               "currency": "EUR", "created_at": "2026-11-26T08:00:00Z"}),
    ])
    .unwrap();
    let seen = api.stats().targets.len();
    let second = run(dir.path(), &api, &[]);
    assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
    let m2 = manifest(dir.path(), &second);
    check_manifest(&m2);
    let pipeline_file = std::fs::read(dir.path().join("daily_sales.yaml")).unwrap();
    assert_eq!(
        m2["pipeline_sha256"].as_str().unwrap(),
        format!(
            "{:x}",
            <sha2::Sha256 as sha2::Digest>::digest(&pipeline_file)
        )
    );
    assert_eq!(m2["tables"][0]["rows"], 2002);

    // Only what changed since the first run (less the 1h lookback) was asked for.
    let since = "2026-11-25T22:57:46Z";
    assert_eq!(cursor1, "2026-11-25T23:57:46Z", "the fixture changed");
    let asked = orders_targets(&api, seen);
    assert!(!asked.is_empty());
    for target in &asked {
        assert!(
            target.contains(&format!("updated_since={since}")),
            "{target}"
        );
    }
    let window = api
        .orders()
        .iter()
        .filter(|o| o["updated_at"].as_str().unwrap() >= since)
        .count() as u64;
    let source = &m2["sources"][0];
    assert_eq!(source["records"].as_u64().unwrap(), window);
    assert!(window < 30, "the window holds {window} orders");
    assert_eq!(source["cursor"]["before"], cursor1.as_str());
    assert_eq!(source["cursor"]["sent"], since);
    assert!(source["cursor"]["after"].as_str().unwrap() > cursor1.as_str());

    // The figures equal a recomputation over every current order, old days included.
    let after = expected(&api.orders());
    assert_ne!(before, after);
    assert_same(&read_daily(&sink_path(&m2, "daily_parquet")), &after);
    assert_same(&read_daily(&sink_path(&m2, "daily_csv")), &after);

    // And a run from scratch elsewhere computes the same.
    let fresh = tempfile::tempdir().unwrap();
    daily_sales(fresh.path(), &[]);
    let full = run(fresh.path(), &api, &[]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    let m3 = manifest(fresh.path(), &full);
    assert_eq!(
        read_daily(&sink_path(&m3, "daily_parquet")),
        read_daily(&sink_path(&m2, "daily_parquet"))
    );

    // The state says where the next run starts, and `etl state` shows and resets it.
    let shown = etl(dir.path(), &["state", "show", "daily_sales.yaml"], &[]);
    assert_eq!(shown.code, 0);
    // The cursor is the latest `updated_at` the API holds (the mock stamps updates with the
    // time they are made, so no date is written here).
    let latest = api
        .orders()
        .iter()
        .map(|o| o["updated_at"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    assert!(
        shown
            .stdout
            .contains(&format!("orders: updated_at = {latest}")),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("2002 rows"), "{}", shown.stdout);
    let reset = etl(
        dir.path(),
        &["state", "reset", "daily_sales.yaml", "--source", "orders"],
        &[],
    );
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    assert!(
        !dir.path()
            .join(".etl/data/daily_sales/orders.parquet")
            .exists()
    );
    let typo = etl(
        dir.path(),
        &["state", "reset", "daily_sales.yaml", "--source", "order"],
        &[],
    );
    assert_eq!(typo.code, 2);
    assert!(
        typo.stderr.contains("did you mean `orders`?"),
        "{}",
        typo.stderr
    );
}

#[test]
fn a_failed_sink_leaves_the_state_byte_identical_and_the_window_is_fetched_again() {
    let api = shop();
    let dir = tempfile::tempdir().unwrap();
    daily_sales(dir.path(), &[]);
    let first = run(dir.path(), &api, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let state_file = dir.path().join(".etl/state/daily_sales.json");
    let table_file = dir.path().join(".etl/data/daily_sales/orders.parquet");
    let state = std::fs::read(&state_file).unwrap();
    let table = std::fs::read(&table_file).unwrap();

    api.update_order(10, json!({"status": "refunded"})).unwrap();
    // The CSV sink's folder is a file: that sink fails after the orders were fetched.
    daily_sales(
        dir.path(),
        &[(
            "path: reports/daily_sales/{pipeline}_{run_id}.csv",
            "path: blocked/{pipeline}_{run_id}.csv",
        )],
    );
    std::fs::write(dir.path().join("blocked"), "not a folder").unwrap();
    let seen = api.stats().targets.len();
    let failed = run(dir.path(), &api, &[]);
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    assert!(failed.stderr.contains("daily_csv"), "{}", failed.stderr);
    assert_eq!(std::fs::read(&state_file).unwrap(), state);
    assert_eq!(std::fs::read(&table_file).unwrap(), table);
    let failed_asked = orders_targets(&api, seen);
    let failed_manifest = newest_manifest(dir.path());
    assert_eq!(failed_manifest["status"], "failed");
    assert!(failed_manifest["state_saved"].is_null());
    check_manifest(&failed_manifest);

    std::fs::remove_file(dir.path().join("blocked")).unwrap();
    let seen = api.stats().targets.len();
    let again = run(dir.path(), &api, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(orders_targets(&api, seen), failed_asked);
    assert_ne!(std::fs::read(&state_file).unwrap(), state);
    let m = manifest(dir.path(), &again);
    assert_same(
        &read_daily(&sink_path(&m, "daily_parquet")),
        &expected(&api.orders()),
    );
}

#[test]
fn a_backfill_does_not_move_the_state_unless_asked_and_options_are_checked() {
    let api = shop();
    let dir = tempfile::tempdir().unwrap();
    daily_sales(dir.path(), &[]);
    let first = run(dir.path(), &api, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let state_file = dir.path().join(".etl/state/daily_sales.json");
    let state = std::fs::read(&state_file).unwrap();

    let seen = api.stats().targets.len();
    let backfill = run(
        dir.path(),
        &api,
        &["--since", "2026-11-20", "--until", "2026-11-21T00:00:00Z"],
    );
    assert_eq!(backfill.code, 0, "{}", backfill.stderr);
    assert!(
        backfill.stdout.contains("state not saved"),
        "{}",
        backfill.stdout
    );
    assert_eq!(std::fs::read(&state_file).unwrap(), state);
    let asked = orders_targets(&api, seen);
    assert!(
        asked[0].contains("updated_since=2026-11-20T00:00:00Z"),
        "{asked:?}"
    );
    let m = manifest(dir.path(), &backfill);
    let kept = api
        .orders()
        .iter()
        .filter(|o| {
            let u = o["updated_at"].as_str().unwrap();
            ("2026-11-20T00:00:00Z"..="2026-11-21T00:00:00Z").contains(&u)
        })
        .count() as u64;
    let skipped = m["sources"][0]["cursor"]["after_until"].as_u64().unwrap();
    assert_eq!(m["sources"][0]["records"].as_u64().unwrap() - skipped, kept);
    assert!(m["sources"][0]["cursor"]["after"].as_str().unwrap() <= "2026-11-21T00:00:00Z");
    // The report still covers every order: the merged table is read, not replaced.
    assert_same(
        &read_daily(&sink_path(&m, "daily_parquet")),
        &expected(&api.orders()),
    );

    // Saved on request, but a cursor never moves back: the next nightly run goes on from
    // where the last one stopped.
    let cursor = |dir: &Path| -> Value {
        let state: Value = serde_json::from_slice(
            &std::fs::read(dir.join(".etl/state/daily_sales.json")).unwrap(),
        )
        .unwrap();
        state["sources"]["orders"]["cursor"].clone()
    };
    let stored = cursor(dir.path());
    assert_eq!(stored, "2026-11-25T23:57:46Z");
    let saved = run(
        dir.path(),
        &api,
        &[
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-05",
            "--save-state",
        ],
    );
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    assert_ne!(std::fs::read(&state_file).unwrap(), state);
    assert_eq!(cursor(dir.path()), stored);
    api.update_order(9, json!({"status": "shipped"})).unwrap();
    let saved = run(dir.path(), &api, &["--since", "2026-11-25", "--save-state"]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let moved = cursor(dir.path());
    assert!(
        moved.as_str().unwrap() > stored.as_str().unwrap(),
        "{moved}"
    );

    // A stored cursor of another field is not used for this one.
    let renamed = std::fs::read_to_string(dir.path().join("daily_sales.yaml"))
        .unwrap()
        .replace("cursor_field: updated_at", "cursor_field: created_at");
    std::fs::write(dir.path().join("renamed.yaml"), renamed).unwrap();
    let state_now = std::fs::read(&state_file).unwrap();
    let out = etl(
        dir.path(),
        &["run", "renamed.yaml"],
        &[("SHOP_API_URL", &api.url())],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "is a `updated_at` value, but the pipeline's `cursor_field` is now `created_at`"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&state_file).unwrap(), state_now);

    for (args, needle) in [
        (&["--only", "order"][..], "did you mean `orders`?"),
        (&["--since", "last tuesday"][..], "--since: `last tuesday`"),
        (
            &["--since", "2026-11-02", "--until", "2026-11-01"][..],
            "must be after --since",
        ),
    ] {
        let out = run(dir.path(), &api, args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn etl_schedule_runs_a_pipeline_on_its_schedule_and_stops_on_sigterm() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    // Slow answers: the first run (20 pages) outlasts a few ticks, which are skipped.
    let data = Dataset::load(&repo().join("fixtures/shop")).unwrap();
    let api = MockServer::start(
        data,
        MockConfig {
            latency: Duration::from_millis(250),
            ..MockConfig::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    daily_sales(
        dir.path(),
        &[(
            r#"schedule: { cron: "0 2 * * *", timezone: UTC }"#,
            r#"schedule: "*/2 * * * * *""#,
        )],
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_etl"));
    // Its own process group, so that the signal can go to the whole group, as a Ctrl-C or a
    // service manager sends it, without reaching this test.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .args(["schedule", "daily_sales.yaml"])
        .current_dir(dir.path())
        .env("SHOP_API_URL", api.url())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let log = std::sync::Arc::clone(&log);
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
                let mut l = log.lock().unwrap();
                l.push_str(&line.unwrap());
                l.push('\n');
            }
        })
    };
    let text = || log.lock().unwrap().clone();
    // Two runs done, and a third under way: the stop comes in the middle of it.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let t = text();
        let done = t.matches(": run succeeded").count();
        let in_flight = t.rfind(": run started") > t.rfind(": run succeeded");
        if done >= 2 && in_flight {
            break;
        }
        assert!(Instant::now() < deadline, "no third run in 40 s:\n{t}");
        assert!(
            child.try_wait().unwrap().is_none(),
            "etl schedule ended:\n{t}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Past the run's start-up, into its request.
    std::thread::sleep(Duration::from_millis(150));
    // procps `kill`: the shell's builtin may not take a process group.
    let sent = Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "etl schedule did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    let log = text();
    let runs = dir.path().join(".etl/runs/daily_sales");
    assert!(
        log.contains("skipped the run due at"),
        "no tick was skipped during the long first run:\n{log}"
    );
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("daily_sales: scheduled `*/2 * * * * *` (UTC)"),
        "{log}"
    );
    assert!(
        log.contains("daily_sales: run succeeded with exit code 0"),
        "{log}"
    );
    assert!(log.contains("stopping (SIGTERM)"), "{log}");
    assert!(log.trim_end().ends_with("stopped"), "{log}");
    // Every run that started recorded how it ended (a run cut short by the stop cleaned up and
    // recorded the interruption), and none is left holding the lock.
    let started = log.matches(": run started").count();
    let recorded: Vec<Value> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    assert_eq!(recorded.len(), started, "{log}");
    let interrupted = recorded
        .iter()
        .filter(|m| m["status"] == "interrupted")
        .count();
    assert_eq!(interrupted, 1, "{log}");
    assert_eq!(
        recorded.len() - interrupted,
        log.matches(": run succeeded").count()
    );
    assert!(!dir.path().join(".etl/locks/daily_sales.lock").exists());

    // A pipeline without a schedule is refused.
    std::fs::write(
        dir.path().join("plain.yaml"),
        std::fs::read_to_string(dir.path().join("daily_sales.yaml"))
            .unwrap()
            .replace(r#"schedule: "*/2 * * * * *""#, ""),
    )
    .unwrap();
    let out = etl(dir.path(), &["schedule", "plain.yaml"], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("has no `schedule`"), "{}", out.stderr);
}

#[test]
fn only_runs_a_subset_and_what_needs_nothing_else() {
    let api = crate::mock(MockConfig::default());
    let (dir, out) = crate::run_variant(&api, &[], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let before = api.stats();
    let subset = etl(
        dir.path(),
        &["run", "p.yaml", "--only", "users,posts"],
        &[("API_BASE_URL", &api.url())],
    );
    assert_eq!(subset.code, 0, "{}", subset.stderr);
    assert!(
        subset
            .stdout
            .contains("left out by --only: transform `engagement`, sink `report`"),
        "{}",
        subset.stdout
    );
    let after = api.stats();
    let asked = |s: &etl_mockapi::Stats, p: &str| s.by_path.get(p).copied().unwrap_or(0);
    assert!(asked(&after, "/users") > asked(&before, "/users"));
    assert!(asked(&after, "/posts") > asked(&before, "/posts"));
    assert_eq!(asked(&after, "/comments"), asked(&before, "/comments"));
    let m = manifest(dir.path(), &subset);
    assert_eq!(m["sources"].as_array().unwrap().len(), 2);
    assert_eq!(m["options"]["only"], json!(["users", "posts"]));
    check_manifest(&m);
}

#[test]
fn broken_incremental_and_schedule_keys_are_reported_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"version: 1
schedule: { cron: "0 25 * * *", timezone: Europe/Pariss }
manifests: { keep_days: 0 }
http: { base_url: "http://127.0.0.1:9" }
sources:
  orders:
    endpoint: /orders
    primary_key: []
    incremental:
      cursor_field: updated_at
      initial: "last week"
      lookback: 1h
sinks:
  out: { from: orders, format: csv, path: out.csv }
"#;
    std::fs::write(dir.path().join("bad.yaml"), yaml).unwrap();
    let out = etl(dir.path(), &["validate", "bad.yaml"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    for needle in [
        "bad.yaml:2:",
        "`Europe/Pariss` is not an IANA time zone",
        "bad.yaml:3:",
        "`manifests.keep_days`: must be at least 1",
        "`sources.orders.primary_key`: names no field",
        "`sources.orders.incremental.param`: is missing",
        "`sources.orders.incremental.initial`: `last week` is neither a date-time",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    let fixed = yaml.replace("Europe/Pariss", "UTC");
    std::fs::write(dir.path().join("bad.yaml"), fixed).unwrap();
    let out = etl(dir.path(), &["validate", "bad.yaml"], &[]);
    assert!(
        out.stderr
            .contains("the hour field `25` holds 25, outside 0-23"),
        "{}",
        out.stderr
    );
}

#[test]
fn children_of_for_each_keep_one_cursor_per_parent() {
    let api = shop();
    let dir = tempfile::tempdir().unwrap();
    // Each changed order is fetched again on its own, from that order's own cursor; the start
    // goes in `params` through `{since}`.
    daily_sales(
        dir.path(),
        &[
            ("  rate_limit: { requests: 20, per: 1s, burst: 5 }\n", ""),
            (
                "transforms:",
                "  details:\n    endpoint: /orders/{id}\n    records: \".\"\n    for_each: { source: orders, key: id }\n    \
                 concurrency: 8\n    params: { changed_since: \"{since}\" }\n    incremental:\n      \
                 cursor_field: updated_at\n      initial: \"2026-01-01T00:00:00Z\"\n      lookback: 1h\n\n\
                 transforms:",
            ),
        ],
    );
    let first = run(dir.path(), &api, &[]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let state: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(".etl/state/daily_sales.json")).unwrap(),
    )
    .unwrap();
    let parents = state["sources"]["details"]["parents"].as_object().unwrap();
    assert_eq!(parents.len(), 2000);
    let order3 = api.orders().into_iter().find(|o| o["id"] == 3).unwrap();
    assert_eq!(parents["3"], order3["updated_at"]);

    api.update_order(3, json!({"status": "refunded"})).unwrap();
    api.add_orders(vec![
        json!({"id": 5001, "customer_id": 1, "status": "paid", "total": 1.5,
                                "currency": "EUR", "created_at": "2026-11-02T10:00:00Z"}),
    ])
    .unwrap();
    let seen = api.stats().targets.len();
    let second = run(dir.path(), &api, &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let details: Vec<String> = api
        .stats()
        .targets
        .iter()
        .skip(seen)
        .filter(|t| t.starts_with("/orders/"))
        .cloned()
        .collect();
    // Only the orders in the window are fetched again, each from its own cursor less 1h.
    assert!(!details.is_empty() && details.len() < 30, "{details:?}");
    let old = etl_source::Cursor::parse(order3["updated_at"].as_str().unwrap()).unwrap();
    let since = old
        .minus(etl_source::Lookback::Time(std::time::Duration::from_secs(
            3600,
        )))
        .unwrap();
    assert!(
        details.contains(&format!("/orders/3?changed_since={since}")),
        "{details:?}"
    );
    // A parent seen for the first time starts from `initial`, not from the others' cursors.
    assert!(
        details.contains(&"/orders/5001?changed_since=2026-01-01T00:00:00Z".to_owned()),
        "{details:?}"
    );
    let state: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(".etl/state/daily_sales.json")).unwrap(),
    )
    .unwrap();
    let now3 = api.orders().into_iter().find(|o| o["id"] == 3).unwrap();
    assert_eq!(
        state["sources"]["details"]["parents"]["3"],
        now3["updated_at"]
    );
    assert_eq!(
        state["sources"]["details"]["parents"]
            .as_object()
            .unwrap()
            .len(),
        2001
    );
}

#[test]
fn only_does_not_move_a_cursor_past_records_that_reached_no_output() {
    let api = shop();
    let dir = tempfile::tempdir().unwrap();
    // `recent` (no primary key: no merged table) is joined with `orders` for its own sink.
    daily_sales(
        dir.path(),
        &[
            (
                "transforms:",
                "  recent:\n    endpoint: /orders\n    records: data\n    pagination: { type: cursor, \
                 cursor_param: cursor, cursor_path: next_cursor, limit_param: limit, page_size: 100 }\n    \
                 incremental: { cursor_field: updated_at, param: updated_since, initial: \"2026-01-01T00:00:00Z\" }\n\n\
                 transforms:\n  joined:\n    sql: SELECT r.id, o.status FROM recent r JOIN orders o ON o.id = r.id\n",
            ),
            (
                "sinks:",
                "sinks:\n  joined_csv: { from: joined, format: csv, path: \"reports/joined_{run_id}.csv\" }",
            ),
        ],
    );
    let first = run(dir.path(), &api, &[]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let state_of = || -> Value {
        serde_json::from_slice(
            &std::fs::read(dir.path().join(".etl/state/daily_sales.json")).unwrap(),
        )
        .unwrap()
    };
    let before = state_of();
    api.update_order(5, json!({"status": "refunded"})).unwrap();
    let only = run(dir.path(), &api, &["--only", "recent"]);
    assert_eq!(only.code, 0, "{}", only.stderr);
    assert!(
        only.stdout
            .contains("cursor of `recent` not moved: --only left out outputs that read it"),
        "{}",
        only.stdout
    );
    assert_eq!(state_of()["sources"]["recent"], before["sources"]["recent"]);
    // The next full run still sees the change.
    let full = run(dir.path(), &api, &[]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    let m = manifest(dir.path(), &full);
    let recent = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "recent")
        .unwrap();
    assert_eq!(
        recent["cursor"]["before"],
        before["sources"]["recent"]["cursor"]
    );
    assert!(recent["records"].as_u64().unwrap() >= 1);
}

#[test]
fn sharded_runs_keep_each_parents_cursor_and_move_it_only_at_the_finish() {
    let api = shop();
    let dir = tempfile::tempdir().unwrap();
    daily_sales(
        dir.path(),
        &[
            ("  rate_limit: { requests: 20, per: 1s, burst: 5 }\n", ""),
            (
                "transforms:",
                "  details:\n    endpoint: /orders/{id}\n    records: \".\"\n    for_each: { source: orders, key: id }\n    \
                 concurrency: 8\n    params: { changed_since: \"{since}\" }\n    incremental:\n      \
                 cursor_field: updated_at\n      initial: \"2026-01-01T00:00:00Z\"\n      lookback: 1h\n\n\
                 transforms:",
            ),
        ],
    );
    let stage_dir = dir.path().join("stage");
    let stage_dir = stage_dir.to_str().unwrap();
    let sharded = |run_id: &str| two_shards(dir.path(), &api, run_id, stage_dir);
    let finish = |run_id: &str| {
        let out = run(
            dir.path(),
            &api,
            &["--finish", "--run-id", run_id, "--stage", stage_dir],
        );
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    };
    let state_path = dir.path().join(".etl/state/daily_sales.json");
    sharded("one");
    assert!(!state_path.exists(), "a shard saved the state");
    finish("one");
    let state: Value = serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    let parents = state["sources"]["details"]["parents"].as_object().unwrap();
    assert_eq!(parents.len(), 2000, "both shards' parents");
    // The finish published the state the next run's shards start from.
    let published = std::fs::read(dir.path().join("stage/state/daily_sales.json")).unwrap();
    assert_eq!(published, std::fs::read(&state_path).unwrap());

    api.update_order(3, json!({"status": "refunded"})).unwrap();
    api.add_orders(vec![
        json!({"id": 5001, "customer_id": 1, "status": "paid", "total": 1.5,
                                "currency": "EUR", "created_at": "2026-11-02T10:00:00Z"}),
    ])
    .unwrap();
    let seen = api.stats().targets.len();
    let before = std::fs::read(&state_path).unwrap();
    sharded("two");
    assert_eq!(
        std::fs::read(&state_path).unwrap(),
        before,
        "the shards moved the state"
    );
    let details: Vec<String> = api
        .stats()
        .targets
        .iter()
        .skip(seen)
        .filter(|t| t.starts_with("/orders/"))
        .cloned()
        .collect();
    // Each shard started its parents from their own stored cursors, less the lookback.
    assert!(!details.is_empty() && details.len() < 30, "{details:?}");
    let order3 = etl_source::Cursor::parse("2026-01-01T00:00:00Z").unwrap();
    assert!(
        details.contains(&format!("/orders/5001?changed_since={order3}")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("/orders/3?changed_since=2026-")),
        "{details:?}"
    );
    finish("two");
    let state: Value = serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    let now3 = api.orders().into_iter().find(|o| o["id"] == 3).unwrap();
    assert_eq!(
        state["sources"]["details"]["parents"]["3"],
        now3["updated_at"]
    );
    assert_eq!(
        state["sources"]["details"]["parents"]
            .as_object()
            .unwrap()
            .len(),
        2001
    );

    a_reset_reaches_the_shards_only_through_the_stage(dir.path(), &api, stage_dir);
}

/// Shards 0/2 and 1/2 of `run_id`, one after the other.
fn two_shards(dir: &Path, api: &MockServer, run_id: &str, stage: &str) {
    for k in 0..2 {
        let shard = format!("{k}/2");
        let out = run(
            dir,
            api,
            &["--shard", &shard, "--run-id", run_id, "--stage", stage],
        );
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
}

/// After runs `one` and `two` of the test above.
fn a_reset_reaches_the_shards_only_through_the_stage(
    dir: &Path,
    api: &MockServer,
    stage_dir: &str,
) {
    let state_path = dir.join(".etl/state/daily_sales.json");
    let sharded = |run_id: &str| two_shards(dir, api, run_id, stage_dir);
    let finish = |run_id: &str| {
        run(
            dir,
            api,
            &["--finish", "--run-id", run_id, "--stage", stage_dir],
        )
    };

    // A reset here only: the shards still start from the published state, and the finish
    // will not move this one on from their records.
    let state_cmd = |args: &[&str]| {
        let mut cmd = vec!["state"];
        cmd.extend_from_slice(args);
        let out = etl(dir, &cmd, &[]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        out.stdout
    };
    state_cmd(&["reset", "daily_sales.yaml", "--source", "details"]);
    sharded("three");
    let out = finish("three");
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "shard 0 of run `three` started from the state of run `two` published on the stage, \
             but this finish has the state of run `two`, changed since or another"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("etl state reset daily_sales.yaml --stage"),
        "{}",
        out.stderr
    );
    // The reset made on the stage too: the shards start `details` over, and the finish agrees.
    let said = state_cmd(&[
        "reset",
        "daily_sales.yaml",
        "--source",
        "details",
        "--stage",
        stage_dir,
    ]);
    assert!(
        said.contains("published the state of run two at `"),
        "{said}"
    );
    sharded("four");
    // Shard 0 run again: it takes the orders it published for shard 1 as they are (no list
    // request), so shard 1's share still fits, and the finish agrees.
    let lists = || {
        let targets = api.stats().targets;
        targets
            .iter()
            .filter(|t| t.starts_with("/orders") && !t.starts_with("/orders/"))
            .count()
    };
    let before = lists();
    assert!(before > 0);
    let out = run(
        dir,
        api,
        &["--shard", "0/2", "--run-id", "four", "--stage", stage_dir],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(lists(), before, "shard 0 fetched the orders again");
    let out = finish("four");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let state: Value = serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(state["run_id"], "four");
    assert_eq!(
        std::fs::read(dir.join("stage/state/daily_sales.json")).unwrap(),
        std::fs::read(&state_path).unwrap()
    );
    let shown = state_cmd(&["show", "daily_sales.yaml", "--stage", stage_dir]);
    assert!(
        shown.contains("state of run four") && shown.contains("the same as the state here"),
        "{shown}"
    );
    // A whole reset with --stage removes the published copy too.
    let said = state_cmd(&["reset", "daily_sales.yaml", "--stage", stage_dir]);
    assert!(said.contains("removed"), "{said}");
    assert!(!dir.join("stage/state/daily_sales.json").exists());
    let shown = state_cmd(&["show", "daily_sales.yaml", "--stage", stage_dir]);
    assert!(shown.contains("no state published at"), "{shown}");
}
