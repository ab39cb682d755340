//! `etl-runner`: the `etl` command.
//!
//! A pipeline file is read by [`Pipeline::load`]: parsed (the one `serde_yaml` call),
//! `${VAR}`-resolved in string values, deserialised section by section into the `*Spec`
//! types, then built into runtime objects by the leaf crates, every problem reported at once
//! as [`Diagnostics`] with key paths and positions. [`run`] fetches all sources concurrently
//! (`etl-source`), runs the transforms (`etl-transform`) and writes the sinks (`etl-sink`)
//! only when everything before succeeded; [`summary`] renders what it did. [`cli`] maps it
//! all to the command line and exit codes.

pub mod cli;
mod diagnostic;
mod env;
mod load;
pub mod lock;
pub mod manifest;
mod pipeline;
pub mod progress;
mod run;
pub mod schedule;
mod scheduler;
pub mod state;
pub mod summary;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use pipeline::{Pipeline, PipelineSpec};
pub use run::{Cancel, Plan, RunClock, RunError, RunOptions, RunReport, run};
