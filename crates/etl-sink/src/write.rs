use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;
use tempfile::NamedTempFile;

use crate::spec::{Format, IfExists, SinkConfig};
use crate::{Error, csv, ndjson, parquet};

/// A file a sink wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

/// A file written and synced under a temporary name beside its target, not yet in place.
/// Dropping it without [`Prepared::commit`] removes the temporary file and any folder that
/// [`prepare`] created, so a failed run leaves nothing behind.
#[derive(Debug)]
pub struct Prepared {
    sink: String,
    tmp: Option<NamedTempFile>,
    path: PathBuf,
    folder: PathBuf,
    if_exists: IfExists,
    rows: u64,
    bytes: u64,
    /// Folders created for this file, deepest first.
    created: Vec<PathBuf>,
}

/// Writes `df` for `sink` to a temporary file in the folder of `path` (created if needed),
/// flushed and synced. Nothing appears at `path` until [`Prepared::commit`].
pub fn prepare(df: &mut DataFrame, sink: &SinkConfig, path: &Path) -> Result<Prepared, Error> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let created = missing_folders(&folder);
    let mut prepared = Prepared {
        sink: sink.name.clone(),
        tmp: None,
        path: path.to_owned(),
        folder: folder.clone(),
        if_exists: sink.if_exists,
        rows: df.height() as u64,
        bytes: 0,
        created,
    };
    fs::create_dir_all(&folder).map_err(prepared.io("create the folder", &folder))?;
    if sink.if_exists == IfExists::Fail && path.exists() {
        return Err(Error::Exists {
            sink: sink.name.clone(),
            path: path.to_owned(),
        });
    }
    let file_name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(&folder)
        .map_err(prepared.io("create a temporary file in", &folder))?;
    {
        let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
        match sink.format {
            Format::Csv => csv::write(df, sink, &mut out)?,
            Format::Parquet => parquet::write(df, sink, &mut out)?,
            Format::Ndjson => ndjson::write(df, sink, &mut out)?,
        }
        out.flush().map_err(prepared.io("write", path))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(prepared.io("sync", path))?;
    prepared.bytes = tmp
        .as_file()
        .metadata()
        .map_err(prepared.io("inspect", path))?
        .len();
    prepared.tmp = Some(tmp);
    Ok(prepared)
}

impl Prepared {
    /// Where the file goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file into place (with `if_exists: fail`, never over an existing file)
    /// and syncs the folder.
    pub fn commit(mut self) -> Result<Written, Error> {
        let Some(tmp) = self.tmp.take() else {
            return Err(Error::Data {
                sink: self.sink.clone(),
                message: "nothing was prepared".into(),
            });
        };
        let persisted = match self.if_exists {
            IfExists::Overwrite => tmp.persist(&self.path).map(drop),
            IfExists::Fail => tmp.persist_noclobber(&self.path).map(drop),
        };
        if let Err(e) = persisted {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(Error::Exists {
                    sink: self.sink.clone(),
                    path: self.path.clone(),
                });
            }
            let path = self.path.clone();
            return Err(self.io("rename into", &path)(e.error));
        }
        self.created.clear();
        // Make the rename itself durable; not every platform can sync a folder.
        if let Ok(dir) = File::open(&self.folder) {
            let _ = dir.sync_all();
        }
        Ok(Written {
            path: self.path.clone(),
            rows: self.rows,
            bytes: self.bytes,
        })
    }

    fn io(
        &self,
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(std::io::Error) -> Error + use<> {
        let sink = self.sink.clone();
        let path = path.to_owned();
        move |source| Error::Io {
            sink,
            action,
            path,
            source,
        }
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // The temporary file removes itself; then the folders made for it, if still empty.
        drop(self.tmp.take());
        for folder in &self.created {
            let _ = fs::remove_dir(folder);
        }
    }
}

/// The folders of `folder`'s path that do not exist yet, deepest first.
fn missing_folders(folder: &Path) -> Vec<PathBuf> {
    folder
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .map(Path::to_owned)
        .collect()
}

/// Writes `df` to `path` atomically: [`prepare`] then [`Prepared::commit`].
pub fn write(df: &mut DataFrame, sink: &SinkConfig, path: &Path) -> Result<Written, Error> {
    prepare(df, sink, path)?.commit()
}

pub(crate) fn data_error(sink: &SinkConfig, e: &polars::prelude::PolarsError) -> Error {
    Error::Data {
        sink: sink.name.clone(),
        message: e.to_string(),
    }
}
