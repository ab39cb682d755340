//! The transform and write step, on a blocking thread: merges, declared types, transforms,
//! checks, every output computed, every file written under a temporary name, then all put in
//! place, then merged tables and the state.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use etl_sink::{Location, PreviewSpec, RenderVars, RunInfo, SinkConfig};
use etl_source::{Cursor, FieldType, SourceConfig, SourceStats, StagedTable};
use etl_transform::{ColumnType, Table, Transformer};
use polars::prelude::{DataFrame, IntoLazy, LazyFrame};
use tracing::info;

use super::{Cancel, Delivered, Plan, RunClock};
use crate::error::RunError;
use crate::pipeline::Pipeline;
use crate::state::{self, State, StateError, TableState};

/// What the transform and write step produced.
pub(super) struct Done {
    pub(super) written: Vec<(String, Delivered)>,
    pub(super) previews: Previews,
    pub(super) tables: Vec<(String, TableState)>,
    pub(super) state: Option<PathBuf>,
    pub(super) state_note: Option<String>,
    /// Reading the staged tables, transforms, checks and computing every output.
    pub(super) transform: Duration,
    /// Writing, syncing and renaming the files.
    pub(super) write: Duration,
    /// The checks that passed, `table: check`.
    pub(super) checks: Vec<String>,
}

/// Why the step failed, and the output files it had put in place by then.
pub(super) struct StepError {
    pub(super) error: Box<RunError>,
    pub(super) placed: Vec<String>,
}

impl<E: Into<RunError>> From<E> for StepError {
    fn from(error: E) -> Self {
        Self {
            error: Box::new(error.into()),
            placed: Vec::new(),
        }
    }
}

/// The transform and write step: merges, transforms, sinks, then merged tables and state.
pub(super) struct Step {
    pub(super) pipeline: Pipeline,
    pub(super) clock: RunClock,
    pub(super) plan: Plan,
    pub(super) staged: Vec<Option<StagedTable>>,
    pub(super) stats: Vec<(String, SourceStats)>,
    pub(super) previous: Option<State>,
    pub(super) cancel: Cancel,
}

/// Per sink with `preview`: its name, the rows to show, and how they were chosen.
type Previews = Vec<(String, DataFrame, PreviewSpec)>;

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

/// Rows per batch of an output streamed into a table.
const BATCH_ROWS: usize = 50_000;

/// An output with where it goes: a file (and its `latest` copy), computed; or a table,
/// computed batch after batch while it is loaded.
struct Planned<'a> {
    sink: &'a SinkConfig,
    /// Where the file goes (a path or an object) and its computed frame; `None` for a table.
    file: Option<(Location, DataFrame)>,
    latest: Option<Location>,
}

/// An output ready to be put in place.
enum Ready {
    File(etl_sink::Prepared),
    Table(etl_sink::TableLoad),
}

impl Ready {
    fn commit(self) -> Result<Delivered, etl_sink::Error> {
        match self {
            Ready::File(file) => file.commit().map(Delivered::File),
            Ready::Table(load) => load.commit().map(Delivered::Table),
        }
    }
}

impl Step {
    fn check(&self) -> Result<(), StepError> {
        if self.cancel.is_cancelled() {
            Err(RunError::Interrupted.into())
        } else {
            Ok(())
        }
    }

    /// The run as an html report's header shows it.
    fn run_info(&self, checks: &[String]) -> RunInfo {
        RunInfo {
            pipeline: self.pipeline.name.clone(),
            run_id: self.clock.run_id.clone(),
            time: shown_time(&self.clock.timestamp),
            sources: self
                .stats
                .iter()
                .zip(&self.plan.sources)
                .filter(|(_, on)| **on)
                .map(|((name, stats), _)| (name.clone(), stats.records))
                .collect(),
            checks: checks.to_vec(),
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

    pub(super) fn run(&self) -> Result<Done, StepError> {
        let started = Instant::now();
        self.check()?;
        let mut transformer = Transformer::new();
        let pending = self.load_sources(&mut transformer)?;
        for (t, on) in self.pipeline.transforms.iter().zip(&self.plan.transforms) {
            if *on {
                transformer.run(t)?;
            }
        }
        let checks = self.run_checks(&mut transformer)?;
        let planned = self.compute_outputs(&mut transformer)?;
        let transform = started.elapsed();
        let writing = Instant::now();
        let (written, previews) = self.write_outputs(&transformer, planned, &checks)?;
        let write = writing.elapsed();
        // Every sink succeeded: now the merged tables, then the state.
        let (tables, state, state_note) = self.save(pending).map_err(|e| StepError {
            error: Box::new(e.into()),
            placed: written.iter().map(|(_, d)| d.describe()).collect(),
        })?;
        self.prune(&written);
        Ok(Done {
            written,
            previews,
            tables,
            state,
            state_note,
            transform,
            write,
            checks,
        })
    }

    /// Each staged source as a table of the transformer: merged by primary key, with its
    /// declared types.
    fn load_sources(&self, transformer: &mut Transformer) -> Result<Vec<PendingTable>, StepError> {
        let mut pending = Vec::new();
        for (source, staged) in self.pipeline.sources.iter().zip(&self.staged) {
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
            let frame: LazyFrame = if source.primary_key.is_empty() {
                table.scan()?
            } else {
                let (frame, table) = self.merge(source, &table)?;
                pending.extend(table);
                frame.lazy()
            };
            let frame = match self.pipeline.source_extras.get(&source.name) {
                Some(x) => etl_transform::apply_hints(&source.name, frame, &x.schema)?,
                None => frame,
            };
            transformer.add_frame(&source.name, frame)?;
        }
        Ok(pending)
    }

    /// Data checks, sources then transforms, before anything is written. Returns the checks
    /// that passed, `table: check`, for the manifest and the reports' headers.
    fn run_checks(&self, transformer: &mut Transformer) -> Result<Vec<String>, StepError> {
        let pipeline = &self.pipeline;
        let held = self.read_whole();
        let mut passed = Vec::new();
        for (source, on) in pipeline.sources.iter().zip(&self.plan.sources) {
            let checks = pipeline
                .source_extras
                .get(&source.name)
                .and_then(|x| x.checks.as_ref());
            if let (true, Some(checks)) = (*on, checks) {
                self.check()?;
                if held.contains(&source.name.as_str()) {
                    self.hold(transformer, &source.name)?;
                }
                transformer.check(&source.name, checks)?;
                passed.extend(
                    checks
                        .describe()
                        .into_iter()
                        .map(|c| format!("{}: {c}", source.name)),
                );
            }
        }
        for (t, on) in pipeline.transforms.iter().zip(&self.plan.transforms) {
            if let (true, Some(checks)) = (*on, &t.checks) {
                self.check()?;
                if held.contains(&t.name.as_str()) {
                    self.hold(transformer, &t.name)?;
                }
                transformer.check(&t.name, checks)?;
                passed.extend(
                    checks
                        .describe()
                        .into_iter()
                        .map(|c| format!("{}: {c}", t.name)),
                );
            }
        }
        Ok(passed)
    }

    /// The tables and transforms a file sink reads: a file needs its output whole, so each
    /// is computed once and held for every reader (its checks, every sink reading it) instead
    /// of being computed again per reader. One read only by table sinks and checks stays a
    /// plan, computed per reader: a table load streams it in batches, holding none of it.
    fn read_whole(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .pipeline
            .sinks
            .iter()
            .zip(&self.plan.sinks)
            .filter(|(sink, on)| **on && sink.file().is_some())
            .map(|(sink, _)| sink.from.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Computes `name` once and holds it (see [`Step::read_whole`]), unless the run is
    /// being stopped.
    fn hold(&self, transformer: &mut Transformer, name: &str) -> Result<(), StepError> {
        self.check()?;
        let started = Instant::now();
        if transformer.hold(name)? {
            info!(output = %name, ms = started.elapsed().as_millis() as u64, "Computed output.");
        }
        Ok(())
    }

    /// Every file output computed and every target checked before the first file is written.
    /// A table's output is computed while it is loaded.
    fn compute_outputs(
        &self,
        transformer: &mut Transformer,
    ) -> Result<Vec<Planned<'_>>, StepError> {
        let mut planned = Vec::new();
        let mut claimed: Vec<String> = Vec::new();
        for (sink, on) in self.pipeline.sinks.iter().zip(&self.plan.sinks) {
            if !on {
                continue;
            }
            let vars = self.vars(&sink.name);
            let (path, latest) = match sink.file() {
                Some(file) => {
                    let path = file.path.render(&vars);
                    // An object's `if_exists` is checked when it is prepared.
                    if let Some(local) = path.as_local() {
                        if file.if_exists == etl_sink::IfExists::Fail && local.exists() {
                            return Err(etl_sink::Error::Exists {
                                sink: sink.name.clone(),
                                path: local.to_owned(),
                            }
                            .into());
                        }
                    }
                    (Some(path), sink.render_latest(&vars))
                }
                None => (None, None),
            };
            let targets: Vec<String> = match &path {
                Some(path) => std::iter::once(path)
                    .chain(latest.as_ref())
                    .map(ToString::to_string)
                    .collect(),
                None => vec![sink.describe_target()],
            };
            for target in targets {
                if claimed.contains(&target) {
                    return Err(RunError::SameTarget {
                        sink: sink.name.clone(),
                        target,
                    }
                    .into());
                }
                claimed.push(target);
            }
            let file = match path {
                Some(path) => {
                    self.hold(transformer, &sink.from)?;
                    // Held: this reads the computed frame, it does not compute it again.
                    Some((path, transformer.collect(&sink.from)?))
                }
                None => None,
            };
            planned.push(Planned { sink, file, latest });
        }
        Ok(planned)
    }

    /// Every file is written and synced under a temporary name first, every table loaded in
    /// an open transaction; only when all of them are ready is any put in place (renamed,
    /// committed). A failure before that leaves nothing behind. Returns what was put in place
    /// and the rows each `preview` asks for.
    fn write_outputs(
        &self,
        transformer: &Transformer,
        planned: Vec<Planned<'_>>,
        checks: &[String],
    ) -> Result<(Vec<(String, Delivered)>, Previews), StepError> {
        let run = self.run_info(checks);
        let mut ready = ReadyOutputs(Vec::new());
        let mut previews = Vec::new();
        for p in planned {
            self.check()?;
            let (output, preview) = match p.file {
                Some((path, mut frame)) => {
                    let preview = match &p.sink.preview {
                        Some(spec) => Some(etl_sink::preview(&frame, spec, &p.sink.name)?),
                        None => None,
                    };
                    let prepared = etl_sink::prepare_report(
                        &mut frame,
                        p.sink,
                        &path,
                        p.latest.as_ref(),
                        &run,
                    )?;
                    (Ready::File(prepared), preview)
                }
                None => self.load_table(transformer, p.sink)?,
            };
            if let (Some(rows), Some(spec)) = (preview, &p.sink.preview) {
                previews.push((p.sink.name.clone(), rows, spec.clone()));
            }
            ready.0.push((p.sink.name.clone(), output));
        }
        let mut written: Vec<(String, Delivered)> = Vec::new();
        // The last moment to stop: the outputs are ready but none is in place.
        self.check()?;
        for (name, output) in std::mem::take(&mut ready.0) {
            match output.commit() {
                Ok(d) => {
                    info!(sink = %name, output = %d.describe(), rows = d.rows(), "Wrote output.");
                    written.push((name, d));
                }
                Err(e) => {
                    // Putting one in place failed (the disk, a permission, the database):
                    // outputs already in place stay, as they are complete, and the error
                    // names them.
                    return Err(StepError {
                        error: Box::new(e.into()),
                        placed: written.iter().map(|(_, d)| d.describe()).collect(),
                    });
                }
            }
        }
        Ok((written, previews))
    }

    /// Loads a table sink's output batch after batch as the streaming engine computes it,
    /// keeping the rows its `preview` asks for on the way.
    fn load_table(
        &self,
        transformer: &Transformer,
        sink: &SinkConfig,
    ) -> Result<(Ready, Option<DataFrame>), StepError> {
        let started = Instant::now();
        let batches = transformer.batches(&sink.from, BATCH_ROWS)?;
        let schema = batches.schema().clone();
        let mut preview = sink
            .preview
            .as_ref()
            .map(|spec| etl_sink::PreviewRows::new(&schema, spec, &sink.name));
        let input = batches.map(|batch| -> Result<DataFrame, StepError> {
            self.check()?;
            let batch = batch?;
            if let Some(preview) = &mut preview {
                preview.add(&batch)?;
            }
            Ok(batch)
        });
        let load =
            etl_sink::load(&schema, input, sink, &self.vars(&sink.name)).map_err(|e| match e {
                etl_sink::LoadError::Input(e) => e,
                etl_sink::LoadError::Sink(e) => e.into(),
            })?;
        info!(sink = %sink.name, ms = started.elapsed().as_millis() as u64, "Computed and loaded output.");
        Ok((
            Ready::Table(load),
            preview.map(etl_sink::PreviewRows::finish),
        ))
    }

    /// Merges a source with a primary key: its records deduplicated, and for an incremental
    /// source the table kept by earlier runs, written under a temporary name when the state
    /// is to be saved.
    fn merge(
        &self,
        source: &SourceConfig,
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
        })?;
        info!(source = %source.name, rows = frame.height(), ms = started.elapsed().as_millis() as u64, "Merged records by primary key.");
        if !incremental || !self.plan.save_state {
            return Ok((frame, None));
        }
        let dir = target.parent().unwrap_or(&self.plan.root);
        let io = |e: std::io::Error| StateError::WriteTable {
            source_name: source.name.clone(),
            dir: dir.to_owned(),
            source: e,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = tempfile::Builder::new()
            .prefix(&format!(".{}.", source.name))
            .suffix(".parquet.tmp")
            .tempfile_in(dir)
            .map_err(io)?;
        let bytes = etl_transform::write_parquet(&mut frame, file.path())?;
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
    fn save(&self, pending: Vec<PendingTable>) -> Result<Saved, StateError> {
        let pipeline = &self.pipeline;
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
            let sha = crate::digest::sha256_file(p.file.path()).unwrap_or_default();
            p.file
                .persist(&p.target)
                .map_err(|e| StateError::PlaceTable {
                    source_name: p.source.clone(),
                    path: p.target.clone(),
                    source: e.error,
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
        let mut next = State::next(self.previous.as_ref(), &pipeline.name, &self.clock.run_id);
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
        let path = next.write(&self.plan.root).map_err(|e| StateError::Save {
            root: self.plan.root.clone(),
            source: e,
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
    fn prune(&self, written: &[(String, Delivered)]) {
        for sink in &self.pipeline.sinks {
            let Some(file) = sink.file() else { continue };
            let (Some(keep), Some((_, Delivered::File(w)))) = (
                file.keep_last,
                written.iter().find(|(n, _)| *n == sink.name),
            ) else {
                continue;
            };
            match file.path.prune(&w.location, &self.vars(&sink.name), keep) {
                Ok(removed) => {
                    for location in removed {
                        info!(sink = %sink.name, file = %location, "Removed an older file (keep_last).");
                    }
                }
                Err(e) => {
                    tracing::warn!(sink = %sink.name, error = %e, "Could not remove older files (keep_last).");
                }
            }
        }
    }
}

/// Outputs ready but not in place. Dropped last first, so that a folder created for the
/// first is empty (and removed) by the time its turn comes; a table's transaction rolls back.
struct ReadyOutputs(Vec<(String, Ready)>);

impl Drop for ReadyOutputs {
    fn drop(&mut self) {
        while let Some(last) = self.0.pop() {
            drop(last);
        }
    }
}

/// `20261204_205512` as `2026-12-04 20:55:12 UTC`.
fn shown_time(timestamp: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(timestamp, "%Y%m%d_%H%M%S").map_or_else(
        |_| timestamp.to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
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
