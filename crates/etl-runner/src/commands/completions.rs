//! `etl completions SHELL`: a shell completion script on stdout.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::error::CliError;

#[allow(clippy::unnecessary_wraps)] // every command has the same signature
pub(super) fn completions(shell: clap_complete::Shell) -> Result<ExitCode, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "etl", &mut script);
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(&script);
    Ok(ExitCode::SUCCESS)
}
