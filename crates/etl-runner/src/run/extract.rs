//! Every selected source fetched concurrently; a `for_each` child starts when its parent has
//! finished. One failure stops the others. In a shard of a sharded run, each source this
//! shard fetches is uploaded to the stage as soon as it is staged, and a parent that shard 0
//! fetches for the others is waited for and downloaded instead of fetched.

use std::path::PathBuf;
use std::sync::Arc;

use etl_source::{Extractor, ProgressSink, SourceStats, StagedTable, Window};
use tokio::task::JoinSet;

use super::Cancel;
use crate::error::{RunError, RunFailure};
use crate::pipeline::Pipeline;
use crate::shard::{ShardFetch, StagedSource};

/// Per source (all of them, in order): its counts, and its staged table if it ran.
pub(super) struct Extracted {
    pub(super) stats: Vec<(String, SourceStats)>,
    pub(super) tables: Vec<Option<StagedTable>>,
    /// In a shard: each source this shard fetched, as uploaded to the stage.
    pub(super) staged: Vec<Option<StagedSource>>,
    /// In a shard: per source, the sha256 of shard 0's publication of it, when this shard
    /// published it (shard 0) or took it from there.
    pub(super) publications: Vec<Option<String>>,
    /// In a shard: per source, whether it was taken from shard 0's publication.
    pub(super) borrowed: Vec<bool>,
}

/// What one source task ended with.
struct Finished {
    stats: SourceStats,
    table: StagedTable,
    staged: Option<StagedSource>,
    publication: Option<String>,
    borrowed: bool,
}

pub(super) async fn extract_all(
    pipeline: &Pipeline,
    staging: PathBuf,
    cancel: &Cancel,
    selected: &[bool],
    windows: &[Window],
    progress: Option<Arc<dyn ProgressSink>>,
    shard: Option<Arc<ShardFetch>>,
) -> Result<Extracted, RunFailure> {
    let mut extractor = Extractor::new().map_err(|e| RunFailure::new(e, &[]))?;
    if let Some(sink) = progress {
        extractor = extractor.with_progress(sink);
    }
    let sources = &pipeline.sources;
    let index_of = |name: &str| sources.iter().position(|s| s.name == name);
    // A source runs here (fetched, or in a shard taken from shard 0) when selected.
    let runs = |index: usize| {
        selected[index] || shard.as_ref().is_some_and(|s| s.borrows(index, selected))
    };
    let mut done: Vec<Option<Finished>> = (0..sources.len()).map(|_| None).collect();
    let mut started = vec![false; sources.len()];
    let mut tasks = JoinSet::new();
    // Sources start as soon as their parent (`for_each`) has finished; the rest at once.
    let spawn_ready = |done: &[Option<Finished>], started: &mut [bool], tasks: &mut JoinSet<_>| {
        for (index, source) in sources.iter().enumerate() {
            if started[index] || !runs(index) {
                continue;
            }
            started[index] = true;
            let path = staging.join(format!("{index:03}-{}.parquet", source.name));
            if let Some(fetch) = shard.as_ref().filter(|s| s.borrows(index, selected)) {
                let fetch = Arc::clone(fetch);
                let name = source.name.clone();
                tasks.spawn(async move { (index, borrow(&fetch, &name, &path).await) });
                continue;
            }
            let parent = match &source.for_each {
                Some(each) => match index_of(&each.source).and_then(|i| done[i].as_ref()) {
                    Some(f) => Some(f.table.clone()),
                    None => {
                        started[index] = false;
                        continue;
                    }
                },
                None => None,
            };
            let extractor = extractor.clone();
            let source = source.clone();
            let window = windows[index].clone();
            let shard = shard.clone().map(|s| (s, index));
            tasks.spawn(async move {
                let result = fetch(&extractor, &source, &path, parent, &window, shard).await;
                (index, result)
            });
        }
    };
    spawn_ready(&done, &mut started, &mut tasks);
    loop {
        let joined = tokio::select! {
            joined = tasks.join_next() => joined,
            () = cancel.cancelled() => {
                // Stop every request now, and wait for the tasks to let go of their files.
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                return Err(RunFailure::new(RunError::Interrupted, &[]));
            }
        };
        let Some(joined) = joined else { break };
        let finished: Vec<(String, SourceStats)> = done
            .iter()
            .zip(sources)
            .zip(selected)
            .filter_map(|((d, s), on)| {
                d.as_ref()
                    .filter(|_| *on)
                    .map(|f| (s.name.clone(), f.stats.clone()))
            })
            .collect();
        let (index, result) = joined.map_err(|e| {
            RunFailure::new(
                RunError::Task {
                    what: "a source task",
                    message: e.to_string(),
                },
                &finished,
            )
        })?;
        match result {
            Ok(r) => done[index] = Some(r),
            Err(e) => {
                // One source failed: the report cannot be complete, stop the others now, and
                // wait for them to let go of their staged files.
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                return Err(RunFailure::new(e, &finished));
            }
        }
        spawn_ready(&done, &mut started, &mut tasks);
    }
    assemble(done, sources, selected, runs)
}

/// Every source's outcome, in order, once all have finished.
fn assemble(
    done: Vec<Option<Finished>>,
    sources: &[etl_source::SourceConfig],
    selected: &[bool],
    runs: impl Fn(usize) -> bool,
) -> Result<Extracted, RunFailure> {
    let mut out = Extracted {
        stats: Vec::new(),
        tables: Vec::new(),
        staged: Vec::new(),
        publications: Vec::new(),
        borrowed: Vec::new(),
    };
    for ((slot, source), index) in done.into_iter().zip(sources).zip(0..) {
        match slot {
            Some(f) => {
                let stats = if selected[index] {
                    f.stats
                } else {
                    SourceStats::default()
                };
                out.stats.push((source.name.clone(), stats));
                out.tables.push(Some(f.table));
                out.staged.push(f.staged);
                out.publications.push(f.publication);
                out.borrowed.push(f.borrowed);
            }
            None if !runs(index) => {
                out.stats
                    .push((source.name.clone(), SourceStats::default()));
                out.tables.push(None);
                out.staged.push(None);
                out.publications.push(None);
                out.borrowed.push(false);
            }
            None => {
                return Err(RunFailure::new(
                    RunError::Unfinished(source.name.clone()),
                    &[],
                ));
            }
        }
    }
    Ok(out)
}

/// Fetches one source; in a shard, uploads it to the stage.
async fn fetch(
    extractor: &Extractor,
    source: &etl_source::SourceConfig,
    path: &std::path::Path,
    parent: Option<StagedTable>,
    window: &Window,
    shard: Option<(Arc<ShardFetch>, usize)>,
) -> Result<Finished, RunError> {
    let (stats, table) = extractor
        .run(source, path, parent.as_ref(), Some(window))
        .await?;
    let (staged, publication) = match shard {
        Some((fetch, index)) => {
            let (staged, publication) = fetch.upload(index, &source.name, &stats, &table).await?;
            (Some(staged), publication)
        }
        None => (None, None),
    };
    Ok(Finished {
        stats,
        table,
        staged,
        publication,
        borrowed: false,
    })
}

/// The records of a source shard 0 publishes for every shard: in another shard, to split
/// over; in shard 0 run again, as its earlier attempt published them (staged as they are,
/// with the counts of the attempt that fetched them).
async fn borrow(
    fetch: &ShardFetch,
    name: &str,
    path: &std::path::Path,
) -> Result<Finished, RunError> {
    let borrowed = fetch.download_published(name, path).await?;
    // Shard 0 stages what its earlier attempt fetched: its counts are that attempt's.
    let stats = if fetch.shard.index == 0 {
        borrowed
            .staged
            .stats
            .to_stats(name)
            .map_err(RunError::Shard)?
    } else {
        SourceStats::default()
    };
    let staged = (fetch.shard.index == 0).then(|| {
        tracing::info!(
            source = name,
            attempt = %borrowed.staged.attempt,
            "Taken as an earlier attempt of shard 0 published it: the other shards split over these records."
        );
        borrowed.staged
    });
    Ok(Finished {
        stats,
        table: borrowed.table,
        staged,
        publication: Some(borrowed.sha256),
        borrowed: true,
    })
}
