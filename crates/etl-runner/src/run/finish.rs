//! The finish of a sharded run: every shard's manifest checked (or waited for), the parts
//! downloaded against their sha256, each source's tables put together, then transforms,
//! checks, sinks and state as one run has them; the saved state is published on the stage
//! for the next run's shards.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use etl_source::{SourceStats, StagedTable};
use futures_util::StreamExt;
use tracing::{info, warn};

use super::shard::pipeline_sha256;
use super::{Cancel, Plan, RunClock, RunReport, check_destinations, deliver};
use crate::error::{RunError, RunFailure};
use crate::pipeline::Pipeline;
use crate::shard::{self, FailedNote, Role, ShardManifest, Sharding, Stage, merge_stats};
use crate::state::State;

pub(super) async fn finish(
    pipeline: &Pipeline,
    clock: &RunClock,
    cancel: &Cancel,
    plan: &Plan,
    sharding: &Sharding,
) -> Result<RunReport, RunFailure> {
    let started = Instant::now();
    let fail = |e: String| RunFailure::new(RunError::Shard(e), &[]);
    let stage = Stage::open(&sharding.stage).map_err(fail)?;
    let previous = State::load(&plan.root, &pipeline.name).map_err(|e| RunFailure::new(e, &[]))?;
    let manifests = wait_for_shards(&stage, pipeline, sharding, cancel)
        .await
        .map_err(|e| RunFailure::new(e, &[]))?;
    check_destinations(pipeline, clock, plan).await?;
    let staging = tempfile::Builder::new()
        .prefix(&format!("etl-{}-finish-", pipeline.name))
        .tempdir()
        .map_err(|e| RunFailure::new(RunError::Staging(e), &[]))?;
    let fetching = Instant::now();
    let (stats, tables) = gather(&stage, pipeline, plan, &manifests, staging.path())
        .await
        .map_err(|e| RunFailure::new(e, &[]))?;
    let report = deliver(
        pipeline,
        clock,
        cancel,
        plan,
        previous,
        stats,
        tables,
        (started, fetching.elapsed()),
    )
    .await;
    drop(staging);
    let report = report?;
    if let Some(path) = &report.state {
        publish_state(&stage, pipeline, path).await;
    }
    Ok(report)
}

/// Every shard's manifest, in shard order, once all are there (`--wait`), else the first
/// shard missing or failed, named.
async fn wait_for_shards(
    stage: &Stage,
    pipeline: &Pipeline,
    sharding: &Sharding,
    cancel: &Cancel,
) -> Result<Vec<ShardManifest>, RunError> {
    let deadline = Instant::now() + sharding.wait.unwrap_or_default();
    let mut pause = Duration::from_millis(500);
    loop {
        match check_shards(stage, pipeline, &sharding.run_id, &sharding.stage).await {
            Ok(all) => return Ok(all),
            Err(Missing::Fatal(e)) => return Err(RunError::Shard(e)),
            Err(Missing::NotYet(why)) => {
                if Instant::now() + pause > deadline {
                    return Err(RunError::Shard(why));
                }
                info!(why = %why, "Waiting for the shards.");
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = cancel.cancelled() => return Err(RunError::Interrupted),
                }
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Why the shards cannot be put together (yet).
enum Missing {
    /// A shard has not finished, or failed: it may still (again).
    NotYet(String),
    /// Manifests that disagree: waiting changes nothing.
    Fatal(String),
}

async fn check_shards(
    stage: &Stage,
    pipeline: &Pipeline,
    run_id: &str,
    url: &str,
) -> Result<Vec<ShardManifest>, Missing> {
    let keys = stage.list(run_id).await.map_err(Missing::Fatal)?;
    let mut manifests: BTreeMap<u32, ShardManifest> = BTreeMap::new();
    let mut failed: BTreeMap<u32, FailedNote> = BTreeMap::new();
    for key in &keys {
        let Some(rest) = key.strip_prefix(&format!("{run_id}/shard-")) else {
            continue;
        };
        let Some((_, file)) = rest.split_once('/') else {
            continue;
        };
        if file != "manifest.json" && file != "failed.json" {
            continue;
        }
        let bytes = stage
            .get(key)
            .await
            .map_err(Missing::Fatal)?
            .unwrap_or_default();
        let unreadable = |e: serde_json::Error| {
            Missing::Fatal(format!("`{}` is not readable: {e}", stage.show(key)))
        };
        if file == "manifest.json" {
            let m: ShardManifest = serde_json::from_slice(&bytes).map_err(unreadable)?;
            manifests.insert(m.shard, m);
        } else {
            let n: FailedNote = serde_json::from_slice(&bytes).map_err(unreadable)?;
            failed.insert(n.shard, n);
        }
    }
    let count = manifests
        .values()
        .map(|m| m.shards)
        .chain(failed.values().map(|n| n.shards))
        .next();
    let Some(count) = count else {
        return Err(Missing::NotYet(format!(
            "no shard of run `{run_id}` has staged anything at `{}`; run the shards first: \
             etl run {} --shard K/N --run-id {run_id} --stage {url}",
            stage.show(run_id),
            pipeline.file.display()
        )));
    };
    let sha = pipeline_sha256(pipeline);
    for m in manifests.values() {
        if m.shards != count {
            return Err(Missing::Fatal(format!(
                "the shards of run `{run_id}` disagree on how many they are ({count} and {}, \
                 shard {}); run every shard with the same --shard K/N, under a new --run-id",
                m.shards, m.shard
            )));
        }
        if m.pipeline != pipeline.name || m.pipeline_sha256 != sha {
            return Err(Missing::Fatal(format!(
                "shard {} of run `{run_id}` ran another pipeline file (`{}`, sha256 {}) than \
                 `{}` (sha256 {sha}); finish with the file the shards ran, or run the shards \
                 again",
                m.shard,
                m.pipeline,
                m.pipeline_sha256,
                pipeline.file.display()
            )));
        }
    }
    for k in 0..count {
        if manifests.contains_key(&k) {
            continue;
        }
        let show = stage.show(&shard::manifest_key(run_id, k));
        return Err(Missing::NotYet(match failed.get(&k) {
            Some(note) => format!(
                "shard {k} of {count} of run `{run_id}` failed ({}): {}; run it again: etl run \
                 {} --shard {k}/{count} --run-id {run_id} --stage {url}",
                note.finished_at,
                note.error,
                pipeline.file.display()
            ),
            None => format!(
                "shard {k} of {count} of run `{run_id}` has not finished: there is no `{show}`; \
                 run it (again): etl run {} --shard {k}/{count} --run-id {run_id} --stage {url}",
                pipeline.file.display()
            ),
        }));
    }
    // Every shard that split over shard 0's records used the records shard 0 ended with.
    let zero = &manifests[&0];
    for m in manifests.values() {
        for (source, attempt) in &m.parents_from {
            let final_attempt = zero
                .sources
                .iter()
                .find(|s| &s.source == source)
                .map(|s| s.attempt.as_str());
            if final_attempt != Some(attempt.as_str()) {
                return Err(Missing::Fatal(format!(
                    "shard {} of run `{run_id}` split its work over the records of `{source}` \
                     that shard 0 staged in attempt {attempt}, but shard 0 was run again since \
                     (attempt {}); run shard {} again so that both read the same records",
                    m.shard,
                    final_attempt.unwrap_or("none"),
                    m.shard
                )));
            }
        }
    }
    Ok(manifests.into_values().collect())
}

/// Downloads every part and puts each source's tables together: per source, the merged
/// stats and the table.
async fn gather(
    stage: &Stage,
    pipeline: &Pipeline,
    plan: &Plan,
    manifests: &[ShardManifest],
    dir: &std::path::Path,
) -> Result<(Vec<(String, SourceStats)>, Vec<Option<StagedTable>>), RunError> {
    let roles = shard::roles(pipeline);
    let mut stats = Vec::new();
    let mut tables = Vec::new();
    let mut downloaded = 0u64;
    for (index, source) in pipeline.sources.iter().enumerate() {
        if !plan.sources[index] {
            stats.push((source.name.clone(), SourceStats::default()));
            tables.push(None);
            continue;
        }
        let mut parts_of = Vec::new();
        let mut stats_of = Vec::new();
        for m in manifests {
            let Some(entry) = m.sources.iter().find(|s| s.source == source.name) else {
                continue;
            };
            let mut paths = Vec::new();
            let downloads = entry.parts.iter().enumerate().map(|(n, part)| {
                let path = dir.join(format!(
                    "{index:03}-{}.shard{}.{}.parquet",
                    source.name,
                    m.shard,
                    n + 1
                ));
                paths.push(path.clone());
                async move {
                    stage
                        .get_file(&part.key, &path, part.bytes, &part.sha256)
                        .await
                        .map_err(|e| {
                            format!(
                                "shard {} of run `{}`: {e}; run shard {} again",
                                m.shard, m.run_id, m.shard
                            )
                        })
                }
            });
            let results: Vec<Result<(), String>> = futures_util::stream::iter(downloads)
                .buffer_unordered(4)
                .collect()
                .await;
            for r in results {
                r.map_err(RunError::Shard)?;
            }
            downloaded += entry.parts.iter().map(|p| p.bytes).sum::<u64>();
            parts_of.push(entry.table(paths));
            stats_of.push(
                entry
                    .stats
                    .to_stats(&source.name)
                    .map_err(RunError::Shard)?,
            );
        }
        if parts_of.is_empty() {
            return Err(RunError::Shard(format!(
                "no shard staged source `{}` (shard 0 fetches it): shard 0's manifest does not \
                 list it; run shard 0 again",
                source.name
            )));
        }
        let merged = merge_stats(&stats_of);
        let table = StagedTable::concat(&source.name, parts_of)?;
        // Whether a source is empty is said over every shard (each allowed one empty share).
        let incremental_rerun = merged.cursor.as_ref().is_some_and(|c| c.before.is_some());
        if roles[index] != Role::Once
            && merged.records == 0
            && !source.allow_empty
            && !incremental_rerun
            && merged.parents != Some(0)
        {
            return Err(etl_source::Error::empty(source).into());
        }
        stats.push((source.name.clone(), merged));
        tables.push(Some(table));
    }
    info!(
        shards = manifests.len(),
        bytes = downloaded,
        "Read every shard's parts."
    );
    Ok((stats, tables))
}

/// Publishes the saved state for the next run's shards (a failure only warns: the shards of
/// the next run would start from older cursors and fetch some records again).
async fn publish_state(stage: &Stage, pipeline: &Pipeline, path: &std::path::Path) {
    let key = shard::state_key(&pipeline.name);
    let result = match tokio::fs::read(path).await {
        Ok(bytes) => stage.put(&key, bytes).await,
        Err(e) => Err(format!("cannot read `{}`: {e}", path.display())),
    };
    if let Err(e) = result {
        warn!(error = %e, "The state is saved but could not be published for the next run's shards.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::StagedSource;

    fn pipeline(dir: &std::path::Path) -> Pipeline {
        let path = dir.join("p.yaml");
        let text = "version: 1\nname: p\nhttp: { base_url: http://127.0.0.1:9 }\nsources:\n  posts: { endpoint: /posts }\n  comments: { endpoint: \"/posts/{id}/comments\", for_each: { source: posts, key: id } }\nsinks:\n  out: { from: comments, format: csv, path: out.csv }\n";
        std::fs::write(&path, text).unwrap();
        Pipeline::load(&path, &|_| None, &[]).unwrap()
    }

    fn manifest(p: &Pipeline, shard: u32, shards: u32) -> ShardManifest {
        ShardManifest {
            etl_version: "0".to_owned(),
            pipeline: p.name.clone(),
            pipeline_sha256: pipeline_sha256(p),
            run_id: "r".to_owned(),
            shard,
            shards,
            attempt: format!("a{shard}"),
            started_at: String::new(),
            finished_at: String::new(),
            sources: vec![StagedSource {
                source: if shard == 0 { "posts" } else { "comments" }.to_owned(),
                rows: 0,
                columns: Vec::new(),
                parts: Vec::new(),
                stats: crate::shard::manifest::StatsEntry::default(),
                attempt: format!("a{shard}"),
            }],
            parents_from: if shard == 0 {
                BTreeMap::new()
            } else {
                [("posts".to_owned(), "a0".to_owned())].into()
            },
        }
    }

    async fn put(stage: &Stage, key: &str, value: &impl serde::Serialize) {
        stage
            .put(key, serde_json::to_vec(value).unwrap())
            .await
            .unwrap();
    }

    async fn check(stage: &Stage, p: &Pipeline) -> Result<usize, String> {
        match check_shards(stage, p, "r", "STAGE").await {
            Ok(all) => Ok(all.len()),
            Err(Missing::NotYet(e) | Missing::Fatal(e)) => Err(e),
        }
    }

    #[tokio::test]
    async fn the_finish_names_the_shard_that_is_missing_failed_or_out_of_step() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline(dir.path());
        let stage = Stage::open(dir.path().join("stage").to_str().unwrap()).unwrap();
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.starts_with("no shard of run `r` has staged anything"),
            "{err}"
        );
        put(&stage, "r/shard-0/manifest.json", &manifest(&p, 0, 3)).await;
        put(&stage, "r/shard-2/manifest.json", &manifest(&p, 2, 3)).await;
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.starts_with("shard 1 of 3 of run `r` has not finished: there is no `"),
            "{err}"
        );
        assert!(
            err.ends_with("--shard 1/3 --run-id r --stage STAGE"),
            "{err}"
        );
        let failed = FailedNote {
            shard: 1,
            shards: 3,
            attempt: "x".to_owned(),
            finished_at: "2026-12-05T02:00:00Z".to_owned(),
            error: "source `comments` failed: HTTP 500".to_owned(),
        };
        put(&stage, "r/shard-1/failed.json", &failed).await;
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.starts_with(
                "shard 1 of 3 of run `r` failed (2026-12-05T02:00:00Z): source `comments` \
                 failed: HTTP 500; run it again"
            ),
            "{err}"
        );
        put(&stage, "r/shard-1/manifest.json", &manifest(&p, 1, 3)).await;
        assert_eq!(check(&stage, &p).await, Ok(3));
        // Shard 0 run again after shard 2 split over its records.
        let mut zero = manifest(&p, 0, 3);
        zero.sources[0].attempt = "b0".to_owned();
        put(&stage, "r/shard-0/manifest.json", &zero).await;
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.contains("shard 0 was run again since (attempt b0); run shard 1 again"),
            "{err}"
        );
        put(&stage, "r/shard-0/manifest.json", &manifest(&p, 0, 3)).await;
        // Another count, another pipeline file.
        put(&stage, "r/shard-2/manifest.json", &manifest(&p, 2, 4)).await;
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.contains("disagree on how many they are (3 and 4, shard 2)"),
            "{err}"
        );
        let mut other = manifest(&p, 2, 3);
        other.pipeline_sha256 = "0".repeat(64);
        put(&stage, "r/shard-2/manifest.json", &other).await;
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.starts_with("shard 2 of run `r` ran another pipeline file"),
            "{err}"
        );
    }
}
