//! The finish of a sharded run: every shard's manifest checked (or waited for), the parts
//! downloaded against their sha256, each source's tables put together, then transforms,
//! checks, sinks and state as one run has them; the saved state is published on the stage
//! for the next run's shards.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use etl_source::{SourceStats, StagedTable};
use futures_util::StreamExt;
use tracing::info;

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
    same_state(
        pipeline,
        &plan.root,
        sharding,
        previous.as_ref(),
        &manifests,
    )
    .map_err(fail)?;
    let windows =
        super::windows(pipeline, plan, previous.as_ref()).map_err(|e| RunFailure::new(e, &[]))?;
    check_destinations(pipeline, clock, plan).await?;
    let staging = tempfile::Builder::new()
        .prefix(&format!("etl-{}-finish-", pipeline.name))
        .tempdir()
        .map_err(|e| RunFailure::new(RunError::Staging(e), &[]))?;
    let fetching = Instant::now();
    let (stats, tables) = gather(&stage, pipeline, plan, &windows, &manifests, staging.path())
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
        publish_state(&stage, pipeline, path, &sharding.stage)
            .await
            .map_err(|e| RunFailure {
                error: Box::new(RunError::Shard(e)),
                sources: report.sources.clone(),
                placed: report.sinks.iter().map(|(_, d)| d.describe()).collect(),
            })?;
    }
    Ok(report)
}

/// The shards started from the state this finish moves on from: the one its last finish
/// saved here and published on the stage, byte for byte. Another state (reset here only,
/// another machine's, a finish of another run in between) would move cursors from records
/// the shards did not fetch.
fn same_state(
    pipeline: &Pipeline,
    root: &std::path::Path,
    sharding: &Sharding,
    previous: Option<&State>,
    manifests: &[ShardManifest],
) -> Result<(), String> {
    let path = crate::state::path(root, &pipeline.name);
    let here = match std::fs::read(&path) {
        Ok(bytes) if previous.is_some() => Some(crate::digest::sha256(&bytes)),
        _ => None,
    };
    let Some(m) = manifests.iter().find(|m| m.state_sha256 != here) else {
        return Ok(());
    };
    let theirs = m.state_run_id.as_deref().map_or_else(
        || "no published state (every cursor from `initial`)".to_owned(),
        |r| format!("the state of run `{r}` published on the stage"),
    );
    let ours = previous.map_or_else(
        || "no state".to_owned(),
        |s| format!("the state of run `{}`, changed since or another", s.run_id),
    );
    let (file, stage) = (pipeline.file.display(), &sharding.stage);
    let fix = match previous {
        Some(s) if s.run_id == sharding.run_id => format!(
            "run `{}` was finished already, and this state is its own: a run is finished once \
             (if publishing its state failed, publish it: `etl state publish {file} --stage \
             {stage}`)",
            sharding.run_id
        ),
        Some(_) => format!(
            "Finish where the last sharded run finished (its state folder holds the state); or \
             make this state the shards' with `etl state publish {file} --stage {stage}` (what \
             `etl state reset {file} --stage {stage}` does along with a reset) and run the \
             shards again under a new --run-id"
        ),
        None => format!(
            "Finish where the last sharded run finished (its state folder holds the state); or \
             forget the published state with `etl state reset {file} --stage {stage}` and run \
             the shards again under a new --run-id"
        ),
    };
    Err(format!(
        "shard {} of run `{}` started from {theirs}, but this finish has {ours} (in `{}`): it \
         cannot move cursors on from records the shards did not fetch from them. {fix}",
        m.shard,
        sharding.run_id,
        path.display()
    ))
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
    let layout = shard::Layout::new(&pipeline.name, run_id);
    let run_dir = layout.run_dir();
    let keys = stage.list(&run_dir).await.map_err(Missing::Fatal)?;
    let mut manifests: BTreeMap<u32, ShardManifest> = BTreeMap::new();
    let mut failed: BTreeMap<u32, FailedNote> = BTreeMap::new();
    for key in &keys {
        let Some(rest) = key.strip_prefix(&format!("{run_dir}/shard-")) else {
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
            stage.show(&run_dir),
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
        let show = stage.show(&layout.manifest(k));
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
    let manifests: Vec<ShardManifest> = manifests.into_values().collect();
    // The publications as they are now, to tell which side of a mismatch is stale.
    let mut current = BTreeMap::new();
    for source in manifests.iter().flat_map(|m| m.parents_from.keys()) {
        if !current.contains_key(source) {
            let bytes = stage
                .get(&layout.published(source))
                .await
                .map_err(Missing::Fatal)?;
            current.insert(source.clone(), bytes.map(|b| crate::digest::sha256(&b)));
        }
    }
    same_publications(&manifests, run_id, &current).map_err(Missing::Fatal)?;
    distinct_keys(&manifests, pipeline, run_id).map_err(Missing::Fatal)?;
    Ok(manifests)
}

/// Every shard that split over shard 0's records read the publication shard 0's manifest
/// names (publications are fixed for a run; a different one was deleted and made again).
fn same_publications(
    manifests: &[ShardManifest],
    run_id: &str,
    current: &BTreeMap<String, Option<String>>,
) -> Result<(), String> {
    let zero = &manifests[0];
    for m in manifests {
        for (source, sha) in &m.parents_from {
            let published = zero.published.get(source);
            if published == Some(sha) {
                continue;
            }
            // The side that read what is published now is the fresh one.
            let stale = if current.get(source).and_then(Option::as_ref) == Some(sha) {
                0
            } else {
                m.shard
            };
            return Err(format!(
                "shard {} of run `{run_id}` split its work over the records of `{source}` that \
                 shard 0 published with sha256 {sha}, but shard 0's manifest names {}: the \
                 publication was made again since; run shard {stale} again so that both read \
                 the same records (or every shard under a new --run-id)",
                m.shard,
                published.map_or("none", String::as_str),
            ));
        }
    }
    Ok(())
}

/// No parent key was fetched by two shards: a source fetched once per distinct key, below a
/// split source, fetches a key again in each shard whose parent records hold it (one run
/// fetches it once), which would count its records twice.
fn distinct_keys(
    manifests: &[ShardManifest],
    pipeline: &Pipeline,
    run_id: &str,
) -> Result<(), String> {
    let mut owner: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    for m in manifests {
        for (source, keys) in &m.keys {
            for key in keys {
                let Some(first) = owner.insert((source, key), m.shard) else {
                    continue;
                };
                let parent = pipeline
                    .sources
                    .iter()
                    .find(|s| &s.name == source)
                    .and_then(|s| s.for_each.as_ref())
                    .map_or_else(String::new, |e| format!("`{}`.`{}`", e.source, e.key));
                return Err(format!(
                    "source `{source}` of run `{run_id}` was fetched for the key `{key}` by \
                     shards {first} and {}: its parents' key {parent} repeats across shards, \
                     and one run fetches it once; the records would count twice. Set \
                     `include_from_parent` on `{source}` (each parent record then gets its own \
                     series, in the one shard that holds it, in one run too), or run this \
                     pipeline unsharded",
                    m.shard
                ));
            }
        }
    }
    Ok(())
}

/// Downloads every part and puts each source's tables together: per source, the merged
/// stats and the table.
async fn gather(
    stage: &Stage,
    pipeline: &Pipeline,
    plan: &Plan,
    windows: &[etl_source::Window],
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
            let by = if roles[index] == Role::Once {
                "shard 0 fetches it, and its manifest does not list it; run shard 0 again"
            } else {
                "every shard fetches its share, and no manifest lists it; run the shards again"
            };
            return Err(RunError::Shard(format!(
                "no shard staged source `{}`: {by}",
                source.name
            )));
        }
        let merged = merge_stats(&stats_of);
        let table = StagedTable::concat(&source.name, parts_of)?;
        // Whether a source is empty is said over every shard (each allowed one empty share),
        // as one run says it: nothing new is fine once a cursor is stored or --since given.
        let window = &windows[index];
        let incremental_rerun = merged.cursor.as_ref().is_some_and(|c| c.before.is_some())
            && (window.stored.is_some() || window.since.is_some());
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

/// Publishes the saved state for the next run's shards. A failure fails the run: the
/// outputs are in place and the state saved here, but the next run's shards would start from
/// older cursors and fetch some records again.
async fn publish_state(
    stage: &Stage,
    pipeline: &Pipeline,
    path: &std::path::Path,
    url: &str,
) -> Result<(), String> {
    let key = shard::state_key(&pipeline.name);
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    stage.put(&key, bytes).await.map_err(|e| {
        format!(
            "the outputs are in place and the state is saved in `{}`, but it could not be \
             published at `{}` for the next run's shards ({e}); publish it before the next \
             sharded run: etl state publish {} --stage {url}",
            path.display(),
            stage.show(&key),
            pipeline.file.display()
        )
    })
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
                state_sha256: None,
            }],
            published: if shard == 0 {
                [("posts".to_owned(), "sha0".to_owned())].into()
            } else {
                BTreeMap::new()
            },
            parents_from: if shard == 0 {
                BTreeMap::new()
            } else {
                [("posts".to_owned(), "sha0".to_owned())].into()
            },
            state_run_id: None,
            state_sha256: None,
            keys: BTreeMap::new(),
        }
    }

    async fn put(stage: &Stage, key: &str, value: &impl serde::Serialize) {
        stage
            .put(key, serde_json::to_vec(value).unwrap())
            .await
            .unwrap();
    }

    /// A shard's manifest where its shard writes it.
    async fn put_manifest(stage: &Stage, m: &ShardManifest) {
        let key = shard::Layout::new(&m.pipeline, &m.run_id).manifest(m.shard);
        put(stage, &key, m).await;
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
        put_manifest(&stage, &manifest(&p, 0, 3)).await;
        put_manifest(&stage, &manifest(&p, 2, 3)).await;
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
        put(&stage, &shard::Layout::new("p", "r").failed(1), &failed).await;
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.starts_with(
                "shard 1 of 3 of run `r` failed (2026-12-05T02:00:00Z): source `comments` \
                 failed: HTTP 500; run it again"
            ),
            "{err}"
        );
        put_manifest(&stage, &manifest(&p, 1, 3)).await;
        assert_eq!(check(&stage, &p).await, Ok(3));
        // Shard 0's publication made again after shard 1 split over it.
        let mut zero = manifest(&p, 0, 3);
        zero.published.insert("posts".to_owned(), "sha1".to_owned());
        put_manifest(&stage, &zero).await;
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.contains("published with sha256 sha0, but shard 0's manifest names sha1"),
            "{err}"
        );
        assert!(err.contains("run shard 1 again so that both read the same records"));
        put_manifest(&stage, &manifest(&p, 0, 3)).await;
        // Two shards fetched a child for the same key.
        let mut one = manifest(&p, 1, 3);
        one.keys
            .insert("comments".to_owned(), vec!["7".to_owned(), "9".to_owned()]);
        put_manifest(&stage, &one).await;
        let mut two = manifest(&p, 2, 3);
        two.keys
            .insert("comments".to_owned(), vec!["8".to_owned(), "9".to_owned()]);
        put_manifest(&stage, &two).await;
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.starts_with(
                "source `comments` of run `r` was fetched for the key `9` by shards 1 and 2: \
                 its parents' key `posts`.`id` repeats"
            ),
            "{err}"
        );
        put_manifest(&stage, &manifest(&p, 1, 3)).await;
        put_manifest(&stage, &manifest(&p, 2, 3)).await;
        put_manifest(&stage, &manifest(&p, 0, 3)).await;
        // Another count, another pipeline file.
        put_manifest(&stage, &manifest(&p, 2, 4)).await;
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.contains("disagree on how many they are (3 and 4, shard 2)"),
            "{err}"
        );
        let mut other = manifest(&p, 2, 3);
        other.pipeline_sha256 = "0".repeat(64);
        put_manifest(&stage, &other).await;
        let err = check(&stage, &p).await.unwrap_err();
        assert!(
            err.starts_with("shard 2 of run `r` ran another pipeline file"),
            "{err}"
        );
    }

    #[test]
    fn the_finish_goes_on_from_the_state_the_shards_started_from() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline(dir.path());
        let sharding = Sharding {
            run_id: "r".to_owned(),
            stage: "STAGE".to_owned(),
            mode: crate::shard::Mode::Finish,
            wait: None,
        };
        let mut m = manifest(&p, 0, 1);
        // No state anywhere: the first sharded run.
        assert!(same_state(&p, dir.path(), &sharding, None, &[m.clone()]).is_ok());
        let state = State::next(None, "p", "earlier");
        let path = state.write(dir.path()).unwrap();
        let sha = crate::digest::sha256(&std::fs::read(&path).unwrap());
        let err = same_state(&p, dir.path(), &sharding, Some(&state), &[m.clone()]).unwrap_err();
        assert!(
            err.starts_with(
                "shard 0 of run `r` started from no published state (every cursor from \
                 `initial`), but this finish has the state of run `earlier`"
            ),
            "{err}"
        );
        assert!(err.contains("etl state publish"), "{err}");
        m.state_run_id = Some("earlier".to_owned());
        m.state_sha256 = Some(sha);
        assert!(same_state(&p, dir.path(), &sharding, Some(&state), &[m.clone()]).is_ok());
        // The state changed here since the shards read it (a reset of one source, say).
        std::fs::write(&path, b"{}").unwrap();
        let err = same_state(&p, dir.path(), &sharding, Some(&state), &[m.clone()]).unwrap_err();
        assert!(err.contains("changed since or another"), "{err}");
        let err = same_state(&p, dir.path(), &sharding, None, &[m]).unwrap_err();
        assert!(
            err.contains("published on the stage, but this finish has no state"),
            "{err}"
        );
    }
}
