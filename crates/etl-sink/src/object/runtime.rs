//! The object store's requests run on a small tokio runtime of this crate, and the sink's
//! synchronous code waits for them on a channel.
//!
//! Not `Handle::current().block_on`: that panics on a thread that runs async tasks, which
//! `Drop for Prepared` (aborting an upload) cannot rule out, and with a current-thread
//! runtime nothing would drive the requests while the runtime's only thread waits for the
//! sink. A runtime of our own works the same on the runner's blocking thread, in a test
//! without any runtime, and in `drop`; the HTTP connections it pools stay with it.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("etl-object-store")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the object storage runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A request running on the runtime.
#[derive(Debug)]
pub(crate) struct Running<T>(mpsc::Receiver<T>);

/// Starts `future` on the runtime.
pub(crate) fn start<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> Result<Running<T>, String> {
    let (tx, rx) = mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(future.await);
    });
    Ok(Running(rx))
}

impl<T> Running<T> {
    /// Its output, once done.
    pub(crate) fn wait(self) -> Result<T, String> {
        self.0
            .recv()
            .map_err(|_| "the object storage request stopped unexpectedly".to_owned())
    }

    /// Its output, if done within `limit`.
    pub(crate) fn wait_at_most(self, limit: Duration) -> Option<T> {
        self.0.recv_timeout(limit).ok()
    }
}

/// Runs `future` on the runtime and waits for its output.
pub(crate) fn run<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    start(future)?.wait()
}
