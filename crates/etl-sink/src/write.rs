//! Atomic writes: a temporary file beside the target, synced, then renamed into place; with
//! `latest`, a second temporary file beside the copy, renamed over it after the first.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;
use tempfile::NamedTempFile;

use crate::config::SinkConfig;
use crate::error::Error;
use crate::path::folder_of;
use crate::spec::IfExists;

/// A file a sink wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    /// The `latest` copy of the file, replaced after it, if the sink has one.
    pub latest: Option<PathBuf>,
    pub rows: u64,
    pub bytes: u64,
}

/// A file written and synced under a temporary name beside its target, not yet in place
/// (and its `latest` copy, under a temporary name beside the copy's path).
/// Dropping it without [`Prepared::commit`] removes the temporary files and any folder that
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
    latest: Option<LatestCopy>,
}

/// The `latest` copy of a prepared file.
#[derive(Debug)]
struct LatestCopy {
    tmp: Option<NamedTempFile>,
    path: PathBuf,
    folder: PathBuf,
    /// Folders created for the copy (after those of the file), deepest first.
    created: Vec<PathBuf>,
}

/// Writes `df` for `sink` to a temporary file in the folder of `path` (created if needed),
/// flushed and synced. Nothing appears at `path` until [`Prepared::commit`].
///
/// A sink with `latest` needs the copy's path, rendered for the run: use
/// [`prepare_with_latest`]. Here it is an error, as the copy would silently go stale.
pub fn prepare(df: &mut DataFrame, sink: &SinkConfig, path: &Path) -> Result<Prepared, Error> {
    if let Some(latest) = &sink.latest {
        return Err(Error::LatestNotRendered {
            sink: sink.name.clone(),
            template: latest.as_str().to_owned(),
        });
    }
    prepare_with_latest(df, sink, path, None)
}

/// [`prepare`], and with `latest` (normally [`SinkConfig::render_latest`]) a copy of the
/// file, written to a temporary file in the folder of `latest` (created if needed) and
/// synced. [`Prepared::commit`] renames the file into place, then the copy over `latest`.
pub fn prepare_with_latest(
    df: &mut DataFrame,
    sink: &SinkConfig,
    path: &Path,
    latest: Option<&Path>,
) -> Result<Prepared, Error> {
    if let Some(latest) = latest.filter(|l| *l == path) {
        return Err(Error::LatestIsPath {
            sink: sink.name.clone(),
            latest: latest.to_owned(),
        });
    }
    let folder = folder_of(path);
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
        latest: None,
    };
    fs::create_dir_all(&folder).map_err(prepared.io("create the folder", &folder))?;
    if sink.if_exists == IfExists::Fail && path.exists() {
        return Err(Error::Exists {
            sink: sink.name.clone(),
            path: path.to_owned(),
        });
    }
    let tmp =
        temp_beside(path, &folder).map_err(prepared.io("create a temporary file in", &folder))?;
    {
        let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
        sink.format.write(df, &sink.name, &mut out)?;
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
    if let Some(latest) = latest {
        prepared.copy_to(&tmp, latest)?;
    }
    prepared.tmp = Some(tmp);
    Ok(prepared)
}

impl Prepared {
    /// Where the file goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where its `latest` copy goes, if it has one.
    pub fn latest(&self) -> Option<&Path> {
        self.latest.as_ref().map(|l| l.path.as_path())
    }

    /// Copies the prepared file `tmp` to a synced temporary file beside `latest`.
    fn copy_to(&mut self, tmp: &NamedTempFile, latest: &Path) -> Result<(), Error> {
        let folder = folder_of(latest);
        // Recorded before anything is made, so that dropping `self` after a failure below
        // removes what was.
        self.latest = Some(LatestCopy {
            tmp: None,
            path: latest.to_owned(),
            folder: folder.clone(),
            created: missing_folders(&folder),
        });
        fs::create_dir_all(&folder).map_err(self.io("create the folder", &folder))?;
        let copied =
            temp_beside(latest, &folder).map_err(self.io("create a temporary file in", &folder))?;
        let mut source = tmp.reopen().map_err(self.io("read", &self.path))?;
        std::io::copy(&mut source, &mut copied.as_file()).map_err(self.io("write", latest))?;
        copied
            .as_file()
            .sync_all()
            .map_err(self.io("sync", latest))?;
        if let Some(copy) = self.latest.as_mut() {
            copy.tmp = Some(copied);
        }
        Ok(())
    }

    /// Renames the file into place (with `if_exists: fail`, never over an existing file)
    /// and syncs the folder; then renames the `latest` copy over the previous one. If only
    /// the copy fails ([`Error::Latest`]), the file is in place.
    pub fn commit(mut self) -> Result<Written, Error> {
        let Some(tmp) = self.tmp.take() else {
            return Err(Error::data(&self.sink, "nothing was prepared"));
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
        sync_folder(&self.folder);
        // Then the copy, always over the previous one: a reader of `latest` sees the previous
        // copy or this one, whole.
        let latest = match self.latest.as_mut() {
            Some(copy) => {
                let Some(tmp) = copy.tmp.take() else {
                    return Err(Error::data(&self.sink, "the latest copy was not prepared"));
                };
                if let Err(e) = tmp.persist(&copy.path) {
                    return Err(Error::Latest {
                        sink: self.sink.clone(),
                        path: self.path.clone(),
                        latest: copy.path.clone(),
                        source: e.error,
                    });
                }
                copy.created.clear();
                if copy.folder != self.folder {
                    sync_folder(&copy.folder);
                }
                Some(copy.path.clone())
            }
            None => None,
        };
        Ok(Written {
            path: self.path.clone(),
            latest,
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
        // The temporary files remove themselves; then the folders made for them, if still
        // empty, the copy's first as they were made last.
        drop(self.tmp.take());
        let copy_folders = self.latest.take().map(|mut copy| {
            drop(copy.tmp.take());
            copy.created
        });
        for folder in copy_folders.iter().flatten().chain(&self.created) {
            let _ = fs::remove_dir(folder);
        }
    }
}

/// A hidden temporary file in `folder` named after `path`: `.NAME.XXXXXX.tmp`.
fn temp_beside(path: &Path, folder: &Path) -> std::io::Result<NamedTempFile> {
    let file_name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(folder)
}

/// Makes renames in `folder` durable; not every platform can sync a folder.
fn sync_folder(folder: &Path) {
    if let Ok(dir) = File::open(folder) {
        let _ = dir.sync_all();
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

/// Writes `df` to `path` atomically: [`prepare`] then [`Prepared::commit`] (so, like
/// [`prepare`], not for a sink with `latest`).
pub fn write(df: &mut DataFrame, sink: &SinkConfig, path: &Path) -> Result<Written, Error> {
    prepare(df, sink, path)?.commit()
}
