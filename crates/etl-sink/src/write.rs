//! Atomic writes. A local file: a temporary file beside the target, synced, then renamed into
//! place. An object (`s3://`): the file written to a local temporary file, then sent as a
//! multipart upload that only the commit completes. With `latest`, a second one of either
//! kind, put in place after the first.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::config::{FileOutput, SinkConfig};
use crate::error::Error;
use crate::html::RunInfo;
use crate::location::Location;
use crate::object::{Client, ObjectUrl, Upload};
use crate::path::folder_of;
use crate::spec::IfExists;

/// A file a sink wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Where the file is: a local path or an `s3://` object.
    pub location: Location,
    /// The `latest` copy of the file, replaced after it, if the sink has one.
    pub latest: Option<Location>,
    pub rows: u64,
    pub bytes: u64,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

/// A file written, not yet in place: a local file synced under a temporary name beside its
/// target, or an object whose multipart upload has every part uploaded but is not completed
/// (and its `latest` copy, staged the same way at its own location).
/// Dropping it without [`Prepared::commit`] removes the temporary files and any folder that
/// [`prepare_at`] created, and aborts the uploads, so a failed run leaves nothing behind.
#[derive(Debug)]
pub struct Prepared {
    sink: String,
    location: Location,
    latest_location: Option<Location>,
    if_exists: IfExists,
    rows: u64,
    bytes: u64,
    sha256: String,
    /// The file, staged (`None` until staged, and once committed).
    file: Option<Staged>,
    /// Its `latest` copy, staged.
    latest: Option<Staged>,
    /// The run, for a report's header.
    run: RunInfo,
}

/// One target of a prepared file.
#[derive(Debug)]
enum Staged {
    /// A temporary file beside the target, renamed into place on commit.
    Local(LocalFile),
    /// A multipart upload, completed on commit.
    Object(Upload),
}

#[derive(Debug)]
struct LocalFile {
    tmp: Option<NamedTempFile>,
    path: PathBuf,
    folder: PathBuf,
    /// Folders created for this file, deepest first.
    created: Vec<PathBuf>,
}

impl Staged {
    /// Drops the temporary file or aborts the upload; returns the folders created for it.
    fn discard(self) -> Vec<PathBuf> {
        match self {
            Staged::Local(mut file) => {
                drop(file.tmp.take());
                file.created
            }
            Staged::Object(upload) => {
                drop(upload);
                Vec::new()
            }
        }
    }
}

/// Writes `df` for `sink` to a temporary file in the folder of `path` (created if needed),
/// flushed and synced. Nothing appears at `path` until [`Prepared::commit`].
///
/// A sink with `latest` needs the copy's path, rendered for the run: use
/// [`prepare_with_latest`]. Here it is an error, as the copy would silently go stale.
pub fn prepare(df: &mut DataFrame, sink: &SinkConfig, path: &Path) -> Result<Prepared, Error> {
    if let Some(latest) = &file_of(sink)?.latest {
        return Err(Error::LatestNotRendered {
            sink: sink.name.clone(),
            template: latest.as_str().to_owned(),
        });
    }
    prepare_with_latest(df, sink, path, None)
}

/// [`prepare_at`] for local files only: `path`, and with `latest` a copy of the file.
pub fn prepare_with_latest(
    df: &mut DataFrame,
    sink: &SinkConfig,
    path: &Path,
    latest: Option<&Path>,
) -> Result<Prepared, Error> {
    let latest = latest.map(Location::from);
    prepare_at(df, sink, &Location::from(path), latest.as_ref())
}

/// Writes `df` for `sink`, ready to be put at `location` by [`Prepared::commit`]; with
/// `latest` (normally [`SinkConfig::render_latest`]) a copy of it, put there after it.
///
/// A local file is written to a temporary file in the folder of its path (created if needed)
/// and synced. An object is written to a local temporary file, then uploaded in parts of a
/// multipart upload that is not completed: the object does not exist until the commit, and
/// with `if_exists: fail`, an existing object fails here, before anything is uploaded. The
/// copy is staged the same way at its own location.
pub fn prepare_at(
    df: &mut DataFrame,
    sink: &SinkConfig,
    location: &Location,
    latest: Option<&Location>,
) -> Result<Prepared, Error> {
    prepare_report(df, sink, location, latest, &RunInfo::default())
}

/// [`prepare_at`] for a run: an `html` report shows `run` (pipeline, run id, time, records
/// per source, checks passed) in its header. The other formats do not use it.
pub fn prepare_report(
    df: &mut DataFrame,
    sink: &SinkConfig,
    location: &Location,
    latest: Option<&Location>,
    run: &RunInfo,
) -> Result<Prepared, Error> {
    let file = file_of(sink)?;
    if let Some(latest) = latest.filter(|l| *l == location) {
        return Err(Error::LatestIsPath {
            sink: sink.name.clone(),
            latest: latest.clone(),
        });
    }
    let mut prepared = Prepared {
        sink: sink.name.clone(),
        location: location.clone(),
        latest_location: latest.cloned(),
        if_exists: file.if_exists,
        rows: df.height() as u64,
        bytes: 0,
        sha256: String::new(),
        file: None,
        latest: None,
        run: run.clone(),
    };
    // Declared after `prepared`, so dropped before it on an error below: the temporary file
    // is gone by the time the folders made for it are removed.
    let data = match location {
        Location::Local(path) => prepared.stage_local(df, file, path)?,
        Location::Object(url) => prepared.stage_object(df, file, url)?,
    };
    match latest {
        Some(Location::Local(copy)) => prepared.copy_to(&data, copy)?,
        Some(Location::Object(url)) => {
            let upload = prepared.upload(&data, url)?;
            prepared.latest = Some(Staged::Object(upload));
        }
        None => {}
    }
    if let Some(Staged::Local(local)) = prepared.file.as_mut() {
        local.tmp = Some(data);
    }
    Ok(prepared)
}

impl Prepared {
    /// Where the file goes.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Where its `latest` copy goes, if it has one.
    pub fn latest(&self) -> Option<&Location> {
        self.latest_location.as_ref()
    }

    /// The local file: a synced temporary file beside `path`.
    fn stage_local(
        &mut self,
        df: &mut DataFrame,
        file: &FileOutput,
        path: &Path,
    ) -> Result<NamedTempFile, Error> {
        let folder = folder_of(path);
        // Recorded before anything is made, so that dropping `self` after a failure below
        // removes what was.
        self.file = Some(Staged::Local(LocalFile {
            tmp: None,
            path: path.to_owned(),
            folder: folder.clone(),
            created: missing_folders(&folder),
        }));
        fs::create_dir_all(&folder).map_err(self.io("create the folder", &folder))?;
        if file.if_exists == IfExists::Fail && path.exists() {
            return Err(Error::Exists {
                sink: self.sink.clone(),
                path: path.to_owned(),
            });
        }
        let tmp =
            temp_beside(path, &folder).map_err(self.io("create a temporary file in", &folder))?;
        self.write_data(df, file, &tmp, path, true)?;
        Ok(tmp)
    }

    /// The object: written to a local temporary file (returned, for the copy), and uploaded
    /// in parts, not completed.
    fn stage_object(
        &mut self,
        df: &mut DataFrame,
        file: &FileOutput,
        url: &ObjectUrl,
    ) -> Result<NamedTempFile, Error> {
        if file.if_exists == IfExists::Fail {
            Client::new(&self.sink, url)?.refuse_existing()?;
        }
        let temp_dir = std::env::temp_dir();
        let spool = tempfile::Builder::new()
            .prefix(".etl-upload.")
            .suffix(".tmp")
            .tempfile_in(&temp_dir)
            .map_err(self.io("create a temporary file in", &temp_dir))?;
        self.write_data(df, file, &spool, spool.path(), false)?;
        let upload = self.upload(&spool, url)?;
        self.file = Some(Staged::Object(upload));
        Ok(spool)
    }

    /// Writes the file to `tmp`, with its size and SHA-256; `shown` names it in errors.
    fn write_data(
        &mut self,
        df: &mut DataFrame,
        file: &FileOutput,
        tmp: &NamedTempFile,
        shown: &Path,
        sync: bool,
    ) -> Result<(), Error> {
        let mut out = BufWriter::with_capacity(1 << 20, Hashing::new(tmp.as_file()));
        file.format.write(df, &self.sink, &self.run, &mut out)?;
        let hashed = out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .map_err(self.io("write", shown))?;
        self.sha256 = hashed.hex();
        if sync {
            tmp.as_file().sync_all().map_err(self.io("sync", shown))?;
        }
        self.bytes = tmp
            .as_file()
            .metadata()
            .map_err(self.io("inspect", shown))?
            .len();
        Ok(())
    }

    /// Uploads the file `data` to `url` in parts, not completed.
    fn upload(&self, data: &NamedTempFile, url: &ObjectUrl) -> Result<Upload, Error> {
        let client = Client::new(&self.sink, url)?;
        let reader = data.reopen().map_err(self.io("read", data.path()))?;
        Upload::stage(client, reader, data.path())
    }

    /// Copies the prepared file `tmp` to a synced temporary file beside `latest`.
    fn copy_to(&mut self, tmp: &NamedTempFile, latest: &Path) -> Result<(), Error> {
        let folder = folder_of(latest);
        // Recorded before anything is made, so that dropping `self` after a failure below
        // removes what was.
        self.latest = Some(Staged::Local(LocalFile {
            tmp: None,
            path: latest.to_owned(),
            folder: folder.clone(),
            created: missing_folders(&folder),
        }));
        fs::create_dir_all(&folder).map_err(self.io("create the folder", &folder))?;
        let copied =
            temp_beside(latest, &folder).map_err(self.io("create a temporary file in", &folder))?;
        let mut source = tmp.reopen().map_err(self.io("read", tmp.path()))?;
        io::copy(&mut source, &mut copied.as_file()).map_err(self.io("write", latest))?;
        copied
            .as_file()
            .sync_all()
            .map_err(self.io("sync", latest))?;
        if let Some(Staged::Local(copy)) = self.latest.as_mut() {
            copy.tmp = Some(copied);
        }
        Ok(())
    }

    /// Puts the file in place: a local file is renamed into place (with `if_exists: fail`,
    /// never over an existing file) and its folder synced; an object's upload is completed
    /// (with `if_exists: fail`, not over an object that appeared since). Then the `latest`
    /// copy replaces the previous one. If only the copy fails ([`Error::Latest`],
    /// [`Error::LatestCopy`]), the file is in place.
    pub fn commit(mut self) -> Result<Written, Error> {
        match self.file.take() {
            Some(Staged::Local(mut local)) => {
                let placed = self.persist(&mut local);
                // On failure, kept for `drop`, which removes the folders made for it.
                self.file = Some(Staged::Local(local));
                placed?;
                self.file = None;
            }
            Some(Staged::Object(upload)) => upload.complete(self.if_exists)?,
            None => return Err(Error::data(&self.sink, "nothing was prepared")),
        }
        // Then the copy, always over the previous one: a reader of `latest` sees the previous
        // copy or this one, whole.
        let latest = match self.latest.take() {
            Some(Staged::Local(mut copy)) => {
                let placed = self.persist_copy(&mut copy);
                let path = copy.path.clone();
                self.latest = Some(Staged::Local(copy));
                placed?;
                self.latest = None;
                Some(Location::Local(path))
            }
            Some(Staged::Object(upload)) => {
                let url = upload.url().clone();
                upload
                    .complete(IfExists::Overwrite)
                    .map_err(|e| Error::LatestCopy {
                        sink: self.sink.clone(),
                        written: self.location.to_string(),
                        latest: url.to_string(),
                        message: match e {
                            Error::ObjectStore { message, .. } => message,
                            other => other.to_string(),
                        },
                    })?;
                Some(Location::Object(url))
            }
            None => None,
        };
        Ok(Written {
            location: self.location.clone(),
            latest,
            rows: self.rows,
            bytes: self.bytes,
            sha256: self.sha256.clone(),
        })
    }

    /// Renames the file into place and syncs its folder.
    fn persist(&self, local: &mut LocalFile) -> Result<(), Error> {
        let Some(tmp) = local.tmp.take() else {
            return Err(Error::data(&self.sink, "nothing was prepared"));
        };
        let persisted = match self.if_exists {
            IfExists::Overwrite => tmp.persist(&local.path).map(drop),
            IfExists::Fail => tmp.persist_noclobber(&local.path).map(drop),
        };
        if let Err(e) = persisted {
            if e.error.kind() == io::ErrorKind::AlreadyExists {
                return Err(Error::Exists {
                    sink: self.sink.clone(),
                    path: local.path.clone(),
                });
            }
            return Err(self.io("rename into", &local.path)(e.error));
        }
        local.created.clear();
        sync_folder(&local.folder);
        Ok(())
    }

    /// Renames the local copy over the previous one and syncs its folder.
    fn persist_copy(&self, copy: &mut LocalFile) -> Result<(), Error> {
        let Some(tmp) = copy.tmp.take() else {
            return Err(Error::data(&self.sink, "the latest copy was not prepared"));
        };
        if let Err(e) = tmp.persist(&copy.path) {
            return Err(match &self.location {
                Location::Local(path) => Error::Latest {
                    sink: self.sink.clone(),
                    path: path.clone(),
                    latest: copy.path.clone(),
                    source: e.error,
                },
                Location::Object(url) => Error::LatestCopy {
                    sink: self.sink.clone(),
                    written: url.to_string(),
                    latest: copy.path.display().to_string(),
                    message: e.error.to_string(),
                },
            });
        }
        copy.created.clear();
        let file_folder = self.location.as_local().map(folder_of);
        if file_folder.as_ref() != Some(&copy.folder) {
            sync_folder(&copy.folder);
        }
        Ok(())
    }

    fn io(&self, action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error + use<> {
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
        // The temporary files remove themselves and the uploads are aborted; then the folders
        // made for them, if still empty, the copy's first as they were made last.
        let file_folders = self.file.take().map(Staged::discard);
        let copy_folders = self.latest.take().map(Staged::discard);
        for folder in copy_folders.iter().chain(&file_folders).flatten() {
            let _ = fs::remove_dir(folder);
        }
    }
}

/// A writer that hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 of everything written, lowercase hex.
    fn hex(self) -> String {
        format!("{:x}", self.hasher.finalize())
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A hidden temporary file in `folder` named after `path`: `.NAME.XXXXXX.tmp`.
fn temp_beside(path: &Path, folder: &Path) -> io::Result<NamedTempFile> {
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

/// The file output of `sink`; a table sink has none.
fn file_of(sink: &SinkConfig) -> Result<&FileOutput, Error> {
    sink.file().ok_or_else(|| Error::NotAFile {
        sink: sink.name.clone(),
        format: sink.format_name(),
    })
}

/// Writes `df` to `path` atomically: [`prepare`] then [`Prepared::commit`] (so, like
/// [`prepare`], not for a sink with `latest`).
pub fn write(df: &mut DataFrame, sink: &SinkConfig, path: &Path) -> Result<Written, Error> {
    prepare(df, sink, path)?.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_files_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<Prepared>();
        send::<Written>();
    }

    #[test]
    fn hashing_sees_every_byte() {
        let mut out = Vec::new();
        let mut h = Hashing::new(&mut out);
        h.write_all(b"a,b\n1,2\n").unwrap();
        assert_eq!(h.hex(), format!("{:x}", Sha256::digest(b"a,b\n1,2\n")));
        assert_eq!(out, b"a,b\n1,2\n");
    }
}
