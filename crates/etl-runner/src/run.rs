//! Running a checked pipeline: sources concurrently, then transforms, then sinks, with nothing
//! written unless everything before succeeded.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use etl_sink::{PreviewSpec, RenderVars, Written};
use etl_source::{Extractor, FieldType, SourceStats, StagedTable};
use etl_transform::{ColumnType, Table, Transformer};
use polars::prelude::DataFrame;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{info, info_span};

use crate::pipeline::Pipeline;

/// What a successful run did.
#[derive(Debug)]
pub struct RunReport {
    pub pipeline: String,
    pub run_id: String,
    pub sources: Vec<(String, SourceStats)>,
    pub sinks: Vec<(String, Written)>,
    /// Per sink with `preview`: the rows to show and how they were chosen.
    pub previews: Vec<(String, DataFrame, PreviewSpec)>,
    pub elapsed: Duration,
}

/// Why a run failed, with what had been done when it did.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    pub message: String,
    pub sources: Vec<(String, SourceStats)>,
    /// Output files already in place when the run failed (only when renaming a later one
    /// failed); empty otherwise: nothing was written.
    pub placed: Vec<PathBuf>,
}

impl RunError {
    fn new(message: impl Into<String>, sources: &[(String, SourceStats)]) -> Self {
        Self {
            message: message.into(),
            sources: sources.to_vec(),
            placed: Vec::new(),
        }
    }
}

/// Why the transform and write step failed, and what it had put in place by then.
#[derive(Debug)]
struct StepError {
    message: String,
    placed: Vec<PathBuf>,
}

impl From<String> for StepError {
    fn from(message: String) -> Self {
        Self {
            message,
            placed: Vec::new(),
        }
    }
}

/// A run's identity and clock, fixed at its start.
#[derive(Debug, Clone)]
pub struct RunClock {
    pub run_id: String,
    /// `YYYYmmdd_HHMMSS`, UTC.
    pub timestamp: String,
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
}

impl RunClock {
    pub fn now() -> Self {
        let now = chrono::Utc::now();
        let timestamp = now.format("%Y%m%d_%H%M%S").to_string();
        // Unique enough for one pipeline: the time plus a few random bits.
        let salt = std::collections::hash_map::RandomState::new();
        let bits = std::hash::BuildHasher::hash_one(&salt, now.timestamp_nanos_opt()) & 0xffff;
        Self {
            run_id: format!("{timestamp}-{bits:04x}"),
            timestamp,
            date: now.format("%Y-%m-%d").to_string(),
        }
    }
}

/// A request to stop a run (SIGINT, SIGTERM), seen by every stage.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<(AtomicBool, Notify)>,
}

impl Cancel {
    pub fn cancel(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    async fn cancelled(&self) {
        let notified = self.inner.1.notified();
        if !self.is_cancelled() {
            notified.await;
        }
    }
}

const INTERRUPTED: &str = "interrupted before it finished";

/// Runs a pipeline to completion, or until `cancel` stops it (then nothing is written and
/// the error says it was interrupted).
pub async fn run(
    pipeline: &Pipeline,
    clock: &RunClock,
    cancel: &Cancel,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let span = info_span!("run", pipeline = %pipeline.name, run_id = %clock.run_id);
    let _enter = span.enter();
    let staging = tempfile::Builder::new()
        .prefix(&format!("etl-{}-", pipeline.name))
        .tempdir()
        .map_err(|e| {
            RunError::new(
                format!("cannot create a staging folder in the temp dir: {e}"),
                &[],
            )
        })?;

    let (stats, tables) = extract_all(pipeline, staging.path().to_owned(), cancel).await?;

    let outcome = {
        let pipeline = pipeline.clone();
        let clock = clock.clone();
        let stats_for_error = stats.clone();
        let cancel = cancel.clone();
        // Awaited to the end even when cancelled: it stops at its next check and removes what
        // it was writing, so nothing is left behind when the process exits.
        tokio::task::spawn_blocking(move || {
            transform_and_write(&pipeline, &clock, &tables, &cancel)
        })
        .await
        .map_err(|e| {
            RunError::new(
                format!("the transform step stopped unexpectedly: {e}"),
                &stats_for_error,
            )
        })?
    };
    let (sinks, previews) = outcome.map_err(|e| RunError {
        message: e.message,
        sources: stats.clone(),
        placed: e.placed,
    })?;
    drop(staging);
    Ok(RunReport {
        pipeline: pipeline.name.clone(),
        run_id: clock.run_id.clone(),
        sources: stats,
        sinks,
        previews,
        elapsed: started.elapsed(),
    })
}

async fn extract_all(
    pipeline: &Pipeline,
    staging: PathBuf,
    cancel: &Cancel,
) -> Result<(Vec<(String, SourceStats)>, Vec<StagedTable>), RunError> {
    let extractor = Extractor::new().map_err(|e| RunError::new(e.to_string(), &[]))?;
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
            if started[index] {
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
            let path = staging.join(format!("{index:03}-{}.ndjson", source.name));
            tasks.spawn(async move {
                let result = extractor.run(&source, &path, parent.as_ref()).await;
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
                return Err(RunError::new(INTERRUPTED, &[]));
            }
        };
        let Some(joined) = joined else { break };
        let finished: Vec<(String, SourceStats)> = done
            .iter()
            .zip(sources)
            .filter_map(|(d, s)| d.as_ref().map(|(st, _)| (s.name.clone(), st.clone())))
            .collect();
        let (index, result) = joined.map_err(|e| {
            RunError::new(
                format!("a source task stopped unexpectedly: {e}"),
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
                return Err(RunError::new(e.to_string(), &finished));
            }
        }
        spawn_ready(&done, &mut started, &mut tasks);
    }
    let mut stats = Vec::new();
    let mut tables = Vec::new();
    for (slot, source) in done.into_iter().zip(sources) {
        let (s, t) = slot.ok_or_else(|| {
            RunError::new(format!("source `{}` did not finish", source.name), &[])
        })?;
        stats.push((source.name.clone(), s));
        tables.push(t);
    }
    Ok((stats, tables))
}

type Outputs = (
    Vec<(String, Written)>,
    Vec<(String, DataFrame, PreviewSpec)>,
);

fn transform_and_write(
    pipeline: &Pipeline,
    clock: &RunClock,
    staged: &[StagedTable],
    cancel: &Cancel,
) -> Result<Outputs, StepError> {
    let check = || {
        if cancel.is_cancelled() {
            Err(StepError::from(INTERRUPTED.to_owned()))
        } else {
            Ok(())
        }
    };
    check()?;
    let mut transformer = Transformer::new();
    for (source, table) in pipeline.sources.iter().zip(staged) {
        let table = Table {
            name: source.name.clone(),
            path: table.path.clone(),
            rows: table.rows,
            columns: table
                .columns
                .iter()
                .map(|(n, t)| (n.clone(), column_type(t)))
                .collect(),
        };
        transformer.add_table(&table).map_err(|e| e.to_string())?;
    }
    for (name, spec) in &pipeline.transforms {
        transformer.run(name, spec).map_err(|e| e.to_string())?;
    }

    // Every output is computed and every target checked before the first file is written.
    let mut planned = Vec::new();
    for sink in &pipeline.sinks {
        let path = sink.path.render(&RenderVars {
            pipeline: &pipeline.name,
            sink: &sink.name,
            date: &clock.date,
            timestamp: &clock.timestamp,
            run_id: &clock.run_id,
        });
        if sink.if_exists == etl_sink::IfExists::Fail && path.exists() {
            return Err(etl_sink::Error::Exists {
                sink: sink.name.clone(),
                path,
            }
            .to_string()
            .into());
        }
        if planned.iter().any(|(_, p, _): &(_, PathBuf, _)| *p == path) {
            return Err(StepError::from(format!(
                "sink `{}` would write `{}`, which another sink of this run writes; give each sink its own path",
                sink.name,
                path.display()
            )));
        }
        let started = Instant::now();
        check()?;
        let frame = transformer.collect(&sink.from).map_err(|e| e.to_string())?;
        info!(sink = %sink.name, rows = frame.height(), ms = started.elapsed().as_millis() as u64, "Computed output.");
        planned.push((sink, path, frame));
    }
    let mut previews = Vec::new();
    for (sink, _, frame) in &planned {
        if let Some(p) = &sink.preview {
            previews.push((
                sink.name.clone(),
                etl_sink::preview(frame, p, &sink.name).map_err(|e| e.to_string())?,
                p.clone(),
            ));
        }
    }
    // Every file is written and synced under a temporary name first; only when all of them
    // are ready is any put in place. A failure before that leaves nothing behind.
    let mut prepared = PreparedFiles(Vec::new());
    for (sink, path, mut frame) in planned {
        check()?;
        let file = etl_sink::prepare(&mut frame, sink, &path).map_err(|e| e.to_string())?;
        prepared.0.push((sink.name.clone(), file));
    }
    let mut written: Vec<(String, Written)> = Vec::new();
    // The last moment to stop: the files are ready but none is in place.
    check()?;
    for (name, file) in std::mem::take(&mut prepared.0) {
        match file.commit() {
            Ok(w) => {
                info!(sink = %name, path = %w.path.display(), rows = w.rows, bytes = w.bytes, "Wrote output.");
                written.push((name, w));
            }
            Err(e) => {
                // Renaming failed (the disk, a permission): files already renamed stay, as
                // they are complete, and the error names them.
                return Err(StepError {
                    message: e.to_string(),
                    placed: written.into_iter().map(|(_, w)| w.path).collect(),
                });
            }
        }
    }
    // Housekeeping, once everything is in place: older files of sinks with `keep_last`.
    for sink in &pipeline.sinks {
        let (Some(keep), Some((_, w))) = (
            sink.keep_last,
            written.iter().find(|(n, _)| *n == sink.name),
        ) else {
            continue;
        };
        let vars = RenderVars {
            pipeline: &pipeline.name,
            sink: &sink.name,
            date: &clock.date,
            timestamp: &clock.timestamp,
            run_id: &clock.run_id,
        };
        match sink.path.prune(&w.path, &vars, keep) {
            Ok(removed) => {
                for path in removed {
                    info!(sink = %sink.name, path = %path.display(), "Removed an older file (keep_last).");
                }
            }
            Err(e) => {
                tracing::warn!(sink = %sink.name, error = %e, "Could not remove older files (keep_last).");
            }
        }
    }
    Ok((written, previews))
}

/// Files written but not in place. Dropped last first, so that a folder created for the
/// first is empty (and removed) by the time its turn comes.
struct PreparedFiles(Vec<(String, etl_sink::Prepared)>);

impl Drop for PreparedFiles {
    fn drop(&mut self) {
        while let Some(last) = self.0.pop() {
            drop(last);
        }
    }
}

fn column_type(t: &FieldType) -> ColumnType {
    match t {
        FieldType::Null => ColumnType::Null,
        FieldType::Bool => ColumnType::Bool,
        FieldType::Int => ColumnType::Int,
        FieldType::Float => ColumnType::Float,
        FieldType::String | FieldType::Text => ColumnType::String,
        FieldType::List(inner) => ColumnType::List(Box::new(column_type(inner))),
    }
}
