//! One run of a pipeline at a time: `.etl/locks/{pipeline}.lock`, created exclusively,
//! removed when the run ends. A lock whose process is gone is taken over with a warning.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a lock file says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    run_id: String,
    started_at: String,
}

/// A held lock; removed on drop.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live run holds it.
    #[error(
        "pipeline `{pipeline}` is already running (process {pid}, run {run_id}, since \
         {started_at}); this run did not start. The lock is `{}`",
        path.display()
    )]
    Held {
        pipeline: String,
        pid: u32,
        run_id: String,
        started_at: String,
        path: PathBuf,
    },
    /// The lock file cannot be made.
    #[error("cannot create the lock `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RunLock {
    /// Takes the lock of `pipeline` under `root` (`.etl`).
    pub fn acquire(
        root: &Path,
        pipeline: &str,
        run_id: &str,
        started_at: &str,
    ) -> Result<Self, LockError> {
        let dir = root.join("locks");
        let path = dir.join(format!("{pipeline}.lock"));
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(io)?;
        let me = Holder {
            pid: std::process::id(),
            run_id: run_id.to_owned(),
            started_at: started_at.to_owned(),
        };
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let text = serde_json::to_string(&me).unwrap_or_default();
                    file.write_all(text.as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(io)?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder: Option<Holder> = fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok());
                    match holder {
                        Some(h) if alive(h.pid) => {
                            return Err(LockError::Held {
                                pipeline: pipeline.to_owned(),
                                pid: h.pid,
                                run_id: h.run_id,
                                started_at: h.started_at,
                                path,
                            });
                        }
                        stale => {
                            tracing::warn!(
                                lock = %path.display(),
                                pid = stale.as_ref().map(|h| h.pid),
                                "Taking over a lock left by a process that is gone."
                            );
                            fs::remove_file(&path).map_err(io)?;
                        }
                    }
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(io(std::io::Error::other(
            "another run took the lock at the same moment",
        )))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether a process is running. On Linux `/proc` tells; elsewhere a lock is assumed live.
fn alive(pid: u32) -> bool {
    if Path::new("/proc/self").exists() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_a_stale_one_taken_over() {
        let root = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(root.path(), "p", "r1", "t").unwrap();
        let err = RunLock::acquire(root.path(), "p", "r2", "t").unwrap_err();
        assert!(err.to_string().contains("is already running"), "{err}");
        drop(lock);
        // A lock of a process that does not exist.
        let stale = Holder {
            pid: u32::MAX - 1,
            run_id: "old".into(),
            started_at: "t".into(),
        };
        fs::write(
            root.path().join("locks/p.lock"),
            serde_json::to_string(&stale).unwrap(),
        )
        .unwrap();
        let lock = RunLock::acquire(root.path(), "p", "r3", "t").unwrap();
        drop(lock);
        assert!(!root.path().join("locks/p.lock").exists());
    }
}
