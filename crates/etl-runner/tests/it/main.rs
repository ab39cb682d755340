#![allow(clippy::unwrap_used)]

//! End to end: the real `etl` binary against `etl-mockapi` on 127.0.0.1, real files.

mod chaos;
mod destinations;
mod e2e;
mod html;
mod incremental;
mod progress;
mod recipes;
mod runs;
mod scale_out;
mod schema;
mod secrets;
mod shapes;
mod shards;
mod signals;
mod tls;
mod transforms;
mod validate;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use etl_mockapi::{Dataset, MockConfig, MockServer};
use polars::prelude::*;
use serde_json::Value;

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub(crate) fn mock(config: MockConfig) -> MockServer {
    let data = Dataset::load(&repo().join("fixtures/jsonplaceholder")).unwrap();
    MockServer::start(data, config).unwrap()
}

/// The engagement pipeline as shipped, with some text replaced (each replacement must apply).
pub(crate) fn engagement_with(replacements: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(repo().join("pipelines/engagement.yaml")).unwrap();
    for (from, to) in replacements {
        assert!(text.contains(from), "`{from}` is not in engagement.yaml");
        text = text.replace(from, to);
    }
    text
}

/// Runs `etl run` on the engagement pipeline, edited by `replacements`, against `api`, in a
/// new working directory.
pub(crate) fn run_variant(
    api: &MockServer,
    replacements: &[(&str, &str)],
    env: &[(&str, &str)],
) -> (tempfile::TempDir, Outcome) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), engagement_with(replacements)).unwrap();
    let url = api.url();
    let mut env = env.to_vec();
    env.push(("API_BASE_URL", &url));
    let out = etl(dir.path(), &["run", "p.yaml"], &env);
    (dir, out)
}

#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs the `etl` binary in `dir`, killed after 60 s.
/// A temporary folder inside `dir` for an `etl` the test kills (SIGKILL), given to it as
/// `TMPDIR`: a killed run cannot remove its staging folder, and it goes with the test's folder
/// rather than staying in the machine's.
pub(crate) fn killable_tmp(dir: &Path) -> PathBuf {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    tmp
}

pub(crate) fn etl(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_etl"));
    cmd.args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.env_remove("RUST_LOG").env_remove("API_BASE_URL");
    for proxy in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ] {
        cmd.env_remove(proxy);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // Drain both pipes while waiting: a full pipe would block the child.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            pipe.read_to_end(&mut text).unwrap();
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("etl {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Every file under `dir`, relative, sorted; etl's own working data (`.etl/`: locks and run
/// manifests) is left out.
pub(crate) fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == ".etl") {
                    continue;
                }
                walk(base, &path, out);
            } else {
                out.push(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// One row of the engagement report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) company_name: String,
    pub(crate) total_posts: i64,
    pub(crate) total_comments: i64,
    pub(crate) avg_comments_per_post: f64,
}

/// The report computed independently from the fixture files, as pandas would: posts per
/// user, comments per post summed per user, 0 / 0 / 0.0 for a user without posts.
pub(crate) fn expected_report() -> Vec<Row> {
    let load = |name: &str| -> Vec<Value> {
        let text =
            std::fs::read(repo().join(format!("fixtures/jsonplaceholder/{name}.json"))).unwrap();
        serde_json::from_slice(&text).unwrap()
    };
    let (users, posts, comments) = (load("users"), load("posts"), load("comments"));
    let mut per_post: HashMap<i64, i64> = HashMap::new();
    for c in &comments {
        *per_post.entry(c["postId"].as_i64().unwrap()).or_default() += 1;
    }
    let mut rows: Vec<Row> = users
        .iter()
        .map(|u| {
            let id = u["id"].as_i64().unwrap();
            let mine: Vec<&Value> = posts
                .iter()
                .filter(|p| p["userId"].as_i64() == Some(id))
                .collect();
            let total_posts = i64::try_from(mine.len()).unwrap();
            let total_comments: i64 = mine
                .iter()
                .map(|p| {
                    per_post
                        .get(&p["id"].as_i64().unwrap())
                        .copied()
                        .unwrap_or(0)
                })
                .sum();
            Row {
                id,
                name: u["name"].as_str().unwrap().to_owned(),
                email: u["email"].as_str().unwrap().to_owned(),
                company_name: u["company"]["name"].as_str().unwrap().to_owned(),
                total_posts,
                total_comments,
                avg_comments_per_post: if total_posts == 0 {
                    0.0
                } else {
                    total_comments as f64 / total_posts as f64
                },
            }
        })
        .collect();
    rows.sort_by_key(|r| r.id);
    rows
}

pub(crate) fn rows_of(df: &DataFrame) -> Vec<Row> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        names,
        [
            "id",
            "name",
            "email",
            "company_name",
            "total_posts",
            "total_comments",
            "avg_comments_per_post"
        ]
    );
    let int = |c: &str| -> Vec<i64> {
        df.column(c)
            .unwrap()
            .cast(&DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .map(Option::unwrap)
            .collect()
    };
    let text = |c: &str| -> Vec<String> {
        df.column(c)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap().to_owned())
            .collect()
    };
    let avg: Vec<f64> = df
        .column("avg_comments_per_post")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(Option::unwrap)
        .collect();
    let (ids, posts, comments) = (int("id"), int("total_posts"), int("total_comments"));
    let (name, email, company) = (text("name"), text("email"), text("company_name"));
    (0..df.height())
        .map(|i| Row {
            id: ids[i],
            name: name[i].clone(),
            email: email[i].clone(),
            company_name: company[i].clone(),
            total_posts: posts[i],
            total_comments: comments[i],
            avg_comments_per_post: avg[i],
        })
        .collect()
}

/// The report files under `dir/reports`: every file but the SQLite database and the html
/// pages the shipped engagement pipeline also writes there.
pub(crate) fn report_files(dir: &Path) -> Vec<String> {
    files(&dir.join("reports"))
        .into_iter()
        .filter(|f| !f.contains(".sqlite") && Path::new(f).extension().is_none_or(|e| e != "html"))
        .collect()
}

/// The one report file a run left in `dir/reports`, read back.
pub(crate) fn report_in(dir: &Path) -> Vec<Row> {
    let found = report_files(dir);
    assert_eq!(found.len(), 1, "expected one report, found {found:?}");
    let path = dir.join("reports").join(&found[0]);
    let df = if found[0].ends_with(".parquet") {
        ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap()
    } else {
        CsvReadOptions::default()
            .with_has_header(true)
            .try_into_reader_with_file_path(Some(path))
            .unwrap()
            .finish()
            .unwrap()
    };
    rows_of(&df)
}
