//! One file per command, each a function of the [`Context`] and its arguments returning
//! `Result<ExitCode, CliError>`; `main.rs` maps the error to an exit code
//! ([`CliError::exit_code`]).

mod completions;
mod init;
mod plan;
mod run;
mod runs;
mod schedule;
mod schema;
mod state;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::error::CliError;
use crate::logging;

/// Runs the command `cli` names.
pub fn execute(cli: &Cli) -> Result<ExitCode, CliError> {
    let ctx = Context::new(cli);
    // `etl run` starts logging once it knows whether a progress display goes with it.
    if !matches!(cli.command, Command::Run { .. }) {
        if let Ok(ctx) = &ctx {
            logging::init(ctx, None);
        }
    }
    let ctx = ctx?;
    match &cli.command {
        Command::Validate { files } => validate::validate(&ctx, files),
        Command::Run {
            file,
            window,
            shard,
            progress,
        } => run::run(&ctx, file, window, shard, *progress),
        Command::State { action } => state::state(&ctx, action),
        Command::Plan { file } => plan::plan(&ctx, file),
        Command::Init { name } => init::init(name),
        Command::Completions { shell } => completions::completions(*shell),
        Command::Schema { output } => schema::schema(&ctx, output.as_deref()),
        Command::Schedule { files } => schedule::schedule(&ctx, files),
        Command::Runs { file, limit } => runs::runs(&ctx, file, *limit),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// "2 sources, 1 transform, 3 sinks".
fn shape(p: &crate::pipeline::Pipeline) -> String {
    let (sources, transforms, sinks) = (p.sources.len(), p.transforms.len(), p.sinks.len());
    format!(
        "{sources} source{}, {transforms} transform{}, {sinks} sink{}",
        plural(sources),
        plural(transforms),
        plural(sinks)
    )
}
