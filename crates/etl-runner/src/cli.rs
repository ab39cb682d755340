//! The `etl` command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use clap::{Parser, Subcommand, ValueEnum};

use crate::lock::{LockError, RunLock};
use crate::manifest::{Manifest, SinkEntry, SourceEntry, sha256};
use crate::pipeline::Pipeline;
use crate::progress::{Progress, ProgressMode};
use crate::run::{Cancel, RunClock, RunError, RunOptions, RunReport, run};
use crate::summary;

/// Exit codes (PIPELINE-FORMAT.md, General rules).
pub mod exit {
    /// The run succeeded.
    pub const OK: u8 = 0;
    /// The run failed.
    pub const FAILED: u8 = 1;
    /// Usage or configuration error.
    pub const CONFIG: u8 = 2;
    /// The pipeline is already running.
    pub const LOCKED: u8 = 75;
    /// Interrupted by SIGINT (Ctrl-C).
    pub const SIGINT: u8 = 130;
    /// Interrupted by SIGTERM.
    pub const SIGTERM: u8 = 143;
}

/// Declarative ETL: fetch REST APIs, transform with polars, write CSV or Parquet reports.
#[derive(Debug, Parser)]
#[command(name = "etl", version, propagate_version = true)]
#[command(
    after_help = "Examples:\n  etl validate pipelines/engagement.yaml\n  etl run pipelines/engagement.yaml\n  RUST_LOG=debug etl --log-format json run pipelines/engagement.yaml"
)]
pub struct Cli {
    /// Log format on stderr; the level comes from `RUST_LOG` (default `warn`).
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log lines on stderr: `-v` info (each source, each file written), `-vv` debug
    /// (each page). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print nothing but errors (no summary).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Override a key of the pipeline: `--set http.base_url=http://127.0.0.1:8080` (the
    /// value is read as YAML; repeatable; applied after `${VAR}`).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE", global = true)]
    pub set: Vec<String>,

    /// Read environment variables for `${VAR}` from this file (`KEY=VALUE` lines, `#`
    /// comments); variables already set in the environment win.
    #[arg(long, value_name = "FILE", global = true)]
    pub env_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline: fetch every source, run the transforms, write every sink.
    #[command(
        after_help = "Example:\n  API_BASE_URL=http://127.0.0.1:8080 etl run pipelines/engagement.yaml\n\nExit codes: 0 ok, 1 the run failed, 2 usage or config error, 75 already running,\n130/143 interrupted by SIGINT/SIGTERM."
    )]
    Run {
        /// The pipeline file. Paths inside it are relative to the working directory.
        file: PathBuf,
        #[command(flatten)]
        window: WindowArgs,
        /// A live line per source on stderr (pages, records, rate, waits and why): `auto` on
        /// a terminal only (not with `--quiet` or JSON logs), `always` also into a pipe or a
        /// file (with terminal control codes), `never` plain log lines only.
        #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
        progress: ProgressMode,
    },
    /// Run pipelines on their `schedule`, in one long-lived process, until SIGTERM.
    #[command(
        after_help = "Example:\n  etl schedule pipelines/daily_sales.yaml pipelines/engagement.yaml\n\nEach run is `etl run FILE` in a child process (own lock, manifest and exit code);\na pipeline never overlaps itself: a tick during its previous run is skipped.\nSIGTERM or SIGINT: no new runs, running ones are stopped cleanly, exit 0."
    )]
    Schedule {
        /// Pipeline files, each with a `schedule`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show or reset the incremental state of a pipeline (`.etl/state/`, `.etl/data/`).
    #[command(
        after_help = "Examples:\n  etl state show pipelines/daily_sales.yaml\n  etl state reset pipelines/daily_sales.yaml --source orders"
    )]
    State {
        #[command(subcommand)]
        action: StateAction,
    },
    /// List the recent runs of a pipeline, from its manifests under `.etl/runs/`.
    #[command(after_help = "Example:\n  etl runs pipelines/engagement.yaml")]
    Runs {
        /// The pipeline file.
        file: PathBuf,
        /// How many runs to show, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show what a run would do: the sources and the first request of each (secrets masked),
    /// the transforms and what they read, the sinks. Makes no request.
    #[command(after_help = "Example:\n  etl plan pipelines/engagement.yaml")]
    Plan {
        /// The pipeline file.
        file: PathBuf,
    },
    /// Write a commented pipeline to start from (`NAME.yaml`).
    #[command(after_help = "Example:\n  etl init orders\n  etl validate orders.yaml")]
    Init {
        /// The pipeline's name; the file is `NAME.yaml` in the working directory.
        name: String,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  etl completions bash > ~/.local/share/bash-completion/completions/etl\n  etl completions zsh > \"${fpath[1]}/_etl\""
    )]
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Print the JSON Schema of the pipeline format (for editor autocompletion and checks).
    #[command(
        after_help = "Examples:\n  etl schema > etl.schema.json\n  etl schema --output .vscode/etl.schema.json\n\nVS Code (the Red Hat YAML extension), in .vscode/settings.json:\n  \"yaml.schemas\": { \".vscode/etl.schema.json\": [\"pipelines/*.yaml\"] }"
    )]
    Schema {
        /// Write the schema to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check pipeline files without touching the network; report every error at once.
    #[command(after_help = "Example:\n  etl validate pipelines/*.yaml")]
    Validate {
        /// Pipeline files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `etl run` options: a backfill window and a subset of sources.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WindowArgs {
    /// Start every incremental source here instead of at its stored cursor (a date-time,
    /// a date or an integer). The state is not saved unless `--save-state`.
    #[arg(long, value_name = "CURSOR")]
    pub since: Option<String>,
    /// Leave out records whose cursor is after this (sent as `until_param` if declared).
    #[arg(long, value_name = "CURSOR")]
    pub until: Option<String>,
    /// Save the state after a `--since`/`--until` run too.
    #[arg(long)]
    pub save_state: bool,
    /// Run only these sources (comma-separated), and the transforms and sinks that need
    /// nothing else.
    #[arg(long, value_name = "SOURCE,...", value_delimiter = ',')]
    pub only: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Print the stored cursors and merged tables.
    Show {
        /// The pipeline file.
        file: PathBuf,
    },
    /// Forget the cursors (and merged tables): the next run starts from `initial`.
    Reset {
        /// The pipeline file.
        file: PathBuf,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
    },
}

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    QUIET.store(cli.quiet, Ordering::SeqCst);
    let _ = LOGGING.set((cli.log_format, cli.verbose));
    // `etl run` starts logging once it knows whether a progress display goes with it.
    if !matches!(cli.command, Command::Run { .. }) {
        init_logging(None);
    }
    let vars = match cli.env_file.as_deref().map(read_env_file).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(m) => {
            eprintln!("error: {m}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let _ = LOAD.set(LoadOptions {
        vars,
        set: cli.set.clone(),
        env_file: cli.env_file.clone(),
    });
    ExitCode::from(match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Run {
            file,
            window,
            progress,
        } => run_file(&file, &window, progress),
        Command::State { action } => state_command(&action),
        Command::Plan { file } => plan(&file),
        Command::Init { name } => init(&name),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "etl", &mut script);
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::stdout().write_all(&script);
            exit::OK
        }
        Command::Schema { output } => schema(output.as_deref()),
        Command::Schedule { files } => crate::scheduler::main(&files),
        Command::Runs { file, limit } => runs(&file, limit),
    })
}

/// `etl schema`: the JSON Schema, on stdout or in a file (written whole or not at all).
fn schema(output: Option<&Path>) -> u8 {
    let mut text = serde_json::to_string_pretty(&crate::pipeline::json_schema())
        .expect("a JSON value always serialises");
    text.push('\n');
    let Some(path) = output else {
        let _ = std::io::stdout().write_all(text.as_bytes());
        return exit::OK;
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let written = tempfile::NamedTempFile::new_in(dir).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.persist(path).map_err(|e| e.error)?;
        Ok(())
    });
    match written {
        Ok(()) => {
            if !QUIET.load(Ordering::SeqCst) {
                println!("{}: the JSON Schema of the pipeline format", path.display());
            }
            exit::OK
        }
        Err(e) => {
            eprintln!(
                "error: cannot write {}: {e}; check that its folder exists and is writable",
                path.display()
            );
            exit::FAILED
        }
    }
}

/// `--set` and `--env-file`, for every pipeline this process loads.
#[derive(Debug, Default)]
struct LoadOptions {
    vars: Vec<(String, String)>,
    set: Vec<String>,
    env_file: Option<PathBuf>,
}

static LOAD: std::sync::OnceLock<LoadOptions> = std::sync::OnceLock::new();

/// Loads a pipeline with the environment (and `--env-file`) and `--set` overrides.
pub(crate) fn load_pipeline(file: &Path) -> Result<Pipeline, crate::Diagnostics> {
    let options = LOAD.get_or_init(LoadOptions::default);
    let env = |name: &str| {
        std::env::var(name).ok().or_else(|| {
            options
                .vars
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    };
    Pipeline::load_with(file, &env, &options.set)
}

/// The arguments `etl schedule` passes on to each `etl run`.
pub(crate) fn load_args() -> Vec<String> {
    let options = LOAD.get_or_init(LoadOptions::default);
    let mut args = Vec::new();
    if let Some(f) = &options.env_file {
        args.push("--env-file".to_owned());
        args.push(f.display().to_string());
    }
    for s in &options.set {
        args.push("--set".to_owned());
        args.push(s.clone());
    }
    args
}

/// `KEY=VALUE` lines; `#` comments, blank lines, `export ` and quotes around values allowed.
fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--env-file {}: cannot read it: {e}", path.display()))?;
    let mut vars = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!(
                "--env-file {}:{}: write KEY=VALUE (the line has no `=`)",
                path.display(),
                i + 1
            ));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "--env-file {}:{}: `{k}` is not a variable name",
                path.display(),
                i + 1
            ));
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
            .unwrap_or(v);
        vars.push((k.to_owned(), v.to_owned()));
    }
    Ok(vars)
}

/// `--quiet`: no summary on stdout.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--log-format` and `-v`, for [`init_logging`].
static LOGGING: std::sync::OnceLock<(LogFormat, u8)> = std::sync::OnceLock::new();

/// Log lines on stderr, at the level of `-v` (or `RUST_LOG`); with a progress display, the
/// lines are written around it and its events feed it.
fn init_logging(progress: Option<&Progress>) {
    use tracing_subscriber::prelude::*;
    let (format, verbose) = LOGGING.get().copied().unwrap_or((LogFormat::Text, 0));
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let registry = tracing_subscriber::registry();
    // Colours on a terminal only: under cron, in a pipe or a file, plain lines.
    let ansi = {
        use std::io::IsTerminal as _;
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
    };
    let _ = match (format, progress) {
        (LogFormat::Json, _) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
        (LogFormat::Text, None) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
        (LogFormat::Text, Some(progress)) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(progress.writer())
                    .with_filter(filter),
            )
            .with(
                progress.clone().with_filter(
                    tracing_subscriber::filter::Targets::new()
                        .with_target(etl_source::progress::TARGET, tracing::Level::TRACE),
                ),
            )
            .try_init(),
    };
}

fn validate(files: &[PathBuf]) -> u8 {
    let mut code = exit::OK;
    for file in files {
        match load_pipeline(file) {
            Ok(p) => {
                for t in p.unused_transforms() {
                    eprintln!(
                        "warning: {}: transform `{t}` feeds no sink; it is not computed",
                        file.display()
                    );
                }
                println!(
                    "{}: ok ({} source{}, {} transform{}, {} sink{})",
                    file.display(),
                    p.sources.len(),
                    plural(p.sources.len()),
                    p.transforms.len(),
                    plural(p.transforms.len()),
                    p.sinks.len(),
                    plural(p.sinks.len()),
                );
            }
            Err(d) => {
                eprintln!("{d}");
                code = exit::CONFIG;
            }
        }
    }
    code
}

fn run_file(file: &std::path::Path, args: &WindowArgs, progress: ProgressMode) -> u8 {
    let pipeline = match load_pipeline(file) {
        Ok(p) => p,
        Err(d) => {
            init_logging(None);
            eprintln!("{d}");
            return exit::CONFIG;
        }
    };
    let options = RunOptions {
        root: PathBuf::from(WORK_DIR),
        since: args.since.clone(),
        until: args.until.clone(),
        save_state: args.save_state,
        only: args.only.clone(),
    };
    let plan = match options.plan(&pipeline) {
        Ok(p) => p,
        Err(m) => {
            init_logging(None);
            eprintln!("error: {m}");
            return exit::CONFIG;
        }
    };
    let json_logs = LOGGING.get().is_some_and(|(f, _)| *f == LogFormat::Json);
    let display = Progress::wanted(progress, QUIET.load(Ordering::SeqCst), json_logs).then(|| {
        let sources: Vec<(String, Option<String>)> = pipeline
            .sources
            .iter()
            .zip(&plan.sources)
            .filter(|(_, runs)| **runs)
            .map(|(s, _)| {
                (
                    s.name.clone(),
                    s.for_each.as_ref().map(|f| f.source.clone()),
                )
            })
            .collect();
        Progress::new(&sources, progress)
    });
    init_logging(display.as_ref());
    let code = run_planned(file, args, &pipeline, &plan, display.as_ref());
    if let Some(display) = &display {
        display.finish();
    }
    code
}

/// `etl run` once the pipeline is loaded and the options checked.
fn run_planned(
    file: &Path,
    args: &WindowArgs,
    pipeline: &Pipeline,
    plan: &crate::run::Plan,
    display: Option<&Progress>,
) -> u8 {
    let runtime = match runtime(tokio::runtime::Builder::new_multi_thread()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let clock = RunClock::now();
    let started_at = chrono::Utc::now();
    let root = Path::new(WORK_DIR);
    let _lock = match lock(
        root,
        &pipeline.name,
        &clock.run_id,
        &started_at.to_rfc3339(),
    ) {
        Ok(lock) => lock,
        Err(code) => return code,
    };
    let cancel = Cancel::default();
    let signal = Arc::new(AtomicU8::new(0));
    {
        // Registered before the run starts, so that no signal finds the default handler.
        let mut signals = {
            let _entered = runtime.enter();
            Signals::register()
        };
        let (cancel, signal) = (cancel.clone(), Arc::clone(&signal));
        runtime.spawn(async move {
            let code = signals.next().await;
            signal.store(code, Ordering::SeqCst);
            tracing::warn!(signal = code, "Stopping: a signal asked the run to stop.");
            cancel.cancel();
            // A second signal does not wait for the clean-up.
            let code = signals.next().await;
            eprintln!("error: a second signal: stopping at once");
            std::process::exit(i32::from(code));
        });
    }
    let outcome = runtime.block_on(run(pipeline, &clock, &cancel, plan));
    if let Some(display) = display {
        display.finish();
    }
    // Blocking work still running (a DNS lookup) must not hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let mut stdout = std::io::stdout().lock();
    let interrupted = signal.load(Ordering::SeqCst) != 0;
    let mut manifest = manifest_of(pipeline, file, &clock, started_at, &outcome, interrupted);
    manifest.options = crate::manifest::RunOptionsEntry {
        since: args.since.clone(),
        until: args.until.clone(),
        save_state: args.save_state,
        only: args.only.clone(),
    };
    let manifest_path = match manifest.write(root) {
        Ok(path) => {
            match Manifest::prune(
                root,
                &pipeline.name,
                pipeline.keep_manifest_days,
                chrono::Utc::now(),
            ) {
                Ok(removed) if !removed.is_empty() => {
                    tracing::info!(
                        removed = removed.len(),
                        keep_days = pipeline.keep_manifest_days,
                        "Removed old run manifests."
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "Could not remove old run manifests."),
            }
            Some(path)
        }
        Err(e) => {
            eprintln!("warning: cannot write the run manifest under `{WORK_DIR}/runs`: {e}");
            None
        }
    };
    match outcome {
        Ok(report) => {
            if !QUIET.load(Ordering::SeqCst) {
                let _ = stdout.write_all(summary::render(&report).as_bytes());
                if let Some(path) = manifest_path {
                    let _ = writeln!(stdout, "\nmanifest: {}", path.display());
                }
            }
            exit::OK
        }
        Err(e) => {
            let _ = stdout.flush();
            let code = signal.load(Ordering::SeqCst);
            if code != 0 {
                let name = if code == exit::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                eprintln!(
                    "error: {}: run {} stopped by {name}; no output was written",
                    pipeline.name, clock.run_id
                );
                return code;
            }
            if !e.sources.is_empty() && !QUIET.load(Ordering::SeqCst) {
                let _ = stdout.write_all(summary::sources_table(&e.sources).as_bytes());
                let _ = stdout.flush();
            }
            eprintln!(
                "error: {}: run {} failed: {}",
                pipeline.name, clock.run_id, e.message
            );
            if e.placed.is_empty() {
                eprintln!("No output was written.");
            } else {
                for path in &e.placed {
                    eprintln!("Already in place before the failure: {}", path.display());
                }
            }
            exit::FAILED
        }
    }
}

/// The pipeline's lock, or the exit code after saying why not (75: held by a live run).
fn lock(root: &Path, pipeline: &str, run_id: &str, started_at: &str) -> Result<RunLock, u8> {
    RunLock::acquire(root, pipeline, run_id, started_at).map_err(|e| {
        eprintln!("error: {e}");
        if matches!(e, LockError::Held { .. }) {
            exit::LOCKED
        } else {
            exit::FAILED
        }
    })
}

/// A tokio runtime, or exit code 1 after saying why not.
pub(crate) fn runtime(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, u8> {
    builder.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        exit::FAILED
    })
}

/// Working data of pipelines (locks, run manifests), in the working directory.
const WORK_DIR: &str = ".etl";

fn manifest_of(
    pipeline: &Pipeline,
    file: &Path,
    clock: &RunClock,
    started_at: chrono::DateTime<chrono::Utc>,
    outcome: &Result<RunReport, RunError>,
    interrupted: bool,
) -> Manifest {
    let finished_at = chrono::Utc::now();
    let (status, error, sources, sinks) = match outcome {
        Ok(r) => (
            "succeeded",
            None,
            r.sources
                .iter()
                .map(|(n, s)| SourceEntry::new(n, s))
                .collect(),
            r.sinks.iter().map(|(n, w)| SinkEntry::new(n, w)).collect(),
        ),
        Err(e) => (
            if interrupted { "interrupted" } else { "failed" },
            Some(e.message.clone()),
            e.sources
                .iter()
                .map(|(n, s)| SourceEntry::new(n, s))
                .collect(),
            Vec::new(),
        ),
    };
    let (tables, state) = match outcome {
        Ok(r) => (
            r.tables
                .iter()
                .map(|(n, t)| crate::manifest::TableEntry {
                    source: n.clone(),
                    path: t.path.clone(),
                    rows: t.rows,
                    bytes: t.bytes,
                    sha256: t.sha256.clone(),
                })
                .collect(),
            r.state.as_ref().map(|p| p.display().to_string()),
        ),
        Err(_) => (Vec::new(), None),
    };
    Manifest {
        etl_version: env!("CARGO_PKG_VERSION").to_owned(),
        pipeline: pipeline.name.clone(),
        pipeline_file: file.display().to_string(),
        pipeline_sha256: std::fs::read(file).map(|b| sha256(&b)).unwrap_or_default(),
        run_id: clock.run_id.clone(),
        started_at: started_at.to_rfc3339(),
        finished_at: finished_at.to_rfc3339(),
        duration_s: (finished_at - started_at).as_seconds_f64(),
        status: status.to_owned(),
        error,
        sources,
        sinks,
        tables,
        state_saved: state,
        options: crate::manifest::RunOptionsEntry::default(),
    }
}

fn state_command(action: &StateAction) -> u8 {
    let root = Path::new(WORK_DIR);
    match action {
        StateAction::Show { file } => {
            let name = crate::load::name_of(file);
            match crate::state::State::load(root, &name) {
                Ok(Some(state)) => {
                    println!(
                        "{name}: state of run {} ({}), in `{}`",
                        state.run_id,
                        state.updated_at,
                        crate::state::path(root, &name).display()
                    );
                    for (source, s) in &state.sources {
                        let cursor = s.cursor.as_ref().map_or_else(
                            || "none".to_owned(),
                            |v| v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        );
                        println!("  {source}: {} = {cursor}", s.cursor_field);
                        if !s.parents.is_empty() {
                            println!("    {} parent cursors", s.parents.len());
                        }
                        if let Some(t) = &s.table {
                            println!(
                                "    merged table `{}`: {} rows, {} bytes",
                                t.path, t.rows, t.bytes
                            );
                        }
                    }
                    exit::OK
                }
                Ok(None) => {
                    println!(
                        "{name}: no state in `{}` (no incremental run has succeeded here)",
                        crate::state::path(root, &name).display()
                    );
                    exit::OK
                }
                Err(m) => {
                    eprintln!("error: {m}");
                    exit::FAILED
                }
            }
        }
        StateAction::Reset { file, source } => {
            let name = crate::load::name_of(file);
            if let Some(s) = source {
                // The source must exist in the pipeline, when the file can be read.
                if let Ok(p) = load_pipeline(file) {
                    if !p.sources.iter().any(|x| x.name == *s) {
                        let names: Vec<&str> = p.sources.iter().map(|x| x.name.as_str()).collect();
                        let hint = crate::diagnostic::did_you_mean(s, names.iter().copied())
                            .map_or_else(String::new, |d| format!("; did you mean `{d}`?"));
                        eprintln!("error: `{s}` is not a source of `{name}`{hint}");
                        return exit::CONFIG;
                    }
                }
            }
            let _lock = match lock(root, &name, "state-reset", &chrono::Utc::now().to_rfc3339()) {
                Ok(lock) => lock,
                Err(code) => return code,
            };
            match crate::state::reset(root, &name, source.as_deref()) {
                Ok(removed) if removed.is_empty() => {
                    println!("{name}: nothing to reset");
                    exit::OK
                }
                Ok(removed) => {
                    for r in removed {
                        println!("{name}: removed {r}");
                    }
                    exit::OK
                }
                Err(m) => {
                    eprintln!("error: {m}");
                    exit::FAILED
                }
            }
        }
    }
}

fn plan(file: &Path) -> u8 {
    use std::fmt::Write as _;
    let pipeline = match load_pipeline(file) {
        Ok(p) => p,
        Err(d) => {
            eprintln!("{d}");
            return exit::CONFIG;
        }
    };
    let root = Path::new(WORK_DIR);
    let state = crate::state::State::load(root, &pipeline.name)
        .ok()
        .flatten();
    let mut out = format!(
        "{}: {} source{}, {} transform{}, {} sink{} ({})\n",
        pipeline.name,
        pipeline.sources.len(),
        plural(pipeline.sources.len()),
        pipeline.transforms.len(),
        plural(pipeline.transforms.len()),
        pipeline.sinks.len(),
        plural(pipeline.sinks.len()),
        file.display()
    );
    let options = LOAD.get_or_init(LoadOptions::default);
    if let Some(f) = &options.env_file {
        let _ = writeln!(
            out,
            "--env-file {}: {} variable(s) (the environment wins)",
            f.display(),
            options.vars.len()
        );
    }
    for o in &options.set {
        let _ = writeln!(out, "--set {o}");
    }
    if let Some(s) = &pipeline.schedule {
        let _ = writeln!(out, "schedule: `{}` ({})", s.text, s.timezone);
    }
    out.push_str(
        "\nsources, fetched concurrently (a for_each child after its parent); first requests:\n",
    );
    for source in &pipeline.sources {
        let window = match (&source.incremental, &state) {
            (Some(_), Some(st)) => st.window(&source.name).unwrap_or_default(),
            _ => etl_source::Window::default(),
        };
        let _ = writeln!(
            out,
            "  {}: {}",
            source.name,
            source.first_request(&window).replace("\n    ", "\n      ")
        );
        if let Some(inc) = &source.incremental {
            let from = window.stored.map_or_else(
                || "`initial` (no state yet)".to_owned(),
                |c| format!("the stored cursor {c}"),
            );
            let _ = writeln!(
                out,
                "      incremental on `{}`, from {from}",
                inc.field_name()
            );
        }
    }
    if !pipeline.transforms.is_empty() {
        out.push_str("\ntransforms, in order:\n");
        for (name, spec) in &pipeline.transforms {
            let kind = if spec.sql.is_some() {
                "sql".to_owned()
            } else {
                format!("{} step{}", spec.steps.len(), plural(spec.steps.len()))
            };
            let reads = spec.inputs().unwrap_or_default().join(", ");
            let _ = writeln!(out, "  {name}: {kind}, reads {reads}");
        }
    }
    out.push_str("\nsinks:\n");
    for sink in &pipeline.sinks {
        let _ = writeln!(
            out,
            "  {}: {} from `{}` to {}",
            sink.name,
            sink.format.name(),
            sink.from,
            sink.path.as_str()
        );
    }
    let unused = pipeline.unused_transforms();
    if !unused.is_empty() {
        let _ = writeln!(
            out,
            "\nnot computed (no sink reads them): {}",
            unused.join(", ")
        );
    }
    out.push_str("\nNo request was made.\n");
    print!("{out}");
    exit::OK
}

/// The pipeline `etl init` writes.
const TEMPLATE: &str = include_str!("init.yaml");

fn init(name: &str) -> u8 {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        eprintln!("error: `{name}` is not a usable name; use letters, digits, `_` and `-`");
        return exit::CONFIG;
    }
    let path = PathBuf::from(format!("{name}.yaml"));
    let text = TEMPLATE.replace("NAME", name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path);
    match file.and_then(|mut f| f.write_all(text.as_bytes())) {
        Ok(()) => {
            println!(
                "wrote {}: a commented pipeline to start from.\nNext: edit it, then `etl validate {}` and `etl plan {}`.",
                path.display(),
                path.display(),
                path.display()
            );
            exit::OK
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!("error: {} exists; it was left as it is", path.display());
            exit::CONFIG
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            exit::FAILED
        }
    }
}

fn runs(file: &Path, limit: usize) -> u8 {
    let name = crate::load::name_of(file);
    let manifests = match Manifest::list(Path::new(WORK_DIR), &name) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: cannot read `{WORK_DIR}/runs/{name}`: {e}");
            return exit::FAILED;
        }
    };
    if manifests.is_empty() {
        println!(
            "{name}: no runs recorded in `{WORK_DIR}/runs/{name}` (runs are recorded in the working directory they ran in)"
        );
        return exit::OK;
    }
    println!(
        "{:<22}  {:<11}  {:<25}  {:>9}  {:>9}  error",
        "run", "status", "started", "time", "records"
    );
    for m in manifests.iter().take(limit) {
        let records: u64 = m.sources.iter().map(|s| s.records).sum();
        let error: String = m.error.as_deref().unwrap_or("").chars().take(80).collect();
        println!(
            "{:<22}  {:<11}  {:<25}  {:>8.2}s  {records:>9}  {error}",
            m.run_id, m.status, m.started_at, m.duration_s
        );
    }
    exit::OK
}

/// SIGINT and SIGTERM, as exit codes (130, 143).
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers now; needs a runtime context.
    pub(crate) fn register() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// The exit code of the next signal.
    pub(crate) async fn next(&mut self) -> u8 {
        #[cfg(unix)]
        {
            async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = recv(self.interrupt.as_mut()) => exit::SIGINT,
                () = recv(self.terminate.as_mut()) => exit::SIGTERM,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            exit::SIGINT
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
