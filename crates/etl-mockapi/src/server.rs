use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tracing::debug;

use crate::config::MockConfig;
use crate::data::Dataset;
use crate::faults::{self, Fault};
use crate::http::{self, Response};
use crate::routes::{self, State};
use crate::stats::{Recorder, Stats};

struct Shared {
    config: MockConfig,
    data: Dataset,
    state: State,
    recorder: Recorder,
}

/// A running mock API on its own thread and tokio runtime; stopped when dropped.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockServer {
    /// Binds `127.0.0.1` on a free port and serves `data` until dropped.
    pub fn start(data: Dataset, config: MockConfig) -> io::Result<Self> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), data, config)
    }

    /// Binds `addr` and serves `data` until dropped.
    pub fn bind(addr: SocketAddr, data: Dataset, config: MockConfig) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            data,
            state: State::new(),
            recorder: Recorder::default(),
        });
        let (shutdown, stop) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("etl-mockapi")
            .enable_all()
            .build()?;
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("etl-mockapi".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "Cannot listen.");
                            return;
                        }
                    };
                    tokio::select! {
                        () = accept_loop(listener, serving) => {}
                        _ = stop => {}
                    }
                });
                runtime.shutdown_background();
            })?;
        Ok(Self {
            addr,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it has served so far.
    pub fn stats(&self) -> Stats {
        let mut stats = self.shared.recorder.snapshot();
        stats.tokens_issued = self.shared.state.tokens.count() as u64;
        stats
    }

    /// Blocks until the server stops (it stops only when the process does).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            Err(e) => {
                debug!(error = %e, "Accept failed.");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    loop {
        let request = match http::read_request(&mut stream, &mut buf).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) => {
                debug!(error = %e, "Bad request.");
                let _ = Response::error(400, &e.to_string())
                    .write(&mut stream, false)
                    .await;
                return;
            }
        };
        if request.path == "/__stats" {
            let mut stats = shared.recorder.snapshot();
            stats.tokens_issued = shared.state.tokens.count() as u64;
            let body = serde_json::to_vec(&stats).unwrap_or_default();
            if Response::json(200, body)
                .write(&mut stream, request.keep_alive)
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        let number = shared.recorder.request(&request);
        if !shared.config.latency.is_zero() {
            tokio::time::sleep(shared.config.latency).await;
        }
        let fault = faults::draw(&shared.config.faults, number);
        let (response, items) = match fault {
            Some(Fault::Drop) => {
                shared.recorder.fault(Fault::Drop.label());
                return;
            }
            Some(Fault::Status500) => (Response::error(500, "injected fault"), 0),
            Some(Fault::Status503) => (Response::error(503, "injected fault"), 0),
            Some(Fault::InvalidJson) => (
                Response::json(200, b"[{\"id\": 1, \"name\": \"cut".to_vec()),
                0,
            ),
            Some(Fault::Truncate) | None => {
                routes::handle(&request, &shared.config, &shared.data, &shared.state)
            }
        };
        if fault == Some(Fault::Truncate) && response.status == 200 {
            shared.recorder.fault(Fault::Truncate.label());
            let _ = response.write_truncated(&mut stream).await;
            return;
        }
        if let Some(f) = fault.filter(|f| *f != Fault::Truncate) {
            shared.recorder.fault(f.label());
        }
        shared.recorder.response(response.status, items);
        let written = response.write(&mut stream, request.keep_alive).await;
        if written.is_err() || !request.keep_alive {
            return;
        }
    }
}
