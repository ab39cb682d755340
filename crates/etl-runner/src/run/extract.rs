//! Every selected source fetched concurrently; a `for_each` child starts when its parent has
//! finished. One failure stops the others.

use std::path::PathBuf;
use std::sync::Arc;

use etl_source::{Extractor, ProgressSink, SourceStats, StagedTable, Window};
use tokio::task::JoinSet;

use super::Cancel;
use crate::error::{RunError, RunFailure};
use crate::pipeline::Pipeline;

/// Per source (all of them, in order): its counts, and its staged table if it ran.
pub(super) type Extracted = (Vec<(String, SourceStats)>, Vec<Option<StagedTable>>);

pub(super) async fn extract_all(
    pipeline: &Pipeline,
    staging: PathBuf,
    cancel: &Cancel,
    selected: &[bool],
    windows: &[Window],
    progress: Option<Arc<dyn ProgressSink>>,
) -> Result<Extracted, RunFailure> {
    let mut extractor = Extractor::new().map_err(|e| RunFailure::new(e, &[]))?;
    if let Some(sink) = progress {
        extractor = extractor.with_progress(sink);
    }
    let sources = &pipeline.sources;
    let index_of = |name: &str| sources.iter().position(|s| s.name == name);
    let mut done: Vec<Option<(SourceStats, StagedTable)>> = vec![None; sources.len()];
    let mut started = vec![false; sources.len()];
    let mut tasks = JoinSet::new();
    // Sources start as soon as their parent (`for_each`) has finished; the rest at once.
    let spawn_ready = |done: &[Option<(SourceStats, StagedTable)>],
                       started: &mut [bool],
                       tasks: &mut JoinSet<_>| {
        for (index, source) in sources.iter().enumerate() {
            if started[index] || !selected[index] {
                continue;
            }
            let parent = match &source.for_each {
                Some(each) => match index_of(&each.source).and_then(|i| done[i].as_ref()) {
                    Some((_, table)) => Some(table.clone()),
                    None => continue,
                },
                None => None,
            };
            started[index] = true;
            let extractor = extractor.clone();
            let source = source.clone();
            let path = staging.join(format!("{index:03}-{}.parquet", source.name));
            let window = windows[index].clone();
            tasks.spawn(async move {
                let result = extractor
                    .run(&source, &path, parent.as_ref(), Some(&window))
                    .await;
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
            .filter_map(|(d, s)| d.as_ref().map(|(st, _)| (s.name.clone(), st.clone())))
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
    let mut stats = Vec::new();
    let mut tables = Vec::new();
    for ((slot, source), on) in done.into_iter().zip(sources).zip(selected) {
        match slot {
            Some((s, t)) => {
                stats.push((source.name.clone(), s));
                tables.push(Some(t));
            }
            None if !on => {
                stats.push((source.name.clone(), SourceStats::default()));
                tables.push(None);
            }
            None => {
                return Err(RunFailure::new(
                    RunError::Unfinished(source.name.clone()),
                    &[],
                ));
            }
        }
    }
    Ok((stats, tables))
}
