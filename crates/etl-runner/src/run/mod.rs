//! Running a checked pipeline: sources concurrently, then transforms, then sinks, with nothing
//! written unless everything before succeeded: `plan.rs` checks the options, `extract.rs`
//! fetches, `step.rs` transforms, checks, writes and saves the state.

mod extract;
mod finish;
mod plan;
mod shard;
mod step;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use etl_sink::{Loaded, PreviewSpec, Written};
use etl_source::{SourceStats, Window};
use polars::prelude::DataFrame;
use tokio::sync::Notify;
use tracing::{info, info_span};

pub use plan::{Plan, RunOptions};

use crate::error::{RunError, RunFailure};
use crate::pipeline::Pipeline;
use crate::shard::Mode;
use crate::state::{State, StateError, TableState};
use step::{Done, Step};

/// What a sink put in place: a file, or rows committed to a table.
#[derive(Debug, Clone)]
pub enum Delivered {
    File(Written),
    Table(Loaded),
}

impl Delivered {
    pub fn rows(&self) -> u64 {
        match self {
            Delivered::File(w) => w.rows,
            Delivered::Table(t) => t.rows,
        }
    }

    /// The file's path, or `table `t` in DATABASE`, for people (credentials masked).
    pub fn describe(&self) -> String {
        match self {
            Delivered::File(w) => w.location.to_string(),
            Delivered::Table(t) => format!("table `{}` in {} ({})", t.table, t.database, t.mode),
        }
    }
}

/// What a successful run did.
#[derive(Debug)]
pub struct RunReport {
    pub pipeline: String,
    pub run_id: String,
    pub sources: Vec<(String, SourceStats)>,
    pub sinks: Vec<(String, Delivered)>,
    /// Per sink with `preview`: the rows to show and how they were chosen.
    pub previews: Vec<(String, DataFrame, PreviewSpec)>,
    pub elapsed: Duration,
    /// Merged tables put in place (with their state).
    pub tables: Vec<(String, TableState)>,
    /// The state file, when this run saved it.
    pub state: Option<PathBuf>,
    /// Why the state was not saved, when it was not although there are incremental sources.
    pub state_note: Option<String>,
    /// Transforms and sinks left out by `--only`.
    pub skipped: Vec<String>,
    /// The checks that passed, `table: check` (`engagement: unique user_id`).
    pub checks: Vec<String>,
    /// A shard of a sharded run: where its manifest is, and what comes next.
    pub staged: Option<String>,
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

/// Runs a pipeline to completion, or until `cancel` stops it (then nothing is written and
/// the error says it was interrupted); `progress` hears what each source does.
pub async fn run(
    pipeline: &Pipeline,
    clock: &RunClock,
    cancel: &Cancel,
    plan: &Plan,
    progress: Option<Arc<dyn etl_source::ProgressSink>>,
) -> Result<RunReport, RunFailure> {
    let started = Instant::now();
    let span = info_span!("run", pipeline = %pipeline.name, run_id = %clock.run_id);
    let _enter = span.enter();
    match plan.sharding.as_ref().map(|s| (s, s.mode)) {
        Some((sharding, Mode::Shard(shard))) => {
            return shard::run_shard(pipeline, clock, cancel, plan, progress, sharding, shard)
                .await;
        }
        Some((sharding, Mode::Finish)) => {
            return finish::finish(pipeline, clock, cancel, plan, sharding).await;
        }
        None => {}
    }
    let staging = tempfile::Builder::new()
        .prefix(&format!("etl-{}-", pipeline.name))
        .tempdir()
        .map_err(|e| RunFailure::new(RunError::Staging(e), &[]))?;
    let previous = State::load(&plan.root, &pipeline.name).map_err(|e| RunFailure::new(e, &[]))?;
    let windows =
        windows(pipeline, plan, previous.as_ref()).map_err(|e| RunFailure::new(e, &[]))?;
    check_destinations(pipeline, clock, plan).await?;

    let fetching = Instant::now();
    let extracted = extract::extract_all(
        pipeline,
        staging.path().to_owned(),
        cancel,
        &plan.sources,
        &windows,
        progress,
        None,
    )
    .await?;
    let report = deliver(
        pipeline,
        clock,
        cancel,
        plan,
        previous,
        extracted.stats,
        extracted.tables,
        (started, fetching.elapsed()),
    )
    .await;
    drop(staging);
    report
}

/// The end of a run over staged tables: transforms, checks, sinks, merged tables and state
/// (on a blocking thread), then the report. `times`: when the run started, how long it
/// fetched.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    pipeline: &Pipeline,
    clock: &RunClock,
    cancel: &Cancel,
    plan: &Plan,
    previous: Option<State>,
    stats: Vec<(String, SourceStats)>,
    tables: Vec<Option<etl_source::StagedTable>>,
    (started, fetch): (Instant, Duration),
) -> Result<RunReport, RunFailure> {
    let done = {
        let step = Step {
            pipeline: pipeline.clone(),
            clock: clock.clone(),
            plan: plan.clone(),
            staged: tables,
            stats: stats.clone(),
            previous,
            cancel: cancel.clone(),
        };
        // Awaited to the end even when cancelled: it stops at its next check and removes what
        // it was writing, so nothing is left behind when the process exits.
        tokio::task::spawn_blocking(move || step.run())
            .await
            .map_err(|e| {
                RunFailure::new(
                    RunError::Task {
                        what: "the transform step",
                        message: e.to_string(),
                    },
                    &stats,
                )
            })?
            .map_err(|e| RunFailure {
                error: e.error,
                sources: stats.clone(),
                placed: e.placed,
            })?
    };
    log_timings(&stats, fetch, &done);
    Ok(RunReport {
        pipeline: pipeline.name.clone(),
        run_id: clock.run_id.clone(),
        sources: stats
            .into_iter()
            .zip(&plan.sources)
            .filter(|(_, on)| **on)
            .map(|(s, _)| s)
            .collect(),
        skipped: skipped(pipeline, plan),
        sinks: done.written,
        previews: done.previews,
        elapsed: started.elapsed(),
        tables: done.tables,
        state: done.state,
        state_note: done.state_note,
        checks: done.checks,
        staged: None,
    })
}

/// Before the first request to a source: every database and bucket this run writes can be
/// reached with its credentials, and the table or object created or written (nothing is
/// changed; a local file sink has nothing to check). A run that
/// could not deliver fails here, not after fetching for an hour.
async fn check_destinations(
    pipeline: &Pipeline,
    clock: &RunClock,
    plan: &Plan,
) -> Result<(), RunFailure> {
    let sinks: Vec<etl_sink::SinkConfig> = pipeline
        .sinks
        .iter()
        .zip(&plan.sinks)
        .filter(|(_, on)| **on)
        .map(|(s, _)| s.clone())
        .collect();
    if sinks.is_empty() {
        return Ok(());
    }
    let (name, clock) = (pipeline.name.clone(), clock.clone());
    tokio::task::spawn_blocking(move || {
        for sink in &sinks {
            let vars = etl_sink::RenderVars {
                pipeline: &name,
                sink: &sink.name,
                date: &clock.date,
                timestamp: &clock.timestamp,
                run_id: &clock.run_id,
            };
            etl_sink::check(sink, &vars)?;
            etl_sink::check_object_store(sink, &vars)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| {
        RunFailure::new(
            RunError::Task {
                what: "the destination check",
                message: e.to_string(),
            },
            &[],
        )
    })?
    .map_err(|e: etl_sink::Error| RunFailure::new(e, &[]))
}

/// Where each source starts: its stored cursor(s), or `--since`/`--until`.
fn windows(
    pipeline: &Pipeline,
    plan: &Plan,
    previous: Option<&State>,
) -> Result<Vec<Window>, StateError> {
    let mut windows = Vec::new();
    for source in &pipeline.sources {
        let mut window = match (&source.incremental, previous) {
            (Some(inc), Some(state)) => {
                if let Some(stored) = state.sources.get(&source.name) {
                    if stored.cursor_field != inc.field_name() {
                        return Err(StateError::CursorFieldChanged {
                            source_name: source.name.clone(),
                            stored: stored.cursor_field.clone(),
                            configured: inc.field_name().clone(),
                            file: pipeline.file.clone(),
                        });
                    }
                }
                state.window(&source.name)?
            }
            _ => Window::default(),
        };
        window.since = plan.since;
        window.until = plan.until;
        windows.push(window);
    }
    Ok(windows)
}

/// Transforms and sinks left out by `--only`.
fn skipped(pipeline: &Pipeline, plan: &Plan) -> Vec<String> {
    pipeline
        .transforms
        .iter()
        .zip(&plan.transforms)
        .filter(|(_, on)| !**on)
        .map(|(t, _)| format!("transform `{}`", t.name))
        .chain(
            pipeline
                .sinks
                .iter()
                .zip(&plan.sinks)
                .filter(|(_, on)| !**on)
                .map(|(s, _)| format!("sink `{}`", s.name)),
        )
        .collect()
}

fn log_timings(stats: &[(String, SourceStats)], fetch: Duration, done: &Done) {
    let ms = |d: Duration| d.as_millis() as u64;
    let parse: Duration = stats.iter().map(|(_, s)| s.counts.parsing).sum();
    let stage: Duration = stats.iter().map(|(_, s)| s.staging).sum();
    info!(
        fetch_ms = ms(fetch),
        parse_ms = ms(parse),
        stage_ms = ms(stage),
        transform_ms = ms(done.transform),
        write_ms = ms(done.write),
        peak_rss_mib = peak_rss_mib().unwrap_or(0),
        "Timings (parse and stage are summed over sources, within fetch)."
    );
}

/// The peak resident set of this process (`VmHWM`), in MiB; Linux only.
pub(crate) fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.div_ceil(1024))
}
