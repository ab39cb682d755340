//! Staging off the fetch path: a thread of the source's own owns its [`StageWriter`] and
//! stages the pages handed to it through a bounded queue, in the order they were handed
//! over, while the requests go on. The network never waits for the CPU unless the queue is
//! full, and then only until the thread has caught up.
//!
//! Pages go over in batches: a thread that stages faster than pages arrive would otherwise
//! be put to sleep and woken again for every page (10,000 times for the comments of the
//! large bench, each a system call on both sides).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::records::Records;
use crate::stage::{StageWriter, StagedTable};

/// Pages handed over at once.
const BATCH: usize = 8;

/// Batches waiting to be staged, at most: a bound on the memory the queue holds (64 pages of
/// 100 comments are about 1.6 MB of text).
const QUEUE: usize = 64 / BATCH;

/// One page to stage, with the URL it came from (named if a record turns out invalid).
#[derive(Debug)]
struct Page {
    records: Records,
    origin: String,
}

/// What the staging thread returns: the staged table, and the time it spent staging.
type Staged = Result<(StagedTable, Duration), Error>;

/// Hands pages to the staging thread of one source; shared by its request series.
#[derive(Debug)]
pub(crate) struct Stager {
    /// Pages handed over and not yet sent, fewer than [`BATCH`].
    pending: Mutex<Vec<Page>>,
    queue: Option<mpsc::Sender<Vec<Page>>>,
    worker: Option<JoinHandle<Staged>>,
    /// Closed when the thread ends (its sender is dropped then, on an error or a panic too):
    /// waited for without holding up a thread of the runtime.
    ended: Option<oneshot::Receiver<()>>,
    /// Set when the source stops half-way: the thread drops what is still queued.
    abandoned: Arc<AtomicBool>,
    source_name: String,
    path: PathBuf,
}

impl Stager {
    /// Starts the staging thread for `writer`, which stages at `path`.
    pub(crate) fn start(
        mut writer: StageWriter,
        source_name: &str,
        path: PathBuf,
    ) -> Result<Self, Error> {
        let (queue, mut batches) = mpsc::channel::<Vec<Page>>(QUEUE);
        let (ending, ended) = oneshot::channel::<()>();
        let abandoned = Arc::new(AtomicBool::new(false));
        let abandon = Arc::clone(&abandoned);
        let (name, at) = (source_name.to_owned(), path.clone());
        let worker = std::thread::Builder::new()
            .name(format!("etl-stage-{source_name}"))
            .spawn(move || -> Staged {
                let _ending = ending;
                let mut busy = Duration::ZERO;
                let abandoned = || {
                    abandon
                        .load(Ordering::Relaxed)
                        .then(|| stopped(&name, &at, "the source stopped"))
                };
                while let Some(batch) = batches.blocking_recv() {
                    if let Some(stopped) = abandoned() {
                        return Err(stopped);
                    }
                    let started = Instant::now();
                    for Page { records, origin } in batch {
                        match records {
                            Records::Values(values) => writer.stage_values(values)?,
                            Records::Raw { text, spans } => {
                                writer.stage_raw(&text, &spans, &origin)?;
                            }
                        }
                    }
                    busy += started.elapsed();
                }
                if let Some(stopped) = abandoned() {
                    return Err(stopped);
                }
                // The last part is written here too, not on the thread that fetches.
                let started = Instant::now();
                let table = writer.finish()?;
                Ok((table, busy + started.elapsed()))
            })
            .map_err(|e| Error::Stage {
                source_name: source_name.to_owned(),
                path: path.clone(),
                source: e,
            })?;
        Ok(Self {
            pending: Mutex::new(Vec::with_capacity(BATCH)),
            queue: Some(queue),
            worker: Some(worker),
            ended: Some(ended),
            abandoned,
            source_name: source_name.to_owned(),
            path,
        })
    }

    /// Hands a page over, waiting while the queue is full. An error means the thread has
    /// stopped on an error of its own, which [`Stager::finish`] returns.
    pub(crate) async fn stage(&self, records: Records, origin: String) -> Result<(), Error> {
        let full = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.push(Page { records, origin });
            (pending.len() >= BATCH)
                .then(|| std::mem::replace(&mut *pending, Vec::with_capacity(BATCH)))
        };
        // Sent before this task yields: batches taken by two series go in the order taken
        // (the queue's waiters are served first come, first served).
        match full {
            Some(batch) => self.send(batch).await,
            None => Ok(()),
        }
    }

    async fn send(&self, batch: Vec<Page>) -> Result<(), Error> {
        let sent = match &self.queue {
            Some(queue) => queue.send(batch).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.stopped("the staging thread stopped"))
        }
    }

    /// Waits for every page handed over to be staged and closes the table; returns it and
    /// the time spent staging. The first error of the thread, if it had one.
    pub(crate) async fn finish(mut self) -> Result<(StagedTable, Duration), Error> {
        let rest = std::mem::take(
            self.pending
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        // An error sending means the thread stopped on an error of its own, returned below.
        let queue = self.queue.take();
        if let Some(queue) = &queue
            && !rest.is_empty()
        {
            let _ = queue.send(rest).await;
        }
        // Closing the queue ends the thread's loop once it has staged what was sent.
        drop(queue);
        if let Some(ended) = self.ended.take() {
            let _ = ended.await;
        }
        let Some(worker) = self.worker.take() else {
            return Err(self.stopped("the staging thread is gone"));
        };
        worker
            .join()
            .map_err(|_| self.stopped("the staging thread panicked"))?
    }

    fn stopped(&self, why: &str) -> Error {
        stopped(&self.source_name, &self.path, why)
    }
}

/// The staging of `source_name` at `path` ended without its table, for `why`.
fn stopped(source_name: &str, path: &Path, why: &str) -> Error {
    Error::Stage {
        source_name: source_name.to_owned(),
        path: path.to_owned(),
        source: std::io::Error::other(why.to_owned()),
    }
}

impl Drop for Stager {
    /// A source stopped half-way (an error, a signal): the thread drops what is still queued
    /// instead of staging it, and lets go of the staged file before the source's task ends.
    /// After [`Stager::finish`] there is nothing left to do.
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Relaxed);
        self.queue = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Flatten;

    fn page(i: usize) -> Records {
        let text = format!(r#"[{{"id": {i}}}]"#);
        let spans = std::iter::once(1..text.len() - 1).collect();
        Records::Raw { text, spans }
    }

    fn stager(dir: &std::path::Path) -> (Stager, PathBuf) {
        let path = dir.join("t.parquet");
        let writer = StageWriter::create(&path, "t", Flatten::default(), None);
        (Stager::start(writer, "t", path.clone()).unwrap(), path)
    }

    #[tokio::test]
    async fn pages_handed_over_in_batches_are_all_staged() {
        // Full batches only, and a part of one more, which `finish` sends.
        for pages in [2 * BATCH, 2 * BATCH + 3] {
            let dir = tempfile::tempdir().unwrap();
            let (stager, _) = stager(dir.path());
            for i in 0..pages {
                stager.stage(page(i), format!("page {i}")).await.unwrap();
            }
            let (table, _) = stager.finish().await.unwrap();
            assert_eq!(table.rows, pages as u64);
        }
    }

    #[tokio::test]
    async fn a_stager_dropped_before_its_end_stages_and_writes_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let (stager, path) = stager(dir.path());
        for i in 0..(3 * BATCH) {
            stager.stage(page(i), format!("page {i}")).await.unwrap();
        }
        drop(stager);
        // Without being abandoned, the thread would stage the batches still queued and
        // write them as the last part.
        assert!(!path.exists());
    }
}
