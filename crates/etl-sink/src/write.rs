use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;

use crate::spec::{Format, IfExists, SinkConfig};
use crate::{Error, csv, ndjson, parquet};

/// A file a sink wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

/// Writes `df` to `path` atomically: a temporary file in the same folder, flushed and synced,
/// then renamed into place. On any failure the temporary file is removed and nothing is left
/// at `path`.
pub fn write(df: &mut DataFrame, sink: &SinkConfig, path: &Path) -> Result<Written, Error> {
    let io = |action, path: &Path| {
        let sink = sink.name.clone();
        let path = path.to_owned();
        move |source| Error::Io {
            sink,
            action,
            path,
            source,
        }
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&folder).map_err(io("create the folder", &folder))?;
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
        .map_err(io("create a temporary file in", &folder))?;
    {
        let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
        match sink.format {
            Format::Csv => csv::write(df, sink, &mut out)?,
            Format::Parquet => parquet::write(df, sink, &mut out)?,
            Format::Ndjson => ndjson::write(df, sink, &mut out)?,
        }
        out.flush().map_err(io("write", path))?;
    }
    tmp.as_file().sync_all().map_err(io("sync", path))?;
    let bytes = tmp.as_file().metadata().map_err(io("inspect", path))?.len();
    let persisted = match sink.if_exists {
        IfExists::Overwrite => tmp.persist(path).map(drop),
        IfExists::Fail => tmp.persist_noclobber(path).map(drop),
    };
    if let Err(e) = persisted {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            return Err(Error::Exists {
                sink: sink.name.clone(),
                path: path.to_owned(),
            });
        }
        return Err(io("rename into", path)(e.error));
    }
    // Make the rename itself durable; not every platform can sync a folder.
    if let Ok(dir) = File::open(&folder) {
        let _ = dir.sync_all();
    }
    Ok(Written {
        path: path.to_owned(),
        rows: df.height() as u64,
        bytes,
    })
}

pub(crate) fn data_error(sink: &SinkConfig, e: &polars::prelude::PolarsError) -> Error {
    Error::Data {
        sink: sink.name.clone(),
        message: e.to_string(),
    }
}
