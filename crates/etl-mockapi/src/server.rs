use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use crate::config::{MockConfig, TlsServer};
use crate::data::Dataset;
use crate::faults::{self, Fault};
use crate::http::{self, Request, Response};
use crate::order_store::{self, NO_ORDERS, OrderStore, StoreError};
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
    scheme: &'static str,
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

    /// Binds `addr` and serves `data` until dropped. Fails if the dataset has an `orders`
    /// collection that cannot be served (an order without an integer `id` or an RFC 3339
    /// `updated_at`, or a taken id).
    pub fn bind(addr: SocketAddr, data: Dataset, config: MockConfig) -> io::Result<Self> {
        let mut state = State::new();
        state.orders = OrderStore::from_dataset(&data)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            .map(Mutex::new);
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let acceptor = match &config.tls {
            Some(tls) => Some(tls_acceptor(tls)?),
            None => None,
        };
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let shared = Arc::new(Shared {
            config,
            data,
            state,
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
                        () = accept_loop(listener, serving, acceptor) => {}
                        _ = stop => {}
                    }
                });
                runtime.shutdown_background();
            })?;
        Ok(Self {
            addr,
            scheme,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS), without a trailing slash.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// What it has served so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The current orders, by id (as `GET /__orders`); none without an `orders` collection.
    pub fn orders(&self) -> Vec<Value> {
        self.shared
            .state
            .orders
            .as_ref()
            .map(|store| order_store::lock(store).all())
            .unwrap_or_default()
    }

    /// Inserts orders, all or none (as `POST /__orders`): each needs an integer `id` not
    /// taken yet; a missing `created_at` or `updated_at` is set to the mock's "now" (the
    /// current second, but always a second past the latest `updated_at`). Returns them as
    /// stored.
    pub fn add_orders(&self, orders: Vec<Value>) -> Result<Vec<Value>, StoreError> {
        order_store::lock(self.order_store()?).insert(orders)
    }

    /// Sets `fields` (a JSON object) on the order `id` and its `updated_at` to the mock's
    /// "now" (as `PATCH /__orders/{id}`); returns the order as stored.
    pub fn update_order(&self, id: i64, fields: Value) -> Result<Value, StoreError> {
        order_store::lock(self.order_store()?).update(id, fields)
    }

    fn order_store(&self) -> Result<&std::sync::Mutex<OrderStore>, StoreError> {
        self.shared
            .state
            .orders
            .as_ref()
            .ok_or_else(|| StoreError::NotFound(NO_ORDERS.to_owned()))
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

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                match tls.clone() {
                    Some(acceptor) => {
                        tokio::spawn(async move {
                            match acceptor.accept(stream).await {
                                Ok(tls_stream) => serve_connection(tls_stream, shared).await,
                                Err(e) => {
                                    debug!(error = %e, "TLS handshake failed.");
                                    shared.recorder.tls_failure();
                                }
                            }
                        });
                    }
                    None => {
                        tokio::spawn(serve_connection(stream, shared));
                    }
                }
            }
            Err(e) => {
                debug!(error = %e, "Accept failed.");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_connection(mut stream: impl AsyncRead + AsyncWrite + Unpin, shared: Arc<Shared>) {
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
        if request.path.starts_with("/__") {
            let written = internal(&request, &shared)
                .write(&mut stream, request.keep_alive)
                .await;
            if written.is_err() || !request.keep_alive {
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
            Some(Fault::Truncate | Fault::SlowDrip) | None => {
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
        let written = if fault == Some(Fault::SlowDrip) {
            response
                .write_dripping(&mut stream, request.keep_alive)
                .await
        } else {
            response.write(&mut stream, request.keep_alive).await
        };
        if written.is_err() || !request.keep_alive {
            return;
        }
    }
}

impl Shared {
    fn stats(&self) -> Stats {
        let mut stats = self.recorder.snapshot();
        stats.tokens_issued = self.state.tokens.count() as u64;
        stats
    }
}

/// The routes under `/__`, for tests: never faulty, limited, guarded or counted.
fn internal(request: &Request, shared: &Shared) -> Response {
    match request.path.as_str() {
        "/__stats" => Response::json(200, serde_json::to_vec(&shared.stats()).unwrap_or_default()),
        path if path == "/__orders" || path.starts_with("/__orders/") => {
            order_store::test_api(request, shared.state.orders.as_ref())
        }
        path => Response::error(404, &format!("no resource at `{path}`")),
    }
}

fn tls_acceptor(tls: &TlsServer) -> io::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(tls.cert_chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| invalid("server certificate", &e))?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes())
        .map_err(|e| invalid("server key", &e))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match &tls.client_ca_pem {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots
                    .add(cert.map_err(|e| invalid("client CA", &e))?)
                    .map_err(|e| invalid("client CA", &e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| invalid("client CA", &e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid("server certificate", &e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::config::Faults;

    /// One request on its own connection: the status and the body.
    fn call(server: &MockServer, method: &str, target: &str, body: &str) -> (u16, Value) {
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        write!(
            stream,
            "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        (
            head[9..12].parse().unwrap(),
            serde_json::from_str(body).unwrap(),
        )
    }

    #[test]
    fn the_orders_test_api_is_never_faulty_nor_counted() {
        let data = Dataset::from_collections([(
            "orders".to_owned(),
            crate::orders::generate_orders(20, 7),
        )]);
        let config = MockConfig {
            faults: Faults {
                status_500: 1.0,
                ..Faults::default()
            },
            ..MockConfig::default()
        };
        let server = MockServer::start(data, config).unwrap();
        let (status, order) = call(&server, "PATCH", "/__orders/3", r#"{"total": 1.5}"#);
        assert_eq!((status, &order["total"]), (200, &serde_json::json!(1.5)));
        let stamp = order["updated_at"].as_str().unwrap().to_owned();
        let (status, _) = call(
            &server,
            "GET",
            &format!("/orders?updated_since={stamp}"),
            "",
        );
        assert_eq!(status, 500, "faults apply to /orders");
        assert_eq!(server.orders().len(), 20);
        let added = server
            .add_orders(vec![serde_json::json!({"id": 21, "status": "pending"})])
            .unwrap();
        assert!(added[0]["updated_at"].as_str().unwrap() > stamp.as_str());
        assert!(server.update_order(99, serde_json::json!({})).is_err());
        let (status, seen) = call(&server, "GET", "/__stats?api_key=k", "");
        assert_eq!(status, 200);
        assert_eq!(seen["requests"], 1);
        assert_eq!(
            server.stats().targets,
            vec![format!("/orders?updated_since={stamp}")]
        );
    }
}
