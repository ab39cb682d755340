use std::time::Duration;

/// How the mock API behaves.
#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    /// The largest page it serves, whatever the client asks (a silent cap, as real APIs do).
    pub max_page_size: Option<usize>,
    /// A credential every request must carry, else 401.
    pub auth: Option<AuthRequirement>,
    /// A fixed-window rate limit answering 429 with `Retry-After` when exceeded.
    pub rate_limit: Option<RateLimit>,
    /// Seeded faults.
    pub faults: Faults,
    /// Added to every response.
    pub latency: Duration,
    /// Wrap lists in an object at this dotted path (`data.items`) instead of a bare array.
    pub envelope: Option<String>,
    /// Ignore every paging parameter and always serve the first page (a broken API).
    pub ignore_paging: bool,
    /// Answer positions past the end with the last page again, as some APIs do.
    pub clamp_paging: bool,
    /// How `/cursor/...` cursors advance.
    pub cursor_mode: CursorMode,
    /// Next links (`/next/...` bodies, `/link/...` headers) as absolute URLs of this server,
    /// instead of relative ones.
    pub absolute_links: bool,
    /// Next links point to this other origin (`http://127.0.0.1:PORT`), as a hostile or
    /// misconfigured API might.
    pub foreign_links: Option<String>,
    /// Require OAuth2 client-credentials tokens from `POST /oauth/token`.
    pub oauth2: Option<OAuth2Mock>,
    /// Quota headers in the IETF form (`RateLimit-Limit/Remaining/Reset`) instead of
    /// `X-RateLimit-*`.
    pub ietf_rate_headers: bool,
    /// `Retry-After` as an HTTP date instead of seconds.
    pub retry_after_date: bool,
    /// Serve https with this certificate (and require client certificates if it says so).
    pub tls: Option<TlsServer>,
}

/// How `/cursor/...` cursors advance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CursorMode {
    /// Each page's cursor leads to the next page.
    #[default]
    Advancing,
    /// Every page after the first names the second page's cursor again.
    Stuck,
    /// Cursors go A, B, then A again.
    Cycle,
}

/// The TLS setup of an https mock, in PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServer {
    /// The server certificate, then its chain.
    pub cert_chain_pem: String,
    pub key_pem: String,
    /// Require client certificates issued by these CAs (mutual TLS).
    pub client_ca_pem: Option<String>,
}

/// The OAuth2 client-credentials server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Mock {
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of the tokens issued (`expires_in`).
    pub expires_in: Duration,
    /// A token is refused (401) after this many uses, as if revoked early.
    pub max_uses: Option<u32>,
}

/// A credential the mock requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRequirement {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// A header with this name and value.
    Header { name: String, value: String },
    /// A query parameter with this name and value.
    Query { name: String, value: String },
    /// `Authorization: Basic base64(user:password)`.
    Basic { username: String, password: String },
}

/// At most `requests` requests in each window of `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
    /// Send `X-RateLimit-*` on every response, as GitHub does, not only on 429s. A client
    /// that reads them never needs a 429; turn it off to see how a client copes without.
    pub advertise: bool,
}

/// Probabilities of each fault, drawn per request from a seeded generator.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Answer 500.
    pub status_500: f64,
    /// Answer 503.
    pub status_503: f64,
    /// Close the connection without answering.
    pub drop: f64,
    /// Announce the full `Content-Length`, send half the body, close the connection.
    pub truncate: f64,
    /// Answer 200 with a body that is not JSON.
    pub invalid_json: f64,
    /// Send the body in ten pieces, 50 ms apart (a slow, dripping connection).
    pub slow_drip: f64,
    /// Seed of the generator: the same seed and request order give the same faults.
    pub seed: u64,
}

impl Faults {
    pub(crate) fn any(&self) -> bool {
        self.status_500
            + self.status_503
            + self.drop
            + self.truncate
            + self.invalid_json
            + self.slow_drip
            > 0.0
    }
}
