//! Run manifests, `etl runs`, and one run of a pipeline at a time.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etl_mockapi::{AuthRequirement, MockConfig};
use serde_json::Value;

use crate::{etl, mock, run_variant};

fn manifests(dir: &std::path::Path) -> Vec<Value> {
    let folder = dir.join(".etl/runs/engagement");
    let mut all: Vec<Value> = std::fs::read_dir(&folder)
        .map(|entries| {
            entries
                .map(|e| {
                    serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap()
                })
                .collect()
        })
        .unwrap_or_default();
    all.sort_by_key(|m| m["started_at"].as_str().unwrap().to_owned());
    all
}

#[test]
fn every_run_writes_a_manifest_with_checksums_and_no_secret() {
    let api = mock(MockConfig {
        auth: Some(AuthRequirement::Bearer("tok-manifest-1".into())),
        ..MockConfig::default()
    });
    let auth = (
        "# auth: { type: bearer, token: \"${API_TOKEN}\" }   # JSONPlaceholder needs none",
        "auth: { type: bearer, token: \"${API_TOKEN}\" }",
    );
    let (dir, out) = run_variant(&api, &[auth], &[("API_TOKEN", "tok-manifest-1")]);
    assert_eq!(out.code, 0, "{out:?}");
    let m = &manifests(dir.path())[0];
    assert_eq!(m["status"], "succeeded");
    assert_eq!(m["pipeline"], "engagement");
    assert_eq!(m["sources"].as_array().unwrap().len(), 3);
    assert_eq!(m["sources"][2]["records"], 500);
    let sink = &m["sinks"][0];
    let written = dir.path().join(sink["path"].as_str().unwrap());
    assert_eq!(
        sink["sha256"].as_str().unwrap(),
        etl_runner::manifest::sha256_file(&written).unwrap()
    );
    assert_eq!(sink["rows"], 10);
    let pipeline = std::fs::read(dir.path().join("p.yaml")).unwrap();
    assert_eq!(
        m["pipeline_sha256"].as_str().unwrap(),
        etl_runner::manifest::sha256(&pipeline)
    );
    assert!(
        out.stdout.contains("manifest: .etl/runs/engagement/"),
        "{}",
        out.stdout
    );

    // A failed run is recorded too, with its error, and no secret.
    let out = etl(
        dir.path(),
        &["run", "p.yaml"],
        &[("API_BASE_URL", &api.url()), ("API_TOKEN", "tok-wrong-2")],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let all = manifests(dir.path());
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["status"], "failed");
    assert!(all[1]["error"].as_str().unwrap().contains("answered 401"));
    let text = std::fs::read_to_string(
        dir.path()
            .join(".etl/runs/engagement")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    assert!(!text.contains("tok-manifest-1"));
    for m in &all {
        assert!(
            !m.to_string().contains("tok-wrong-2") && !m.to_string().contains("tok-manifest-1")
        );
    }

    // `etl runs` lists them, newest first.
    let out = etl(dir.path(), &["runs", "p.yaml"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[1].contains("failed") && lines[2].contains("succeeded"),
        "{}",
        out.stdout
    );
    assert!(
        !dir.path().join(".etl/locks/engagement.lock").exists(),
        "the lock is released"
    );
}

#[test]
fn a_second_run_of_the_same_pipeline_exits_75() {
    let api = mock(MockConfig {
        latency: Duration::from_millis(200),
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(crate::repo().join("pipelines/engagement.yaml")).unwrap();
    std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_etl"))
        .args(["run", "p.yaml"])
        .current_dir(dir.path())
        .env("API_BASE_URL", api.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = dir.path().join(".etl/locks/engagement.lock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lock.exists() {
        assert!(Instant::now() < deadline, "the first run took no lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = etl(
        dir.path(),
        &["run", "p.yaml"],
        &[("API_BASE_URL", &api.url())],
    );
    assert_eq!(second.code, 75, "{second:?}");
    assert!(
        second
            .stderr
            .contains("pipeline `engagement` is already running"),
        "{}",
        second.stderr
    );
    assert!(first.wait().unwrap().success());
    assert_eq!(crate::report_files(dir.path()).len(), 1);
}

#[test]
fn keep_last_keeps_the_newest_reports_of_a_sink() {
    let api = mock(MockConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(crate::repo().join("pipelines/engagement.yaml"))
        .unwrap()
        .replace(
            "path: reports/{pipeline}_{timestamp}.csv",
            "path: reports/{pipeline}_{run_id}.csv\n    keep_last: 2",
        )
        // Three runs may fall in one second: the page is named by run too.
        .replace(
            "path: reports/{pipeline}_{timestamp}.html",
            "path: reports/{pipeline}_{run_id}.html",
        );
    std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();
    std::fs::create_dir(dir.path().join("reports")).unwrap();
    std::fs::write(dir.path().join("reports/unrelated.csv"), "mine").unwrap();
    for _ in 0..3 {
        let out = etl(
            dir.path(),
            &["run", "p.yaml"],
            &[("API_BASE_URL", &api.url())],
        );
        assert_eq!(out.code, 0, "{out:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = crate::report_files(dir.path());
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&"unrelated.csv".to_owned()));
    // The two newest runs' files remain.
    let runs: Vec<String> = manifests(dir.path())
        .iter()
        .map(|m| m["run_id"].as_str().unwrap().to_owned())
        .collect();
    for run in &runs[1..] {
        assert!(
            left.contains(&format!("engagement_{run}.csv")),
            "{run} missing from {left:?}"
        );
    }
}
