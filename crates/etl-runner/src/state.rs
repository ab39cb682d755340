//! Incremental state: `.etl/state/{pipeline}.json`, the cursor of every incremental source
//! as of the last successful run, and the merged tables under `.etl/data/{pipeline}/`.
//!
//! The state is replaced atomically (temporary file, sync, rename) and only after every
//! sink of a run succeeded; a failed run leaves it byte-identical. Merged tables are put in
//! place just before it: a crash between the two leaves a table ahead of the state, and the
//! next run fetches that window again and merges it the same way (a merge is idempotent),
//! so nothing is lost either way.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use etl_source::{Cursor, Window};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The state file's format version.
const VERSION: u32 = 1;

/// Why the state or a merged table cannot be read, written or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("cannot read the state `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the state `{}` is not readable ({source}); fix it, or start the sources over with \
         `etl state reset`",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("the state `{}` has format version {found}, this etl reads version {VERSION}", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error(
        "the stored cursor of `{source_name}` is not usable: {message}; run `etl state reset \
         FILE --source {source_name}`"
    )]
    Cursor {
        source_name: String,
        message: String,
    },
    #[error(
        "the stored cursor of `{source_name}` is a `{stored}` value, but the pipeline's \
         `cursor_field` is now `{configured}`; start the source over with `etl state reset {} \
         --source {source_name}`",
        file.display()
    )]
    CursorFieldChanged {
        source_name: String,
        stored: String,
        configured: String,
        file: PathBuf,
    },
    #[error("cannot write the merged table of `{source_name}` under `{}`: {source}", dir.display())]
    WriteTable {
        source_name: String,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot put the merged table of `{source_name}` in place at `{}`: {source}", path.display())]
    PlaceTable {
        source_name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "every output is in place but the state could not be saved under `{}`: {source}; the \
         next run fetches this window again",
        root.display()
    )]
    Save {
        root: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove `{}`: {source}", path.display())]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Everything a pipeline remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub pipeline: String,
    /// The run that wrote it, and when.
    pub run_id: String,
    pub updated_at: String,
    pub sources: BTreeMap<String, SourceState>,
}

/// One incremental source's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    pub cursor_field: String,
    /// The largest cursor loaded so far: an RFC 3339 string or an integer.
    pub cursor: Option<Value>,
    /// With `for_each`: the cursor per parent key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parents: BTreeMap<String, Value>,
    /// The merged table, when the source has a `primary_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableState>,
}

/// A merged table as the state knows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableState {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// Where the state of `pipeline` lives under `root` (`.etl`).
pub fn path(root: &Path, pipeline: &str) -> PathBuf {
    root.join("state").join(format!("{pipeline}.json"))
}

/// Where the merged table of a source lives under `root`.
pub fn table_path(root: &Path, pipeline: &str, source: &str) -> PathBuf {
    root.join("data")
        .join(pipeline)
        .join(format!("{source}.parquet"))
}

impl State {
    /// The stored state, or `None` before the first successful incremental run.
    pub fn load(root: &Path, pipeline: &str) -> Result<Option<Self>, StateError> {
        let path = path(root, pipeline);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let state: Self = match serde_json::from_slice(&bytes) {
            Ok(state) => state,
            Err(source) => return Err(StateError::Corrupt { path, source }),
        };
        if state.version != VERSION {
            return Err(StateError::Version {
                path,
                found: state.version,
            });
        }
        Ok(Some(state))
    }

    /// Where `source` starts this run; a stored cursor that does not parse is an error
    /// naming the file.
    pub fn window(&self, source: &str) -> Result<Window, StateError> {
        let Some(s) = self.sources.get(source) else {
            return Ok(Window::default());
        };
        let parse = |v: &Value| {
            Cursor::from_json(v).map_err(|m| StateError::Cursor {
                source_name: source.to_owned(),
                message: m.to_string(),
            })
        };
        let mut window = Window {
            stored: s.cursor.as_ref().map(parse).transpose()?,
            ..Window::default()
        };
        for (key, value) in &s.parents {
            window.parents.insert(key.clone(), parse(value)?);
        }
        Ok(window)
    }

    /// Writes the state atomically.
    pub fn write(&self, root: &Path) -> std::io::Result<PathBuf> {
        let path = path(root, &self.pipeline);
        let dir = path.parent().unwrap_or(root);
        fs::create_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".state.")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        tmp.write_all(&text)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(path)
    }

    /// A new state for `pipeline`, carrying over what this one knows.
    pub fn next(previous: Option<&Self>, pipeline: &str, run_id: &str) -> Self {
        let mut state = previous.cloned().unwrap_or_default();
        state.version = VERSION;
        pipeline.clone_into(&mut state.pipeline);
        run_id.clone_into(&mut state.run_id);
        state.updated_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        state
    }
}

/// `etl state reset`: forgets the cursor and merged table of one source, or everything of
/// the pipeline (its state file and its whole `data/` folder, even when the state file is no
/// longer readable). Returns what was removed.
pub fn reset(root: &Path, pipeline: &str, source: Option<&str>) -> Result<Vec<String>, StateError> {
    let mut removed = Vec::new();
    let file = path(root, pipeline);
    let Some(source) = source else {
        let data = root.join("data").join(pipeline);
        match fs::remove_dir_all(&data) {
            Ok(()) => removed.push(data.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StateError::Remove { path: data, source }),
        }
        if remove_if_present(&file)? {
            removed.push(file.display().to_string());
        }
        return Ok(removed);
    };
    let table = table_path(root, pipeline, source);
    if remove_if_present(&table)? {
        removed.push(table.display().to_string());
    }
    if let Some(mut st) = State::load(root, pipeline)? {
        if st.sources.remove(source).is_some() {
            removed.push(format!("the cursor of `{source}`"));
            st.write(root)
                .map_err(|source| StateError::Write { path: file, source })?;
        }
    }
    Ok(removed)
}

/// Removes a file; `false` if there was none.
fn remove_if_present(path: &Path) -> Result<bool, StateError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StateError::Remove {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_resets() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::next(None, "sales", "r1");
        s.sources.insert(
            "orders".into(),
            SourceState {
                cursor_field: "updated_at".into(),
                cursor: Some(Value::String("2026-11-25T10:00:00Z".into())),
                ..SourceState::default()
            },
        );
        s.write(dir.path()).unwrap();
        let back = State::load(dir.path(), "sales").unwrap().unwrap();
        assert_eq!(back, s);
        let w = back.window("orders").unwrap();
        assert_eq!(w.stored.unwrap().to_string(), "2026-11-25T10:00:00Z");
        assert_eq!(back.window("other").unwrap(), Window::default());
        let removed = reset(dir.path(), "sales", Some("orders")).unwrap();
        assert_eq!(removed, vec!["the cursor of `orders`".to_owned()]);
        assert!(
            State::load(dir.path(), "sales")
                .unwrap()
                .unwrap()
                .sources
                .is_empty()
        );
        reset(dir.path(), "sales", None).unwrap();
        assert!(State::load(dir.path(), "sales").unwrap().is_none());
    }

    #[test]
    fn a_full_reset_removes_an_unreadable_state_and_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "sales");
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, "{ not json").unwrap();
        let table = table_path(dir.path(), "sales", "orders");
        fs::create_dir_all(table.parent().unwrap()).unwrap();
        fs::write(&table, "x").unwrap();
        assert!(State::load(dir.path(), "sales").is_err());
        let removed = reset(dir.path(), "sales", None).unwrap();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(!file.exists() && !table.exists());
    }
}
