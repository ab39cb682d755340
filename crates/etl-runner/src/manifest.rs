//! Run manifests: `.etl/runs/{pipeline}/{run_id}.json`, one per run, failed and interrupted
//! runs included, written atomically when the run ends. No secret is ever in one: they hold
//! counts, names, paths and checksums.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use etl_source::SourceStats;
use serde::{Deserialize, Serialize};

use crate::error::RunFailure;
use crate::run::{Delivered, RunClock, RunReport};

/// What one run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub etl_version: String,
    pub pipeline: String,
    pub pipeline_file: String,
    pub pipeline_sha256: String,
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    /// `succeeded`, `failed` or `interrupted`.
    pub status: String,
    pub error: Option<String>,
    pub sources: Vec<SourceEntry>,
    pub sinks: Vec<SinkEntry>,
    /// The data checks that passed, `table: check` (none when the run failed).
    #[serde(default)]
    pub checks: Vec<String>,
    /// Merged tables of incremental sources put in place by this run.
    #[serde(default)]
    pub tables: Vec<TableEntry>,
    /// The state file this run saved (`None`: it saved none).
    #[serde(default)]
    pub state_saved: Option<String>,
    /// The options the run was started with.
    #[serde(default)]
    pub options: RunOptionsEntry,
}

/// How a run ended, for its manifest.
#[derive(Debug)]
pub struct Outcome<'a> {
    pub pipeline: &'a str,
    pub file: &'a Path,
    pub clock: &'a RunClock,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub result: Result<&'a RunReport, &'a RunFailure>,
    pub interrupted: bool,
    pub options: RunOptionsEntry,
}

impl Manifest {
    /// The manifest of a run that has just ended.
    pub fn of(outcome: Outcome<'_>) -> Self {
        let finished_at = chrono::Utc::now();
        let sources =
            |s: &[(String, SourceStats)]| s.iter().map(|(n, s)| SourceEntry::new(n, s)).collect();
        let (status, error, sources, sinks, checks, tables, state) = match outcome.result {
            Ok(r) => (
                "succeeded",
                None,
                sources(&r.sources),
                r.sinks.iter().map(|(n, w)| SinkEntry::new(n, w)).collect(),
                r.checks.clone(),
                r.tables
                    .iter()
                    .map(|(n, t)| TableEntry {
                        source: n.clone(),
                        path: t.path.clone(),
                        rows: t.rows,
                        bytes: t.bytes,
                        sha256: t.sha256.clone(),
                    })
                    .collect(),
                r.state.as_ref().map(|p| p.display().to_string()),
            ),
            Err(f) => (
                if outcome.interrupted {
                    "interrupted"
                } else {
                    "failed"
                },
                Some(f.to_string()),
                sources(&f.sources),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                None,
            ),
        };
        Self {
            etl_version: env!("CARGO_PKG_VERSION").to_owned(),
            pipeline: outcome.pipeline.to_owned(),
            pipeline_file: outcome.file.display().to_string(),
            pipeline_sha256: fs::read(outcome.file)
                .map(|b| sha256(&b))
                .unwrap_or_default(),
            run_id: outcome.clock.run_id.clone(),
            started_at: outcome.started_at.to_rfc3339(),
            finished_at: finished_at.to_rfc3339(),
            duration_s: (finished_at - outcome.started_at).as_seconds_f64(),
            status: status.to_owned(),
            error,
            sources,
            sinks,
            checks,
            tables,
            state_saved: state,
            options: outcome.options,
        }
    }
}

/// `etl run` options as given.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunOptionsEntry {
    pub since: Option<String>,
    pub until: Option<String>,
    pub save_state: bool,
    pub only: Vec<String>,
    /// `--shard K/N`: this run was one shard of a sharded run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// `--finish`: this run put the shards of a sharded run together.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub finish: bool,
    /// `--stage`, in a sharded run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

/// A merged table written by a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableEntry {
    pub source: String,
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// An incremental source's cursor in a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CursorEntry {
    pub field: String,
    /// Where the run started (stored cursor, `--since` or `initial`).
    pub before: Option<String>,
    /// The value sent to the API (after `lookback`).
    pub sent: Option<String>,
    /// The high-water mark after the run.
    pub after: Option<String>,
    /// Records without a cursor value.
    pub missing: u64,
    /// Records left out for `--until`.
    pub after_until: u64,
}

/// Per source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceEntry {
    pub name: String,
    pub requests: u64,
    pub pages: u64,
    pub records: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub waited_s: f64,
    pub elapsed_s: f64,
    pub bytes: u64,
    pub page_size_cap: Option<u64>,
    pub stopped_by: Option<String>,
    pub parents: Option<u64>,
    /// Incremental sources only.
    #[serde(default)]
    pub cursor: Option<CursorEntry>,
}

/// Per sink: a file written, or rows committed to a table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SinkEntry {
    File(FileEntry),
    Table(TableLoadEntry),
}

/// A file written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub name: String,
    /// As the pipeline wrote it, relative to the working directory.
    pub path: String,
    pub absolute_path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// The copy kept under a stable name (`latest:`), if any.
    #[serde(default)]
    pub latest: Option<String>,
}

/// Rows committed to a table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableLoadEntry {
    pub name: String,
    /// `postgres` or `sqlite`.
    pub format: String,
    /// The database: a URL with its password masked, or the sqlite file.
    pub database: String,
    pub table: String,
    /// `replace`, `append` or `merge`.
    pub mode: String,
    /// Rows of this run.
    pub rows: u64,
}

impl SourceEntry {
    pub fn new(name: &str, s: &SourceStats) -> Self {
        Self {
            name: name.to_owned(),
            requests: s.counts.requests,
            pages: s.pages,
            records: s.records,
            retries: s.counts.retries,
            rate_limited: s.counts.rate_limited,
            waited_s: s.counts.waited.as_secs_f64(),
            elapsed_s: s.elapsed.as_secs_f64(),
            bytes: s.counts.bytes,
            page_size_cap: s.page_size_cap,
            stopped_by: s.stopped_by.map(|b| b.to_string()),
            parents: s.parents,
            cursor: s.cursor.as_ref().map(|c| CursorEntry {
                field: c.field.clone(),
                before: c.before.map(|v| v.to_string()),
                sent: c.sent.map(|v| v.to_string()),
                after: c.after.map(|v| v.to_string()),
                missing: c.missing,
                after_until: c.after_until,
            }),
        }
    }
}

impl SinkEntry {
    pub fn new(name: &str, delivered: &Delivered) -> Self {
        match delivered {
            Delivered::File(w) => {
                let absolute = match w.location.as_local() {
                    Some(path) => std::path::absolute(path)
                        .unwrap_or_else(|_| path.to_owned())
                        .display()
                        .to_string(),
                    None => w.location.to_string(),
                };
                Self::File(FileEntry {
                    name: name.to_owned(),
                    path: w.location.to_string(),
                    absolute_path: absolute,
                    rows: w.rows,
                    bytes: w.bytes,
                    sha256: w.sha256.clone(),
                    latest: w.latest.as_ref().map(ToString::to_string),
                })
            }
            Delivered::Table(t) => Self::Table(TableLoadEntry {
                name: name.to_owned(),
                format: t.format.to_owned(),
                database: t.database.clone(),
                table: t.table.clone(),
                mode: t.mode.to_owned(),
                rows: t.rows,
            }),
        }
    }
}

pub use crate::digest::{sha256, sha256_file};

/// Where the manifests of `pipeline` live under `root` (`.etl`).
pub fn folder(root: &Path, pipeline: &str) -> PathBuf {
    root.join("runs").join(pipeline)
}

impl Manifest {
    /// Writes the manifest atomically (temporary file, sync, rename).
    pub fn write(&self, root: &Path) -> std::io::Result<PathBuf> {
        let dir = folder(root, &self.pipeline);
        fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.json", self.run_id));
        let mut tmp = tempfile::Builder::new()
            .prefix(".manifest.")
            .suffix(".tmp")
            .tempfile_in(&dir)?;
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        tmp.write_all(&text)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(path)
    }

    /// Removes manifests of `pipeline` that started more than `keep_days` days before
    /// `now`; the newest is always kept. Returns the files removed.
    pub fn prune(
        root: &Path,
        pipeline: &str,
        keep_days: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> std::io::Result<Vec<PathBuf>> {
        let cutoff = now - chrono::Duration::days(i64::from(keep_days));
        let mut removed = Vec::new();
        let all = Self::list(root, pipeline)?;
        for m in all.iter().skip(1) {
            let old = chrono::DateTime::parse_from_rfc3339(&m.started_at)
                .is_ok_and(|t| t.with_timezone(&chrono::Utc) < cutoff);
            if old {
                let path = folder(root, pipeline).join(format!("{}.json", m.run_id));
                match fs::remove_file(&path) {
                    Ok(()) => removed.push(path),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }

    /// The manifests of `pipeline`, newest first.
    pub fn list(root: &Path, pipeline: &str) -> std::io::Result<Vec<Manifest>> {
        let dir = folder(root, pipeline);
        let mut all = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(all),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Ok(m) = serde_json::from_slice::<Manifest>(&fs::read(&path)?) {
                    all.push(m);
                }
            }
        }
        all.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then(b.run_id.cmp(&a.run_id))
        });
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(run_id: &str, started_at: &str) -> Manifest {
        Manifest {
            etl_version: "0".into(),
            pipeline: "p".into(),
            pipeline_file: "p.yaml".into(),
            pipeline_sha256: String::new(),
            run_id: run_id.into(),
            started_at: started_at.into(),
            finished_at: started_at.into(),
            duration_s: 0.0,
            status: "succeeded".into(),
            error: None,
            sources: Vec::new(),
            sinks: Vec::new(),
            checks: Vec::new(),
            tables: Vec::new(),
            state_saved: None,
            options: RunOptionsEntry::default(),
        }
    }

    #[test]
    fn prune_removes_old_manifests_but_never_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        for (id, at) in [
            ("a", "2026-08-01T00:00:00+00:00"),
            ("b", "2026-10-20T00:00:00+00:00"),
            ("c", "2026-11-25T00:00:00+00:00"),
        ] {
            manifest(id, at).write(dir.path()).unwrap();
        }
        let removed = Manifest::prune(dir.path(), "p", 30, now).unwrap();
        assert_eq!(removed.len(), 2);
        let left: Vec<String> = Manifest::list(dir.path(), "p")
            .unwrap()
            .into_iter()
            .map(|m| m.run_id)
            .collect();
        assert_eq!(left, vec!["c".to_owned()]);
        // Even a newest manifest older than the limit stays.
        let removed =
            Manifest::prune(dir.path(), "p", 1, now + chrono::Duration::days(400)).unwrap();
        assert!(removed.is_empty());
    }
}
