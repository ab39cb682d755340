//! SIGTERM stops a run promptly and leaves nothing behind.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etl_mockapi::{Dataset, MockConfig, MockServer};
use serde_json::json;

use crate::{files, mock};

fn spawn_etl(dir: &Path, tmp: &Path, url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_etl"))
        .args(["run", "p.yaml"])
        .current_dir(dir)
        .env("API_BASE_URL", url)
        .env("TMPDIR", tmp)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn sigterm(child: &Child) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait(mut child: Child, limit: Duration) -> (i32, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        assert!(
            Instant::now() < deadline,
            "etl did not stop within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_while_fetching_stops_promptly_and_cleanly() {
    let api = mock(MockConfig {
        latency: Duration::from_millis(300),
        ..MockConfig::default()
    });
    let (dir, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let yaml = std::fs::read_to_string(crate::repo().join("pipelines/engagement.yaml")).unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        yaml.replace("page_size: 100", "page_size: 10"),
    )
    .unwrap();
    let child = spawn_etl(dir.path(), tmp.path(), &api.url());
    std::thread::sleep(Duration::from_millis(800));
    // While it runs: transparent huge pages are off for the process (it turns them off at
    // start; mimalloc would ask for them, docs/performance.md). Linux 6.x reports it.
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let thp = status.lines().find_map(|l| l.strip_prefix("THP_enabled:"));
        assert_eq!(thp.map(str::trim), Some("0"), "{status}");
    }
    sigterm(&child);
    let stopped = Instant::now();
    let (code, stderr) = wait(child, Duration::from_secs(10));
    assert_eq!(code, 143, "{stderr}");
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "took {:?}",
        stopped.elapsed()
    );
    assert!(
        stderr.contains("stopped by SIGTERM; no output was written"),
        "{stderr}"
    );
    assert_eq!(files(dir.path()), ["p.yaml"]);
    assert_eq!(
        files(tmp.path()),
        Vec::<String>::new(),
        "staging left behind"
    );
}

#[test]
fn sigterm_while_sinks_write_leaves_no_report_and_no_temp_file() {
    let comments: Vec<_> = (1..=60_000)
        .map(|i| json!({ "id": i, "postId": i % 1000, "name": format!("comment {i}"), "body": "lorem ipsum dolor sit amet, consectetur" }))
        .collect();
    let api = MockServer::start(
        Dataset::from_collections([("comments".to_owned(), comments)]),
        MockConfig::default(),
    )
    .unwrap();
    let (dir, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut yaml = String::from(
        "version: 1\nhttp: { base_url: \"${API_BASE_URL}\" }\nsources:\n  comments: { endpoint: /comments, pagination: { type: offset, page_size: 20000, short_page: end } }\nsinks:\n",
    );
    for i in 0..6 {
        let _ = writeln!(
            yaml,
            "  out{i}: {{ from: comments, format: csv, path: \"reports/{{sink}}.csv\" }}"
        );
    }
    std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();
    let child = spawn_etl(dir.path(), tmp.path(), &api.url());
    // Wait for the first temporary file of a sink, then stop the run.
    let reports = dir.path().join("reports");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if files(&reports)
            .iter()
            .any(|f| Path::new(f).extension().is_some_and(|e| e == "tmp"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no sink started writing");
        std::thread::sleep(Duration::from_millis(2));
    }
    sigterm(&child);
    let (code, stderr) = wait(child, Duration::from_secs(20));
    assert_eq!(code, 143, "the run finished before the signal: {stderr}");
    // Not even the folder made for the reports is left.
    assert!(!reports.exists(), "left: {:?}", files(&reports));
    assert_eq!(files(dir.path()), ["p.yaml"]);
    assert_eq!(
        files(tmp.path()),
        Vec::<String>::new(),
        "staging left behind"
    );
}
