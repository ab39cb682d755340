//! The runner's errors, and the one place where they become exit codes.
//!
//! ```text
//! etl_source::Error ─┐
//! etl_transform::Error ─┼─ #[from] ─> RunError ─> RunFailure ─> CliError::Run ─┐
//! etl_sink::Error ───┤   (+ state, staging, interruption)    (+ counts so far)  │
//! StateError ────────┘                                                          ├─> exit code
//! ConfigError (every crate's build) ─> Collector ─> Diagnostics ─> CliError::Invalid ─┤
//! LockError, --only/--since/--env-file, files ─────────────────> CliError::{..} ─┘
//! ```

use std::fmt;

use etl_source::SourceStats;

use crate::lock::LockError;
use crate::pipeline::Diagnostics;
use crate::state::StateError;

/// Exit codes (docs/pipeline-format.md, General rules).
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

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] etl_source::Error),
    #[error(transparent)]
    Transform(#[from] etl_transform::Error),
    #[error(transparent)]
    Sink(#[from] etl_sink::Error),
    #[error(transparent)]
    State(#[from] StateError),
    /// The run's temporary folder cannot be made.
    #[error("cannot create a staging folder in the temp dir: {0}")]
    Staging(#[source] std::io::Error),
    /// A task of the run panicked or was cancelled from outside.
    #[error("{what} stopped unexpectedly: {message}")]
    Task { what: &'static str, message: String },
    /// A source ended without a result (a bug if it happens).
    #[error("source `{0}` did not finish")]
    Unfinished(String),
    /// Two sinks would write the same file or table.
    #[error(
        "sink `{sink}` would write `{target}`, which another sink of this run writes; give each \
         sink its own path or table"
    )]
    SameTarget { sink: String, target: String },
    /// SIGINT or SIGTERM stopped the run.
    #[error("interrupted before it finished")]
    Interrupted,
    /// The stage of a sharded run: a shard missing or failed, a part damaged, the stage
    /// unreachable (the message says which and what to do).
    #[error("{0}")]
    Shard(String),
}

/// A failed run: why, and what had been done by then.
#[derive(Debug)]
pub struct RunFailure {
    pub error: Box<RunError>,
    /// The sources that had finished.
    pub sources: Vec<(String, SourceStats)>,
    /// Outputs already in place when the run failed (files renamed, tables committed: only
    /// when putting a later one in place failed); empty otherwise: nothing was written.
    pub placed: Vec<String>,
}

impl RunFailure {
    pub fn new(error: impl Into<RunError>, sources: &[(String, SourceStats)]) -> Self {
        Self {
            error: Box::new(error.into()),
            sources: sources.to_vec(),
            placed: Vec::new(),
        }
    }
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for RunFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Why a command failed; [`CliError::exit_code`] is the one mapping to exit codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Pipeline files with errors, each with all of its diagnostics.
    #[error("{}", show_all(.0))]
    Invalid(Vec<Diagnostics>),
    /// Arguments that cannot work (`--only`, `--since`, `--env-file`, a name).
    #[error("{0}")]
    Usage(String),
    /// The pipeline's lock.
    #[error(transparent)]
    Lock(Box<LockError>),
    /// A run failed.
    #[error("{pipeline}: run {run_id} failed: {failure}{}", placed(&failure.placed))]
    Run {
        pipeline: String,
        run_id: String,
        failure: Box<RunFailure>,
    },
    /// A signal stopped a run; `code` is 130 or 143.
    #[error("{pipeline}: run {run_id} stopped by {}; no output was written", signal_name(*code))]
    Interrupted {
        pipeline: String,
        run_id: String,
        code: u8,
    },
    /// The incremental state cannot be read or changed.
    #[error(transparent)]
    State(Box<StateError>),
    /// Anything else that stops a command (a file that cannot be written, no runtime).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process's exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Invalid(_) | Self::Usage(_) => exit::CONFIG,
            Self::Lock(lock) if matches!(**lock, LockError::Held { .. }) => exit::LOCKED,
            Self::Interrupted { code, .. } => *code,
            Self::Lock(_) | Self::Run { .. } | Self::State(_) | Self::Failed(_) => exit::FAILED,
        }
    }

    /// Prints the error on stderr as users read it.
    pub fn report(&self) {
        match self {
            // Each diagnostic line carries its own `error:`.
            Self::Invalid(_) => eprintln!("{self}"),
            _ => eprintln!("error: {self}"),
        }
    }
}

impl From<LockError> for CliError {
    fn from(e: LockError) -> Self {
        Self::Lock(Box::new(e))
    }
}

impl From<StateError> for CliError {
    fn from(e: StateError) -> Self {
        Self::State(Box::new(e))
    }
}

impl From<Diagnostics> for CliError {
    fn from(d: Diagnostics) -> Self {
        Self::Invalid(vec![d])
    }
}

fn show_all(all: &[Diagnostics]) -> String {
    all.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn placed(paths: &[String]) -> String {
    if paths.is_empty() {
        return "\nNo output was written.".to_owned();
    }
    let mut text = String::new();
    for p in paths {
        text.push_str("\nAlready in place before the failure: ");
        text.push_str(p);
    }
    text
}

fn signal_name(code: u8) -> &'static str {
    if code == exit::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}
