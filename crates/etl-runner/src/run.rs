//! Running a checked pipeline: sources concurrently, then transforms, then sinks, with nothing
//! written unless everything before succeeded.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use etl_sink::{PreviewSpec, RenderVars, Written};
use etl_source::{Cursor, Extractor, FieldType, SourceStats, StagedTable, Window};
use etl_transform::{ColumnType, Table, Transformer};
use polars::prelude::{DataFrame, IntoLazy};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{info, info_span};

use crate::pipeline::Pipeline;
use crate::state::{self, State, TableState};

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
    /// Merged tables put in place (with their state).
    pub tables: Vec<(String, TableState)>,
    /// The state file, when this run saved it.
    pub state: Option<PathBuf>,
    /// Why the state was not saved, when it was not although there are incremental sources.
    pub state_note: Option<String>,
    /// Transforms and sinks left out by `--only`.
    pub skipped: Vec<String>,
}

/// How to run: the working-data folder, a backfill window, a subset of sources.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Working data (`.etl`): state, merged tables.
    pub root: PathBuf,
    /// `--since`: start every incremental source here instead of at its stored cursor.
    pub since: Option<String>,
    /// `--until`: leave out records after this cursor.
    pub until: Option<String>,
    /// `--save-state`: save the state after a `--since`/`--until` run too.
    pub save_state: bool,
    /// `--only`: run these sources, and the transforms and sinks that need nothing else.
    pub only: Vec<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            root: PathBuf::from(".etl"),
            since: None,
            until: None,
            save_state: false,
            only: Vec::new(),
        }
    }
}

/// [`RunOptions`] checked against a pipeline: what runs, from where.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sources: Vec<bool>,
    pub transforms: Vec<bool>,
    pub sinks: Vec<bool>,
    /// Per source: a sink that reads it (directly or through transforms) is left out.
    pub partial: Vec<bool>,
    since: Option<Cursor>,
    until: Option<Cursor>,
    save_state: bool,
    root: PathBuf,
}

impl RunOptions {
    /// Checks the options against `pipeline` (no network, no state read): unknown sources,
    /// a child without its parent, unreadable `--since`/`--until`.
    pub fn plan(&self, pipeline: &Pipeline) -> Result<Plan, String> {
        let names: Vec<&str> = pipeline.sources.iter().map(|s| s.name.as_str()).collect();
        let mut sources = vec![self.only.is_empty(); names.len()];
        for wanted in &self.only {
            match names.iter().position(|n| n == wanted) {
                Some(i) => sources[i] = true,
                None => {
                    let hint = crate::diagnostic::did_you_mean(wanted, names.iter().copied())
                        .map_or_else(String::new, |d| format!("; did you mean `{d}`?"));
                    return Err(format!(
                        "--only: `{wanted}` is not a source of `{}`{hint} (its sources: {})",
                        pipeline.name,
                        names.join(", ")
                    ));
                }
            }
        }
        for (i, source) in pipeline.sources.iter().enumerate() {
            if let (true, Some(each)) = (sources[i], &source.for_each) {
                if let Some(p) = names.iter().position(|n| *n == each.source) {
                    if !sources[p] {
                        return Err(format!(
                            "--only: `{}` is fetched for each record of `{}`, which this run leaves out; add it: --only {},{}",
                            source.name,
                            each.source,
                            each.source,
                            self.only.join(",")
                        ));
                    }
                }
            }
        }
        // A transform runs when every table its SQL names is there.
        let mut available: Vec<&str> = names
            .iter()
            .zip(&sources)
            .filter(|(_, on)| **on)
            .map(|(n, _)| *n)
            .collect();
        let mut known: Vec<&str> = names.clone();
        let mut transforms = Vec::new();
        // The sources each source or transform reads, through transforms.
        let mut sources_of: Vec<(&str, Vec<usize>)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, vec![i]))
            .collect();
        for (name, spec) in &pipeline.transforms {
            // Checked when the pipeline was loaded; a query that does not parse reads nothing
            // known here and fails when it runs.
            let inputs = spec.inputs().unwrap_or_default();
            let used: Vec<&str> = known
                .iter()
                .filter(|k| inputs.iter().any(|w| w == *k))
                .copied()
                .collect();
            let ready = used.iter().all(|k| available.contains(k));
            transforms.push(ready);
            if ready {
                available.push(name);
            }
            let mut from: Vec<usize> = sources_of
                .iter()
                .filter(|(n, _)| used.contains(n))
                .flat_map(|(_, r)| r.iter().copied())
                .collect();
            from.sort_unstable();
            from.dedup();
            sources_of.push((name, from));
            known.push(name);
        }
        let sinks: Vec<bool> = pipeline
            .sinks
            .iter()
            .map(|s| available.contains(&s.from.as_str()))
            .collect();
        let mut partial = vec![false; names.len()];
        for (sink, on) in pipeline.sinks.iter().zip(&sinks) {
            if *on {
                continue;
            }
            if let Some((_, from)) = sources_of.iter().find(|(n, _)| *n == sink.from) {
                for i in from {
                    partial[*i] = true;
                }
            }
        }
        let parse = |flag: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| Cursor::parse(v).map_err(|m| format!("{flag}: {m}")))
                .transpose()
        };
        let since = parse("--since", &self.since)?;
        let until = parse("--until", &self.until)?;
        if let (Some(a), Some(b)) = (since, until) {
            if !b
                .is_after(a)
                .map_err(|m| format!("--since and --until: {m}"))?
            {
                return Err(format!("--until ({b}) must be after --since ({a})"));
            }
        }
        if (since.is_some() || until.is_some())
            && !pipeline.sources.iter().any(|s| s.incremental.is_some())
        {
            return Err(format!(
                "--since and --until apply to incremental sources, and `{}` has none",
                pipeline.name
            ));
        }
        Ok(Plan {
            sources,
            transforms,
            sinks,
            partial,
            since,
            until,
            save_state: self.save_state || (since.is_none() && until.is_none()),
            root: self.root.clone(),
        })
    }
}

/// The later of a stored cursor and a new one (the new one if they do not compare).
fn later(stored: Option<&serde_json::Value>, new: Option<Cursor>) -> Option<Cursor> {
    let stored = stored.and_then(|v| Cursor::from_json(v).ok());
    match (stored, new) {
        (Some(a), Some(b)) => Some(match b.is_after(a) {
            Ok(false) => a,
            _ => b,
        }),
        (a, b) => b.or(a),
    }
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
    plan: &Plan,
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

    let previous = State::load(&plan.root, &pipeline.name).map_err(|m| RunError::new(m, &[]))?;
    let mut windows = Vec::new();
    for source in &pipeline.sources {
        let mut window = match (&source.incremental, &previous) {
            (Some(inc), Some(state)) => {
                if let Some(stored) = state.sources.get(&source.name) {
                    if stored.cursor_field != inc.field_name() {
                        return Err(RunError::new(
                            format!(
                                "the stored cursor of `{}` is a `{}` value, but the pipeline's \
                                 `cursor_field` is now `{}`; start the source over with `etl \
                                 state reset {} --source {}`",
                                source.name,
                                stored.cursor_field,
                                inc.field_name(),
                                pipeline.file.display(),
                                source.name
                            ),
                            &[],
                        ));
                    }
                }
                state
                    .window(&source.name)
                    .map_err(|m| RunError::new(m, &[]))?
            }
            _ => Window::default(),
        };
        window.since = plan.since;
        window.until = plan.until;
        windows.push(window);
    }

    let fetching = Instant::now();
    let (stats, tables) = extract_all(
        pipeline,
        staging.path().to_owned(),
        cancel,
        &plan.sources,
        &windows,
    )
    .await?;

    let fetch = fetching.elapsed();
    let outcome = {
        let pipeline = pipeline.clone();
        let clock = clock.clone();
        let stats_for_error = stats.clone();
        let cancel = cancel.clone();
        let plan = plan.clone();
        let step_stats = stats.clone();
        // Awaited to the end even when cancelled: it stops at its next check and removes what
        // it was writing, so nothing is left behind when the process exits.
        tokio::task::spawn_blocking(move || {
            let step = Step {
                pipeline: &pipeline,
                clock: &clock,
                plan: &plan,
                staged: &tables,
                stats: &step_stats,
                previous: previous.as_ref(),
                cancel: &cancel,
            };
            step.run()
        })
        .await
        .map_err(|e| {
            RunError::new(
                format!("the transform step stopped unexpectedly: {e}"),
                &stats_for_error,
            )
        })?
    };
    let done = outcome.map_err(|e| RunError {
        message: e.message,
        sources: stats.clone(),
        placed: e.placed,
    })?;
    drop(staging);
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
    let skipped = pipeline
        .transforms
        .iter()
        .zip(&plan.transforms)
        .filter(|(_, on)| !**on)
        .map(|((n, _), _)| format!("transform `{n}`"))
        .chain(
            pipeline
                .sinks
                .iter()
                .zip(&plan.sinks)
                .filter(|(_, on)| !**on)
                .map(|(s, _)| format!("sink `{}`", s.name)),
        )
        .collect();
    Ok(RunReport {
        pipeline: pipeline.name.clone(),
        run_id: clock.run_id.clone(),
        sources: stats
            .into_iter()
            .zip(&plan.sources)
            .filter(|(_, on)| **on)
            .map(|(s, _)| s)
            .collect(),
        sinks: done.written,
        previews: done.previews,
        elapsed: started.elapsed(),
        tables: done.tables,
        state: done.state,
        state_note: done.state_note,
        skipped,
    })
}

/// The peak resident set of this process (`VmHWM`), in MiB; Linux only.
pub(crate) fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.div_ceil(1024))
}

async fn extract_all(
    pipeline: &Pipeline,
    staging: PathBuf,
    cancel: &Cancel,
    selected: &[bool],
    windows: &[Window],
) -> Result<(Vec<(String, SourceStats)>, Vec<Option<StagedTable>>), RunError> {
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
            let path = staging.join(format!("{index:03}-{}.ndjson", source.name));
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
                return Err(RunError::new(
                    format!("source `{}` did not finish", source.name),
                    &[],
                ));
            }
        }
    }
    Ok((stats, tables))
}

/// What the transform and write step produced.
struct Done {
    written: Vec<(String, Written)>,
    previews: Vec<(String, DataFrame, PreviewSpec)>,
    tables: Vec<(String, TableState)>,
    state: Option<PathBuf>,
    state_note: Option<String>,
    /// Reading the staged tables, transforms, checks and computing every output.
    transform: Duration,
    /// Writing, syncing and renaming the files.
    write: Duration,
}

/// The transform and write step: merges, transforms, sinks, then merged tables and state.
struct Step<'a> {
    pipeline: &'a Pipeline,
    clock: &'a RunClock,
    plan: &'a Plan,
    staged: &'a [Option<StagedTable>],
    stats: &'a [(String, SourceStats)],
    previous: Option<&'a State>,
    cancel: &'a Cancel,
}

/// Merged tables put in place, the state file written, or why it was not.
type Saved = (Vec<(String, TableState)>, Option<PathBuf>, Option<String>);

/// A merged table written under a temporary name, put in place with the state.
struct PendingTable {
    source: String,
    file: tempfile::NamedTempFile,
    target: PathBuf,
    rows: u64,
    bytes: u64,
}

impl Step<'_> {
    fn check(&self) -> Result<(), StepError> {
        if self.cancel.is_cancelled() {
            Err(StepError::from(INTERRUPTED.to_owned()))
        } else {
            Ok(())
        }
    }

    fn vars<'s>(&'s self, sink: &'s str) -> RenderVars<'s> {
        RenderVars {
            pipeline: &self.pipeline.name,
            sink,
            date: &self.clock.date,
            timestamp: &self.clock.timestamp,
            run_id: &self.clock.run_id,
        }
    }

    fn run(&self) -> Result<Done, StepError> {
        let pipeline = self.pipeline;
        let started = Instant::now();
        self.check()?;
        let mut transformer = Transformer::new();
        let mut pending = Vec::new();
        for (source, staged) in pipeline.sources.iter().zip(self.staged) {
            let Some(staged) = staged else { continue };
            let table = Table {
                name: source.name.clone(),
                paths: staged.parts.clone(),
                rows: staged.rows,
                columns: staged
                    .columns
                    .iter()
                    .map(|(n, t)| (n.clone(), column_type(t)))
                    .collect(),
            };
            let frame = if source.primary_key.is_empty() {
                table.scan().map_err(|e| e.to_string())?
            } else {
                match self.merge(source, &table)? {
                    (frame, Some(p)) => {
                        pending.push(p);
                        frame.lazy()
                    }
                    (frame, None) => frame.lazy(),
                }
            };
            let extras = pipeline.source_extras.get(&source.name);
            let frame = match extras {
                Some(x) => etl_transform::apply_hints(&source.name, frame, &x.schema)?,
                None => frame,
            };
            transformer
                .add_frame(&source.name, frame)
                .map_err(|e| e.to_string())?;
        }
        for ((name, spec), on) in pipeline.transforms.iter().zip(&self.plan.transforms) {
            if *on {
                transformer.run(name, spec).map_err(|e| e.to_string())?;
            }
        }
        // Data checks, sources then transforms, before anything is written.
        for (source, on) in pipeline.sources.iter().zip(&self.plan.sources) {
            let checks = pipeline
                .source_extras
                .get(&source.name)
                .and_then(|x| x.checks.as_ref());
            if let (true, Some(checks)) = (*on, checks) {
                self.check()?;
                transformer
                    .check(&source.name, checks)
                    .map_err(|e| e.to_string())?;
            }
        }
        for ((name, spec), on) in pipeline.transforms.iter().zip(&self.plan.transforms) {
            if let (true, Some(checks)) = (*on, &spec.checks) {
                self.check()?;
                transformer.check(name, checks).map_err(|e| e.to_string())?;
            }
        }

        // Every output is computed and every target checked before the first file is written.
        let mut planned = Vec::new();
        let mut claimed: Vec<PathBuf> = Vec::new();
        for (sink, on) in pipeline.sinks.iter().zip(&self.plan.sinks) {
            if !on {
                continue;
            }
            let path = sink.path.render(&self.vars(&sink.name));
            if sink.if_exists == etl_sink::IfExists::Fail && path.exists() {
                return Err(etl_sink::Error::Exists {
                    sink: sink.name.clone(),
                    path,
                }
                .to_string()
                .into());
            }
            let latest = sink.render_latest(&self.vars(&sink.name));
            for target in std::iter::once(&path).chain(latest.as_ref()) {
                if claimed.contains(target) {
                    return Err(StepError::from(format!(
                        "sink `{}` would write `{}`, which another sink of this run writes; give each sink its own path",
                        sink.name,
                        target.display()
                    )));
                }
                claimed.push(target.clone());
            }
            let started = Instant::now();
            self.check()?;
            let frame = transformer.collect(&sink.from).map_err(|e| e.to_string())?;
            info!(sink = %sink.name, rows = frame.height(), ms = started.elapsed().as_millis() as u64, "Computed output.");
            planned.push((sink, path, latest, frame));
        }
        let transform = started.elapsed();
        let writing = Instant::now();
        let mut previews = Vec::new();
        for (sink, _, _, frame) in &planned {
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
        for (sink, path, latest, mut frame) in planned {
            self.check()?;
            let file = etl_sink::prepare_with_latest(&mut frame, sink, &path, latest.as_deref())
                .map_err(|e| e.to_string())?;
            prepared.0.push((sink.name.clone(), file));
        }
        let mut written: Vec<(String, Written)> = Vec::new();
        // The last moment to stop: the files are ready but none is in place.
        self.check()?;
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
        let write = writing.elapsed();
        // Every sink succeeded: now the merged tables, then the state.
        let (tables, state, state_note) = match self.save(pending) {
            Ok(saved) => saved,
            Err(message) => {
                return Err(StepError {
                    message,
                    placed: written.into_iter().map(|(_, w)| w.path).collect(),
                });
            }
        };
        self.prune(&written);
        Ok(Done {
            written,
            previews,
            tables,
            state,
            state_note,
            transform,
            write,
        })
    }

    /// Merges a source with a primary key: its records deduplicated, and for an incremental
    /// source the table kept by earlier runs, written under a temporary name when the state
    /// is to be saved.
    fn merge(
        &self,
        source: &etl_source::SourceConfig,
        table: &Table,
    ) -> Result<(DataFrame, Option<PendingTable>), StepError> {
        let key: Vec<String> = source
            .primary_key
            .iter()
            .map(|k| {
                if source.flatten.enabled {
                    k.replace('.', &source.flatten.separator)
                } else {
                    k.clone()
                }
            })
            .collect();
        let target = state::table_path(&self.plan.root, &self.pipeline.name, &source.name);
        let incremental = source.incremental.is_some();
        let existing = (incremental && target.exists()).then_some(target.as_path());
        let started = Instant::now();
        let mut frame = etl_transform::merge(&etl_transform::Merge {
            staged: table,
            existing,
            primary_key: &key,
            order_column: Some(etl_source::CURSOR_COLUMN),
        })
        .map_err(|e| e.to_string())?;
        info!(source = %source.name, rows = frame.height(), ms = started.elapsed().as_millis() as u64, "Merged records by primary key.");
        if !incremental || !self.plan.save_state {
            return Ok((frame, None));
        }
        let dir = target.parent().unwrap_or(&self.plan.root);
        let io = |e: std::io::Error| {
            StepError::from(format!(
                "cannot write the merged table of `{}` under `{}`: {e}",
                source.name,
                dir.display()
            ))
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = tempfile::Builder::new()
            .prefix(&format!(".{}.", source.name))
            .suffix(".parquet.tmp")
            .tempfile_in(dir)
            .map_err(io)?;
        let bytes =
            etl_transform::write_parquet(&mut frame, file.path()).map_err(|e| e.to_string())?;
        Ok((
            frame.clone(),
            Some(PendingTable {
                source: source.name.clone(),
                file,
                target,
                rows: frame.height() as u64,
                bytes,
            }),
        ))
    }

    /// Puts the merged tables in place, then writes the state, if this run saves it.
    fn save(&self, pending: Vec<PendingTable>) -> Result<Saved, String> {
        let pipeline = self.pipeline;
        let incremental: Vec<usize> = pipeline
            .sources
            .iter()
            .enumerate()
            .filter(|(i, s)| s.incremental.is_some() && self.plan.sources[*i])
            .map(|(i, _)| i)
            .collect();
        if incremental.is_empty() {
            return Ok((Vec::new(), None, None));
        }
        if !self.plan.save_state {
            return Ok((
                Vec::new(),
                None,
                Some("state not saved: --since/--until run without --save-state".into()),
            ));
        }
        // No check for a stop here: outputs are in place, so their tables and state follow.
        let mut tables = Vec::new();
        for p in pending {
            let sha = crate::manifest::sha256_file(p.file.path()).unwrap_or_default();
            p.file.persist(&p.target).map_err(|e| {
                format!(
                    "cannot put the merged table of `{}` in place at `{}`: {}",
                    p.source,
                    p.target.display(),
                    e.error
                )
            })?;
            tables.push((
                p.source,
                TableState {
                    path: p.target.display().to_string(),
                    rows: p.rows,
                    bytes: p.bytes,
                    sha256: sha,
                },
            ));
        }
        let mut next = State::next(self.previous, &pipeline.name, &self.clock.run_id);
        let mut kept_back = Vec::new();
        for i in incremental {
            let source = &pipeline.sources[i];
            let Some(report) = self.stats[i].1.cursor.as_ref() else {
                continue;
            };
            // Records of this run that reach no output would be lost for good if the cursor
            // moved past them; a merged table keeps them for later runs.
            if self.plan.partial[i] && source.primary_key.is_empty() {
                kept_back.push(format!("`{}`", source.name));
                continue;
            }
            let entry = next.sources.entry(source.name.clone()).or_default();
            entry.cursor_field.clone_from(&report.field);
            // A cursor never moves back (a `--since` backfill saved with `--save-state`);
            // `etl state reset` starts a source over.
            entry.cursor = later(entry.cursor.as_ref(), report.after).map(Cursor::to_json);
            for (key, cursor) in &report.parents {
                let value = later(entry.parents.get(key), Some(*cursor)).map(Cursor::to_json);
                if let Some(v) = value {
                    entry.parents.insert(key.clone(), v);
                }
            }
            entry.table = tables
                .iter()
                .find(|(n, _)| *n == source.name)
                .map(|(_, t)| t.clone());
        }
        let path = next.write(&self.plan.root).map_err(|e| {
            format!(
                "every output is in place but the state could not be saved under `{}`: {e}; \
                 the next run fetches this window again",
                self.plan.root.display()
            )
        })?;
        info!(path = %path.display(), "Saved the state.");
        let note = (!kept_back.is_empty()).then(|| {
            format!(
                "cursor of {} not moved: --only left out outputs that read it",
                kept_back.join(", ")
            )
        });
        Ok((tables, Some(path), note))
    }

    /// Housekeeping, once everything is in place: older files of sinks with `keep_last`.
    fn prune(&self, written: &[(String, Written)]) {
        for sink in &self.pipeline.sinks {
            let (Some(keep), Some((_, w))) = (
                sink.keep_last,
                written.iter().find(|(n, _)| *n == sink.name),
            ) else {
                continue;
            };
            match sink.path.prune(&w.path, &self.vars(&sink.name), keep) {
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
    }
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
