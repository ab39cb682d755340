//! One shard of a sharded run: fetch this shard's share, upload it to the stage, write the
//! shard's manifest last. No transform, check or sink runs here; the finish runs them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use etl_source::{Shard, SourceStats};
use tracing::{info, warn};

use super::{Cancel, Plan, RunClock, RunReport, extract, windows};
use crate::error::{RunError, RunFailure};
use crate::pipeline::Pipeline;
use crate::shard::{
    self, FailedNote, Role, SHARD_WAIT, ShardFetch, ShardManifest, Sharding, Stage,
};
use crate::state::State;

pub(super) async fn run_shard(
    pipeline: &Pipeline,
    clock: &RunClock,
    cancel: &Cancel,
    plan: &Plan,
    progress: Option<Arc<dyn etl_source::ProgressSink>>,
    sharding: &Sharding,
    shard: Shard,
) -> Result<RunReport, RunFailure> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let fail = |e: String| RunFailure::new(RunError::Shard(e), &[]);
    let stage = Stage::open(&sharding.stage).map_err(fail)?;
    let staging = tempfile::Builder::new()
        .prefix(&format!("etl-{}-shard-{}-", pipeline.name, shard.index))
        .tempdir()
        .map_err(|e| RunFailure::new(RunError::Staging(e), &[]))?;
    let layout = shard::Layout::new(&pipeline.name, &sharding.run_id);
    let previous = published_state(&stage, &pipeline.name)
        .await
        .map_err(fail)?;
    let windows = windows(pipeline, plan, previous.as_ref().map(|(s, _)| s))
        .map_err(|e| RunFailure::new(e, &[]))?;
    let roles = shard::roles(pipeline);
    let local = shard::for_shard(pipeline, shard, &roles);
    let selected = fetched_here(plan, &roles, shard);
    let to_publish = shard::shared(pipeline, &roles);
    let republished = republished(&stage, &layout, pipeline, shard, &to_publish)
        .await
        .map_err(fail)?;
    // A fresh folder per attempt: a rerun never writes over the parts a manifest lists.
    let attempt = super::RunClock::now().run_id;
    let fetch = Arc::new(ShardFetch {
        stage: stage.clone(),
        shard,
        layout: layout.clone(),
        attempt: attempt.clone(),
        shared: to_publish,
        republished,
        state_sha256: previous.as_ref().map(|(_, sha)| sha.clone()),
        pipeline: local.clone(),
        roles,
        wait: sharding.wait.unwrap_or(SHARD_WAIT),
    });
    info!(shard = %shard, run_id = %sharding.run_id, attempt = %attempt, stage = %stage.show(""), "Fetching this shard's share.");
    let extracted = extract::extract_all(
        &local,
        staging.path().to_owned(),
        cancel,
        &selected,
        &windows,
        progress,
        Some(Arc::clone(&fetch)),
    )
    .await;
    let extracted = match extracted {
        Ok(e) => e,
        Err(failure) => {
            forget_attempt(&fetch, &failure.to_string()).await;
            return Err(failure);
        }
    };
    let sources: Vec<(String, SourceStats)> = extracted
        .stats
        .iter()
        .zip(&selected)
        .filter(|(_, on)| **on)
        .map(|(s, _)| s.clone())
        .collect();
    let keys = match fetched_keys(&local, &fetch.roles, &selected, &extracted.tables).await {
        Ok(k) => k,
        Err(e) => {
            forget_attempt(&fetch, &e.to_string()).await;
            return Err(RunFailure::new(e, &sources));
        }
    };
    let (published, parents_from) = publications(pipeline, shard, &selected, &extracted);
    let manifest = ShardManifest {
        etl_version: env!("CARGO_PKG_VERSION").to_owned(),
        pipeline: pipeline.name.clone(),
        pipeline_sha256: pipeline_sha256(pipeline),
        run_id: sharding.run_id.clone(),
        shard: shard.index,
        shards: shard.count,
        attempt: attempt.clone(),
        started_at: started_at.to_rfc3339(),
        finished_at: chrono::Utc::now().to_rfc3339(),
        sources: extracted.staged.into_iter().flatten().collect(),
        published,
        parents_from,
        state_run_id: previous.as_ref().map(|(s, _)| s.run_id.clone()),
        state_sha256: previous.map(|(_, sha)| sha),
        keys,
    };
    let key = layout.manifest(shard.index);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| fail(e.to_string()))?;
    if let Err(e) = stage.put(&key, json).await {
        forget_attempt(&fetch, &e).await;
        return Err(RunFailure::new(RunError::Shard(e), &sources));
    }
    // The manifest names this attempt now: what an earlier attempt left is garbage.
    let _ = stage.delete(&layout.failed(shard.index)).await;
    remove_other_attempts(&fetch).await;
    drop(staging);
    let staged = staged_note(
        pipeline,
        sharding,
        shard,
        sources.is_empty(),
        &stage.show(&key),
    );
    Ok(RunReport {
        pipeline: pipeline.name.clone(),
        run_id: clock.run_id.clone(),
        sources,
        sinks: Vec::new(),
        previews: Vec::new(),
        elapsed: started.elapsed(),
        tables: Vec::new(),
        state: None,
        state_note: None,
        skipped: Vec::new(),
        checks: Vec::new(),
        staged: Some(staged),
    })
}

/// What the summary says a shard did, and what comes next.
fn staged_note(
    pipeline: &Pipeline,
    sharding: &Sharding,
    shard: Shard,
    idle: bool,
    manifest: &str,
) -> String {
    let idle = if idle {
        "this shard had nothing to fetch: no `for_each` source of this pipeline has its \
         parents split between shards, and shard 0 fetches the others\n"
    } else {
        ""
    };
    let others = if shard.count == 1 {
        ""
    } else {
        " and every other shard"
    };
    format!(
        "{idle}shard {shard} of run `{}` staged: {manifest}\nonce this shard{others} has, put them together: etl run {} --finish --run-id {} --stage {}",
        sharding.run_id,
        pipeline.file.display(),
        sharding.run_id,
        sharding.stage
    )
}

/// Per source: whether this shard fetches it.
fn fetched_here(plan: &Plan, roles: &[Role], shard: Shard) -> Vec<bool> {
    plan.sources
        .iter()
        .zip(roles)
        .map(|(on, role)| *on && role.fetched_by(shard))
        .collect()
}

/// The state the finish of the last sharded run published, if any, with its sha256.
async fn published_state(stage: &Stage, pipeline: &str) -> Result<Option<(State, String)>, String> {
    let key = shard::state_key(pipeline);
    let Some(bytes) = stage.get(&key).await? else {
        return Ok(None);
    };
    let parsed = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "the state at `{}` is not readable ({e}); delete it to start every source over",
            stage.show(&key)
        )
    })?;
    Ok(Some((parsed, crate::digest::sha256(&bytes))))
}

/// The sha256 of the pipeline file, for the finish to check it runs the same one.
pub(super) fn pipeline_sha256(pipeline: &Pipeline) -> String {
    std::fs::read(&pipeline.file)
        .map(|b| crate::digest::sha256(&b))
        .unwrap_or_default()
}

/// After a failure: this attempt's parts removed (best effort), and a note saying why, for
/// the finish to show. An earlier attempt's manifest stays as it was, and so do shard 0's
/// publications (complete once written: a rerun takes them as they are).
async fn forget_attempt(fetch: &ShardFetch, error: &str) {
    let (stage, layout, k) = (&fetch.stage, &fetch.layout, fetch.shard.index);
    let prefix = format!("{}/{}", layout.shard_dir(k), fetch.attempt);
    if let Ok(keys) = stage.list(&prefix).await {
        for key in keys {
            let _ = stage.delete(&key).await;
        }
    }
    let note = FailedNote {
        shard: k,
        shards: fetch.shard.count,
        attempt: fetch.attempt.clone(),
        finished_at: chrono::Utc::now().to_rfc3339(),
        error: error.to_owned(),
    };
    if let Ok(json) = serde_json::to_vec_pretty(&note) {
        if let Err(e) = stage.put(&layout.failed(k), json).await {
            warn!(error = %e, "Could not leave a note that this shard failed.");
        }
    }
}

/// Deletes the parts of earlier attempts of this shard.
async fn remove_other_attempts(fetch: &ShardFetch) {
    let dir = fetch.layout.shard_dir(fetch.shard.index);
    let ours = format!("{dir}/{}/", fetch.attempt);
    let Ok(keys) = fetch.stage.list(&dir).await else {
        return;
    };
    for key in keys {
        let rest = &key[dir.len()..];
        let attempt_part =
            rest.trim_start_matches('/').contains('/') && !rest.starts_with("/published/");
        if attempt_part && !key.starts_with(&ours) {
            let _ = fetch.stage.delete(&key).await;
        }
    }
}

/// By source name: in shard 0, the publications it made or took up again; in another shard,
/// the publications it split its work over.
fn publications(
    pipeline: &Pipeline,
    shard: Shard,
    selected: &[bool],
    extracted: &extract::Extracted,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut published = BTreeMap::new();
    let mut parents_from = BTreeMap::new();
    for (index, source) in pipeline.sources.iter().enumerate() {
        let Some(sha) = extracted.publications[index].clone() else {
            continue;
        };
        if shard.index == 0 && selected[index] {
            published.insert(source.name.clone(), sha);
        } else if shard.index != 0 && extracted.borrowed[index] {
            parents_from.insert(source.name.clone(), sha);
        }
    }
    (published, parents_from)
}

/// In shard 0: per source, whether an earlier attempt of this run published it already.
async fn republished(
    stage: &Stage,
    layout: &shard::Layout,
    pipeline: &Pipeline,
    shard: Shard,
    to_publish: &[bool],
) -> Result<Vec<bool>, String> {
    let mut found = vec![false; to_publish.len()];
    if shard.index != 0 {
        return Ok(found);
    }
    for ((slot, source), publish) in found.iter_mut().zip(&pipeline.sources).zip(to_publish) {
        if *publish {
            *slot = stage.get(&layout.published(&source.name)).await?.is_some();
        }
    }
    Ok(found)
}

/// Per source this shard fetched once per distinct key of a parent other shards may hold
/// too (a following source without `include_from_parent`): the keys it fetched, for the
/// finish to check no two shards fetched the same.
async fn fetched_keys(
    local: &Pipeline,
    roles: &[Role],
    selected: &[bool],
    tables: &[Option<etl_source::StagedTable>],
) -> Result<BTreeMap<String, Vec<String>>, RunError> {
    let mut jobs = Vec::new();
    for (index, source) in local.sources.iter().enumerate() {
        let Some(each) = &source.for_each else {
            continue;
        };
        if roles[index] != Role::Follows
            || !selected[index]
            || !source.include_from_parent.is_empty()
        {
            continue;
        }
        let parent = local.sources.iter().position(|p| p.name == each.source);
        if let Some(table) = parent.and_then(|p| tables[p].clone()) {
            jobs.push((source.clone(), table));
        }
    }
    if jobs.is_empty() {
        return Ok(BTreeMap::new());
    }
    tokio::task::spawn_blocking(move || {
        let mut keys = BTreeMap::new();
        for (source, table) in jobs {
            keys.insert(
                source.name.clone(),
                etl_source::parent_keys(&source, &table)?,
            );
        }
        Ok(keys)
    })
    .await
    .map_err(|e| RunError::Task {
        what: "reading parent keys",
        message: e.to_string(),
    })?
}
