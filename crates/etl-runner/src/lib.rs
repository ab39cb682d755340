//! `etl-runner`: the `etl` command.
//!
//! `main.rs` parses the arguments ([`cli`]) and calls [`commands::execute`], which builds a
//! [`Context`] from the global options and runs one command (`commands/`, one file each);
//! an error is a [`CliError`], whose [`CliError::exit_code`] is the one mapping to exit codes.
//!
//! A pipeline file becomes a checked [`Pipeline`] in `pipeline/`: read (the one
//! `serde_yaml` call), `${VAR}`-resolved, deserialised section by section into the spec
//! types, built by the leaf crates, every problem reported at once as [`Diagnostics`] with
//! key paths and positions. [`run()`] fetches all sources concurrently (`etl-source`), runs the
//! transforms (`etl-transform`) and writes the sinks (`etl-sink`) only when everything before
//! succeeded; [`summary`] renders what it did; [`manifest`], [`state`] and [`lock`] keep the
//! working data under `.etl/`.

pub mod cli;
pub mod commands;
mod context;
mod digest;
mod error;
pub mod lock;
mod logging;
pub mod manifest;
mod pipeline;
pub mod progress;
pub mod run;
pub mod schedule;
pub mod shard;
mod signals;
pub mod state;
pub mod summary;

pub use context::Context;
pub use error::{CliError, RunError, RunFailure, exit};
pub use pipeline::{Diagnostic, Diagnostics, Pipeline, PipelineSpec, SourceExtras};
pub use run::{Cancel, Plan, RunClock, RunOptions, RunReport, run};
