//! Sharded runs end to end: four `etl run --shard K/4` processes of
//! `pipelines/engagement_per_post.yaml` at once against the mock API (2,000 parent records, a
//! rate limit), staging on the real S3-compatible server that
//! `make test` starts, then `--finish`; a shard killed and rerun alone; a shard missing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etl_mockapi::bench::{Scale, check_engagement, expected_engagement, generate_jsonplaceholder};
use etl_mockapi::{Dataset, MockConfig, MockServer, RateLimit};

use super::{Outcome, etl, killable_tmp};
use crate::destinations::s3_env;

/// The pipeline's budget: 400 requests a second, shared by however many shards run.
const BUDGET: u32 = 400;

/// The shipped pipeline whose comments are fetched per post, at `BUDGET` requests a second.
fn pipeline() -> String {
    let text =
        std::fs::read_to_string(super::repo().join("pipelines/engagement_per_post.yaml")).unwrap();
    let from = "rate_limit: { requests: 20, per: 1s, burst: 5 }";
    assert!(text.contains(from));
    text.replace(
        from,
        &format!("rate_limit: {{ requests: {BUDGET}, per: 1s }}"),
    )
}

/// `etl run p.yaml ARGS` in `dir`, started (not waited for).
fn start(dir: &Path, args: &[&str], env: &[(String, String)]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_etl"))
        .arg("run")
        .arg("p.yaml")
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("TMPDIR", killable_tmp(dir))
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn run(dir: &Path, args: &[&str], env: &[(String, String)]) -> Outcome {
    let mut all = vec!["run", "p.yaml"];
    all.extend_from_slice(args);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    etl(dir, &all, &env)
}

/// Runs shards `which` of `count` at once, each to the end.
fn shards(dir: &Path, run_id: &str, stage: &str, which: &[u32], env: &[(String, String)]) {
    std::thread::scope(|scope| {
        let runs: Vec<_> = which
            .iter()
            .map(|k| {
                let shard = format!("{k}/4");
                scope.spawn(move || {
                    let args = ["--shard", &shard, "--run-id", run_id, "--stage", stage];
                    (shard.clone(), run(dir, &args, env))
                })
            })
            .collect();
        for r in runs {
            let (shard, out) = r.join().unwrap();
            assert_eq!(out.code, 0, "shard {shard}: {}{}", out.stdout, out.stderr);
            assert!(
                out.stdout
                    .contains(&format!("shard {shard} of run `{run_id}` staged")),
                "{}",
                out.stdout
            );
        }
    });
}

/// The last report written in `dir` (its `latest` copy).
fn report(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("reports/engagement_per_post.csv")).unwrap()
}

/// 2,000 posts served under a rate limit; the S3 stage; a working folder with the pipeline.
struct Setup {
    data: tempfile::TempDir,
    api: MockServer,
    env: Vec<(String, String)>,
    bucket: String,
    s3_data: std::path::PathBuf,
    dir: tempfile::TempDir,
    prefix: String,
    stage: String,
}

fn setup() -> Setup {
    let data = tempfile::tempdir().unwrap();
    let scale = Scale {
        users: 150,
        posts: 2000,
        comments: 5000,
    };
    generate_jsonplaceholder(data.path(), scale, 11).unwrap();
    // The server allows the budget, plus the first request of each of 4 shards (a shard's
    // pacing lets one request go at once): more than that in any second is a 429. It does not
    // advertise its quota, so only the shards' own pacing keeps them under it.
    let api = MockServer::start(
        Dataset::load(data.path()).unwrap(),
        MockConfig {
            rate_limit: Some(RateLimit {
                requests: BUDGET + 4,
                window: Duration::from_secs(1),
                advertise: false,
            }),
            ..MockConfig::default()
        },
    )
    .unwrap();
    let (mut env, bucket, s3_data) = s3_env();
    env.push(("API_BASE_URL".to_owned(), api.url()));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), pipeline()).unwrap();
    let prefix = format!("shards-{}", std::process::id());
    let stage = format!("s3://{bucket}/{prefix}");
    Setup {
        data,
        api,
        env,
        bucket,
        s3_data,
        dir,
        prefix,
        stage,
    }
}

/// Arguments that cannot work are usage errors (exit 2), before anything is fetched.
fn usage_errors(dir: &Path, env: &[(String, String)]) {
    let one = run(dir, &["--run-id", "x"], env);
    assert_eq!(one.code, 2, "{}", one.stderr);
    assert!(
        one.stderr.contains("--run-id belongs to a sharded run"),
        "{}",
        one.stderr
    );
    // Arguments that cannot work are usage errors (exit 2), before anything is fetched.
    for (args, says) in [
        (
            ["--shard", "0/4", "--run-id", "n", "--stage", "s3:///etl"],
            "names no bucket",
        ),
        (
            ["--shard", "0/4", "--run-id", "n", "--stage", "gs://b/etl"],
            "only `s3://bucket/prefix` and local folders are stages",
        ),
        (
            ["--shard", "0/4", "--run-id", "_n", "--stage", "stage"],
            "starting with a letter or digit",
        ),
    ] {
        let out = run(dir, &args, env);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn four_shards_over_object_storage_give_the_report_of_one_process() {
    let Setup {
        data,
        api,
        env,
        bucket,
        s3_data,
        dir,
        prefix,
        stage,
    } = setup();
    usage_errors(dir.path(), &env);
    // One process, for the report to compare with.
    let single = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("p.yaml"), single.path().join("p.yaml")).unwrap();
    let one = run(single.path(), &[], &env);
    assert_eq!(one.code, 0, "{}{}", one.stdout, one.stderr);
    let single_report = report(single.path());

    // Four shards at once, then the finish: the same report, value for value.
    let before = api.stats();
    let started = Instant::now();
    shards(dir.path(), "nightly-1", &stage, &[0, 1, 2, 3], &env);
    let took = started.elapsed();
    let after = api.stats();
    let requests = after.requests - before.requests;
    // Each parent's comments fetched once, by one shard (each post has fewer than 100).
    let children = |s: &etl_mockapi::Stats| -> u64 {
        s.by_path
            .iter()
            .filter(|(p, _)| p.ends_with("/comments"))
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(children(&after) - children(&before), 2000);
    let limited = after.by_status.get(&429).copied().unwrap_or(0)
        - before.by_status.get(&429).copied().unwrap_or(0);
    assert_eq!(
        limited, 0,
        "the shards together went past the budget: {after:?}"
    );
    // Together at the budget, not four times it.
    assert!(
        took.as_secs_f64() >= (requests as f64 - 4.0) / f64::from(BUDGET),
        "{requests} requests in {took:?}"
    );
    let finish = ["--finish", "--run-id", "nightly-1", "--stage", &stage];
    let out = run(dir.path(), &finish, &env);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("one request series for each of 2000 parent records"),
        "{}",
        out.stdout
    );
    assert_eq!(report(dir.path()), single_report);
    let expected = expected_engagement(data.path()).unwrap();
    check_engagement(&single_report, &expected).unwrap();

    // A shard killed while it fetches: the finish names it and writes nothing; rerun alone,
    // the same report.
    let before = api.stats().requests;
    let mut killed = start(
        dir.path(),
        &["--shard", "2/4", "--run-id", "nightly-2", "--stage", &stage],
        &env,
    );
    std::thread::scope(|scope| {
        let others = scope.spawn(|| shards(dir.path(), "nightly-2", &stage, &[0, 1, 3], &env));
        // Killed well into the comments (about a third of the requests sent).
        let deadline = Instant::now() + Duration::from_secs(30);
        while api.stats().requests < before + 700 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            killed.try_wait().unwrap().is_none(),
            "shard 2 ended before it was killed"
        );
        killed.kill().unwrap();
        killed.wait().unwrap();
        others.join().unwrap();
    });
    let finish = ["--finish", "--run-id", "nightly-2", "--stage", &stage];
    let out = run(dir.path(), &finish, &env);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("shard 2 of 4 of run `nightly-2` has not finished"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("--shard 2/4 --run-id nightly-2"),
        "{}",
        out.stderr
    );
    let reports = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .count();
    assert_eq!(
        reports, 2,
        "the first finish's report and its latest copy only"
    );
    shards(dir.path(), "nightly-2", &stage, &[2], &env);
    let out = run(dir.path(), &finish, &env);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(report(dir.path()), single_report);
    // The rerun's parts replaced the killed attempt's: one attempt left under shard-2.
    let shard_dir = s3_data
        .join(&bucket)
        .join(&prefix)
        .join("runs/engagement_per_post/nightly-2/shard-2");
    let attempts: Vec<_> = std::fs::read_dir(&shard_dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
}
