//! docs/scale-out.md: its Kubernetes manifests and Airflow DAG and shell lines are what they
//! say: the YAML parses as Jobs, and every `etl` command line in it is one the CLI takes, with
//! a valid shard, run id and pipeline.

use clap::Parser;
use etl_runner::cli::{Cli, Command};
use etl_runner::shard::{check_run_id, parse_shard};
use serde::Deserialize;

use super::{etl, repo};

/// The fenced blocks of the page: (language, text).
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (fence, current.take()) {
            (Some(lang), None) => current = Some((lang.trim().to_owned(), String::new())),
            (Some(_), Some(block)) => out.push(block),
            (None, Some((lang, mut body))) => {
                body.push_str(line);
                body.push('\n');
                current = Some((lang, body));
            }
            (None, None) => {}
        }
    }
    out
}

/// Checks one `etl ...` command line (already split): the CLI takes it, its shard and run id
/// are valid, and the pipeline it runs is the shipped one. Returns (shard, finish).
fn check_command(args: &[String]) -> (Option<String>, bool) {
    let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let Command::Run { file, shard, .. } = cli.command else {
        panic!("{args:?} is not `etl run`")
    };
    assert_eq!(
        file.to_str(),
        Some("pipelines/engagement_per_post.yaml"),
        "{args:?}"
    );
    let run_id = shard
        .run_id
        .as_deref()
        .unwrap_or_else(|| panic!("{args:?}: no --run-id"));
    check_run_id(run_id).unwrap();
    assert!(shard.stage.is_some(), "{args:?}: no --stage");
    if let Some(k) = &shard.shard {
        parse_shard(k).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    }
    assert!(shard.shard.is_some() != shard.finish, "{args:?}");
    (shard.shard, shard.finish)
}

/// `etl run ...` from a shell or Python line, the placeholders filled as the shell, xargs or
/// Airflow would.
fn command_in(line: &str) -> Vec<String> {
    let start = line.find("etl run").unwrap();
    let mut text = line[start..].trim_end_matches(['"', ',']).to_owned();
    for (from, to) in [
        ("{PIPELINE}", "pipelines/engagement_per_post.yaml"),
        ("{STAGE}", "s3://etl-stage/engagement"),
        ("{k}", "1"),
        ("{SHARDS}", "4"),
        ("{{{{ ds_nodash }}}}", "20261205"),
        ("\"$RUN_ID\"", "20261205T020000"),
        ("{}", "2"),
    ] {
        text = text.replace(from, to);
    }
    text.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn the_scale_out_page_shows_manifests_and_commands_that_work() {
    let page = std::fs::read_to_string(repo().join("docs/scale-out.md")).unwrap();
    let blocks = blocks(&page);
    let (mut jobs, mut commands) = (0, Vec::new());
    for (lang, body) in &blocks {
        match lang.as_str() {
            "yaml" => {
                for doc in serde_yaml::Deserializer::from_str(body) {
                    let job = serde_yaml::Value::deserialize(doc).unwrap();
                    assert_eq!(job["kind"].as_str(), Some("Job"), "{job:?}");
                    let spec = &job["spec"];
                    let container = &spec["template"]["spec"]["containers"][0];
                    let env = container["env"].as_sequence().unwrap();
                    let run_id = env
                        .iter()
                        .find(|e| e["name"].as_str() == Some("RUN_ID"))
                        .and_then(|e| e["value"].as_str())
                        .unwrap();
                    let args: Vec<String> = container["args"]
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_owned())
                        .collect();
                    // Kubernetes fills $(VAR) from the container's variables; an Indexed
                    // Job's pods each have their JOB_COMPLETION_INDEX, 0 to completions - 1.
                    let indexed = spec["completionMode"].as_str() == Some("Indexed");
                    let count = if indexed {
                        spec["completions"].as_u64().unwrap()
                    } else {
                        1
                    };
                    for index in 0..count {
                        let mut line = vec!["etl".to_owned()];
                        line.extend(args.iter().map(|a| {
                            a.replace("$(JOB_COMPLETION_INDEX)", &index.to_string())
                                .replace("$(RUN_ID)", run_id)
                        }));
                        let (shard, finish) = check_command(&line);
                        if indexed {
                            assert_eq!(shard, Some(format!("{index}/{count}")));
                        } else {
                            assert!(finish, "{line:?}");
                        }
                    }
                    jobs += 1;
                }
            }
            "python" | "sh" => {
                commands.extend(
                    body.lines()
                        .filter(|l| l.contains("etl run"))
                        .map(command_in),
                );
            }
            _ => {}
        }
    }
    assert_eq!(jobs, 2, "a shard Job and a finishing Job");
    // The introduction, the DAG's shard and finish, xargs' shard and finish.
    assert!(commands.len() >= 6, "{commands:?}");
    let finishes = commands.iter().filter(|c| check_command(c).1).count();
    assert!(finishes >= 3, "{commands:?}");
    // The pipeline the page runs is shipped and valid.
    let out = etl(
        &repo(),
        &["validate", "pipelines/engagement_per_post.yaml"],
        &[],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}
