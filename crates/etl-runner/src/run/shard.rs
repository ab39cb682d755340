//! One shard of a sharded run: fetch this shard's share, upload it to the stage, write the
//! shard's manifest last. No transform, check or sink runs here; the finish runs them.

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
    let previous = published_state(&stage, &pipeline.name)
        .await
        .map_err(fail)?;
    let windows =
        windows(pipeline, plan, previous.as_ref()).map_err(|e| RunFailure::new(e, &[]))?;
    let roles = shard::roles(pipeline);
    let local = shard::for_shard(pipeline, shard, &roles);
    let selected: Vec<bool> = plan
        .sources
        .iter()
        .zip(&roles)
        .map(|(on, role)| *on && (*role != Role::Once || shard.index == 0))
        .collect();
    // A fresh folder per attempt: a rerun never writes over the parts a manifest lists.
    let attempt = super::RunClock::now().run_id;
    let fetch = Arc::new(ShardFetch {
        stage: stage.clone(),
        shard,
        run_id: sharding.run_id.clone(),
        attempt: attempt.clone(),
        shared: shard::shared(pipeline, &roles),
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
        parents_from: extracted
            .borrowed
            .iter()
            .zip(&pipeline.sources)
            .filter_map(|(b, s)| b.clone().map(|a| (s.name.clone(), a)))
            .collect(),
    };
    let key = shard::manifest_key(&sharding.run_id, shard.index);
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| fail(e.to_string()))?;
    if let Err(e) = stage.put(&key, json).await {
        forget_attempt(&fetch, &e).await;
        return Err(RunFailure::new(RunError::Shard(e), &sources));
    }
    // The manifest names this attempt now: what an earlier attempt left is garbage.
    let _ = stage
        .delete(&shard::failed_key(&sharding.run_id, shard.index))
        .await;
    remove_other_attempts(&fetch).await;
    drop(staging);
    let idle = if sources.is_empty() {
        "this shard had nothing to fetch: no `for_each` source of this pipeline has its \
         parents split between shards, and shard 0 fetches the others\n"
    } else {
        ""
    };
    let others = if shard.count == 1 {
        String::new()
    } else {
        " and every other shard".to_owned()
    };
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
        staged: Some(format!(
            "{idle}shard {shard} of run `{}` staged: {}\nonce this shard{others} has, put them together: etl run {} --finish --run-id {} --stage {}",
            sharding.run_id,
            stage.show(&key),
            pipeline.file.display(),
            sharding.run_id,
            sharding.stage
        )),
    })
}

/// The state the finish of the last sharded run published, if any.
async fn published_state(stage: &Stage, pipeline: &str) -> Result<Option<State>, String> {
    let key = shard::state_key(pipeline);
    let Some(bytes) = stage.get(&key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        format!(
            "the state at `{}` is not readable ({e}); delete it to start every source over",
            stage.show(&key)
        )
    })
}

/// The sha256 of the pipeline file, for the finish to check it runs the same one.
pub(super) fn pipeline_sha256(pipeline: &Pipeline) -> String {
    std::fs::read(&pipeline.file)
        .map(|b| crate::digest::sha256(&b))
        .unwrap_or_default()
}

/// After a failure: this attempt's parts and publications removed (best effort), and a note
/// saying why, for the finish to show. An earlier attempt's manifest stays as it was.
async fn forget_attempt(fetch: &ShardFetch, error: &str) {
    let (stage, run_id, k) = (&fetch.stage, &fetch.run_id, fetch.shard.index);
    if k == 0 {
        for (source, shared) in fetch.pipeline.sources.iter().zip(&fetch.shared) {
            if !*shared {
                continue;
            }
            let key = shard::published_key(run_id, &source.name);
            let ours = matches!(stage.get(&key).await, Ok(Some(bytes))
                if serde_json::from_slice::<shard::StagedSource>(&bytes)
                    .is_ok_and(|s| s.attempt == fetch.attempt));
            if ours {
                let _ = stage.delete(&key).await;
            }
        }
    }
    let prefix = format!("{}/{}", shard::shard_dir(run_id, k), fetch.attempt);
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
        if let Err(e) = stage.put(&shard::failed_key(run_id, k), json).await {
            warn!(error = %e, "Could not leave a note that this shard failed.");
        }
    }
}

/// Deletes the parts of earlier attempts of this shard.
async fn remove_other_attempts(fetch: &ShardFetch) {
    let dir = shard::shard_dir(&fetch.run_id, fetch.shard.index);
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
