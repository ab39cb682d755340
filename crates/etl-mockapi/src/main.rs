//! `etl-mockapi`: serve a fixture folder as a REST API on loopback.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use etl_mockapi::{
    AuthRequirement, CursorMode, Dataset, Faults, MockConfig, MockServer, OAuth2Mock, RateLimit,
    TlsServer, bench, generate_orders,
};

/// A local REST API over fixture data, for etl's tests, demo and benchmarks, and as a sandbox
/// for writing pipelines.
///
/// Every `*.json` file of the fixture folder (an array of objects) is served at `/{stem}`,
/// with `/{stem}/{id}` and `/{parent}/{id}/{child}` (children whose `{parent}Id` matches).
/// Paging: `_start`/`_limit`, `_page`/`_limit`, `offset`/`limit`, `page`/`per_page`.
/// An `orders.json` collection is mutable and served by cursor with `updated_since`.
/// `GET /__stats` reports requests by status, faults and items served.
#[derive(Debug, Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Example:\n  etl-mockapi --fixtures fixtures/jsonplaceholder --port 8080 --max-page-size 7"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Folder of `*.json` fixtures.
    #[arg(long, default_value = "fixtures/jsonplaceholder")]
    fixtures: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write `http://HOST:PORT` to this file once listening (for scripts).
    #[arg(long)]
    addr_file: Option<PathBuf>,
    /// Serve at most this many records per page, whatever the client asks.
    #[arg(long)]
    max_page_size: Option<usize>,
    /// Require `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "TOKEN")]
    bearer_token: Option<String>,
    /// Require a header, as `NAME=VALUE`.
    #[arg(long, value_name = "NAME=VALUE")]
    api_key_header: Option<String>,
    /// Require a query parameter, as `NAME=VALUE`.
    #[arg(long, value_name = "NAME=VALUE")]
    api_key_query: Option<String>,
    /// Require basic auth, as `USER:PASSWORD`.
    #[arg(long, value_name = "USER:PASSWORD")]
    basic_auth: Option<String>,
    /// Fixed-window rate limit, as `REQUESTS/WINDOW` (`20/1s`, `100/1m`); 429 past it.
    #[arg(long, value_name = "N/WINDOW")]
    rate_limit: Option<String>,
    /// Quota headers in the IETF form (`RateLimit-*`) instead of `X-RateLimit-*`.
    #[arg(long)]
    ietf_rate_headers: bool,
    /// `Retry-After` as an HTTP date instead of seconds.
    #[arg(long)]
    retry_after_date: bool,
    /// Send `X-RateLimit-*` headers only with 429s, not with every response.
    #[arg(long)]
    rate_limit_quiet: bool,
    /// Answer positions past the end with the last page again.
    #[arg(long)]
    clamp_paging: bool,
    /// Ignore every paging parameter and always serve the first page (a broken API).
    #[arg(long)]
    ignore_paging: bool,
    /// How `/cursor/...` cursors advance: `advancing`, `stuck` (the same cursor again) or
    /// `cycle` (A, B, A).
    #[arg(long, value_enum, default_value_t = CursorModeArg::Advancing)]
    cursor_mode: CursorModeArg,
    /// Next links as absolute URLs of this server instead of relative ones.
    #[arg(long)]
    absolute_links: bool,
    /// Next links point to this other origin, e.g. `http://127.0.0.1:9999`.
    #[arg(long, value_name = "URL")]
    foreign_links: Option<String>,
    /// Require OAuth2 client-credentials tokens from `POST /oauth/token`, as `ID:SECRET`.
    #[arg(long, value_name = "ID:SECRET")]
    oauth2_client: Option<String>,
    /// Serve https with this PEM certificate (chain); needs `--tls-key`.
    #[arg(long, value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Require client certificates issued by the CAs in this PEM file (mutual TLS).
    #[arg(long, value_name = "PEM")]
    tls_client_ca: Option<PathBuf>,
    /// Lifetime of OAuth2 tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    oauth2_expires_in: u64,
    /// Probability of answering 500.
    #[arg(long, default_value_t = 0.0)]
    fault_500: f64,
    /// Probability of answering 503.
    #[arg(long, default_value_t = 0.0)]
    fault_503: f64,
    /// Probability of closing the connection without answering.
    #[arg(long, default_value_t = 0.0)]
    fault_drop: f64,
    /// Probability of sending half the body and closing the connection.
    #[arg(long, default_value_t = 0.0)]
    fault_truncate: f64,
    /// Probability of answering 200 with a body that is not JSON.
    #[arg(long, default_value_t = 0.0)]
    fault_invalid_json: f64,
    /// Probability of sending the body in ten pieces, 50 ms apart.
    #[arg(long, default_value_t = 0.0)]
    fault_slow_drip: f64,
    /// Seed of the fault generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Wrap lists in an object at this dotted path, e.g. `data.items`.
    #[arg(long)]
    envelope: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print invented shop orders as a JSON array (`fixtures/shop/orders.json` is
    /// `--count 2000 --seed 7`).
    GenerateOrders {
        /// How many orders, with ids 1 to COUNT.
        #[arg(long, default_value_t = 2000)]
        count: usize,
        /// Seed of the generator: the same seed gives the same orders.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Write a JSONPlaceholder-shaped fixture set (`users.json`, `posts.json`,
    /// `comments.json`) into a folder, for benchmarks: the same files for the same scale and
    /// seed.
    GenerateJsonplaceholder {
        /// `large` (10,000 users, 200,000 posts, 1,000,000 comments) or `medium` (a tenth).
        #[arg(long, value_enum, default_value_t = ScaleArg::Large)]
        scale: ScaleArg,
        /// Seed of the generator.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The folder to write (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// The benchmark floor: download every page of some endpoints of a running mock once
    /// (`_start`/`_limit`, one keep-alive connection per endpoint, all at once), drop the
    /// bodies; print pages, records, bytes and seconds as JSON.
    Floor {
        /// The mock's address, `http://127.0.0.1:PORT`.
        #[arg(long)]
        url: String,
        /// Endpoints, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "/users,/posts,/comments")]
        endpoints: Vec<String>,
        /// Records per page.
        #[arg(long, default_value_t = 100)]
        page_size: u64,
    },
    /// Check an engagement report (CSV) against the same report computed from the fixtures
    /// without etl; exit 1 naming the first difference.
    CheckEngagement {
        /// The fixture folder the mock served.
        #[arg(long)]
        fixtures: PathBuf,
        /// The report `etl run` wrote.
        #[arg(long)]
        report: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScaleArg {
    Large,
    Medium,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    if let Some(command) = &args.command {
        return tool(command);
    }
    let data = Dataset::load(&args.fixtures)?;
    let config = config(&args)?;
    let server = MockServer::bind(SocketAddr::new(args.host, args.port), data, config)
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let url = server.url();
    if let Some(path) = &args.addr_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &url)
            .and_then(|()| std::fs::rename(&tmp, path))
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    println!(
        "etl-mockapi listening on {url} (fixtures: {})",
        args.fixtures.display()
    );
    server.wait();
    Ok(())
}

/// The commands that are not the server: generators, the floor client, the report check.
fn tool(command: &Command) -> Result<()> {
    match command {
        Command::GenerateOrders { count, seed } => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &generate_orders(*count, *seed))?;
            writeln!(out)?;
            Ok(())
        }
        Command::GenerateJsonplaceholder { scale, seed, out } => {
            let scale = match scale {
                ScaleArg::Large => bench::Scale::LARGE,
                ScaleArg::Medium => bench::Scale::MEDIUM,
            };
            bench::generate_jsonplaceholder(out, scale, *seed)
                .with_context(|| format!("cannot write the fixtures into {}", out.display()))
        }
        Command::Floor {
            url,
            endpoints,
            page_size,
        } => {
            let addr = url
                .strip_prefix("http://")
                .context("--url takes http://HOST:PORT")?
                .trim_end_matches('/')
                .to_owned();
            let endpoints: Vec<&str> = endpoints.iter().map(String::as_str).collect();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let floor = runtime.block_on(bench::floor(&addr, &endpoints, *page_size))?;
            println!(
                "{}",
                serde_json::json!({
                    "pages": floor.pages,
                    "records": floor.records,
                    "bytes": floor.bytes,
                    "seconds": floor.elapsed.as_secs_f64(),
                })
            );
            Ok(())
        }
        Command::CheckEngagement { fixtures, report } => {
            let expected = bench::expected_engagement(fixtures)
                .with_context(|| format!("cannot read the fixtures in {}", fixtures.display()))?;
            let text = std::fs::read_to_string(report)
                .with_context(|| format!("cannot read {}", report.display()))?;
            if let Err(difference) = bench::check_engagement(&text, &expected) {
                bail!(
                    "{}: not the report of the fixtures: {difference}",
                    report.display()
                );
            }
            println!(
                "{}: equal to the report computed from {} ({} users)",
                report.display(),
                fixtures.display(),
                expected.len()
            );
            Ok(())
        }
    }
}

/// The server's behaviour, from the flags.
fn config(args: &Args) -> Result<MockConfig> {
    Ok(MockConfig {
        max_page_size: args.max_page_size,
        auth: auth(args)?,
        rate_limit: args
            .rate_limit
            .as_deref()
            .map(|r| parse_rate_limit(r, !args.rate_limit_quiet))
            .transpose()?,
        faults: Faults {
            status_500: args.fault_500,
            status_503: args.fault_503,
            drop: args.fault_drop,
            truncate: args.fault_truncate,
            invalid_json: args.fault_invalid_json,
            slow_drip: args.fault_slow_drip,
            seed: args.seed,
        },
        latency: Duration::from_millis(args.latency_ms),
        envelope: args.envelope.clone(),
        ignore_paging: args.ignore_paging,
        ietf_rate_headers: args.ietf_rate_headers,
        retry_after_date: args.retry_after_date,
        clamp_paging: args.clamp_paging,
        cursor_mode: match args.cursor_mode {
            CursorModeArg::Advancing => CursorMode::Advancing,
            CursorModeArg::Stuck => CursorMode::Stuck,
            CursorModeArg::Cycle => CursorMode::Cycle,
        },
        absolute_links: args.absolute_links,
        foreign_links: args.foreign_links.clone(),
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsServer {
                cert_chain_pem: std::fs::read_to_string(cert)
                    .with_context(|| format!("cannot read `{}`", cert.display()))?,
                key_pem: std::fs::read_to_string(key)
                    .with_context(|| format!("cannot read `{}`", key.display()))?,
                client_ca_pem: args
                    .tls_client_ca
                    .as_ref()
                    .map(|ca| {
                        std::fs::read_to_string(ca)
                            .with_context(|| format!("cannot read `{}`", ca.display()))
                    })
                    .transpose()?,
            }),
            (None, None) => None,
            _ => bail!("`--tls-cert` and `--tls-key` go together"),
        },
        oauth2: match &args.oauth2_client {
            Some(pair) => {
                let (client_id, client_secret) = pair
                    .split_once(':')
                    .context("`--oauth2-client` takes `ID:SECRET`")?;
                Some(OAuth2Mock {
                    client_id: client_id.to_owned(),
                    client_secret: client_secret.to_owned(),
                    expires_in: Duration::from_secs(args.oauth2_expires_in),
                    max_uses: None,
                })
            }
            None => None,
        },
    })
}

fn auth(args: &Args) -> Result<Option<AuthRequirement>> {
    let pair = |s: &str, sep: char, flag: &str| -> Result<(String, String)> {
        s.split_once(sep)
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .with_context(|| format!("`--{flag}` takes a value with `{sep}` in it"))
    };
    Ok(if let Some(token) = &args.bearer_token {
        Some(AuthRequirement::Bearer(token.clone()))
    } else if let Some(h) = &args.api_key_header {
        let (name, value) = pair(h, '=', "api-key-header")?;
        Some(AuthRequirement::Header { name, value })
    } else if let Some(q) = &args.api_key_query {
        let (name, value) = pair(q, '=', "api-key-query")?;
        Some(AuthRequirement::Query { name, value })
    } else if let Some(b) = &args.basic_auth {
        let (username, password) = pair(b, ':', "basic-auth")?;
        Some(AuthRequirement::Basic { username, password })
    } else {
        None
    })
}

fn parse_rate_limit(s: &str, advertise: bool) -> Result<RateLimit> {
    let (n, window) = s
        .split_once('/')
        .context("`--rate-limit` looks like `20/1s`")?;
    let requests: u32 = n
        .trim()
        .parse()
        .context("`--rate-limit`: the request count must be a whole number")?;
    let window = window.trim();
    let (digits, unit) = window.split_at(
        window
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(window.len()),
    );
    let amount: u64 = if digits.is_empty() {
        1
    } else {
        digits.parse()?
    };
    let window = match unit {
        "ms" => Duration::from_millis(amount),
        "s" | "" => Duration::from_secs(amount),
        "m" => Duration::from_secs(amount * 60),
        other => bail!("`--rate-limit`: unknown unit `{other}`; use ms, s or m"),
    };
    if requests == 0 || window.is_zero() {
        bail!("`--rate-limit` needs at least one request per non-empty window");
    }
    Ok(RateLimit {
        requests,
        window,
        advertise,
    })
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CursorModeArg {
    Advancing,
    Stuck,
    Cycle,
}
