//! `etl`: run declarative ETL pipelines. See `etl --help`.

use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc instead of the system allocator: parsing and staging make millions of small,
/// short-lived allocations (docs/performance.md has the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = etl_runner::cli::Cli::parse();
    etl_runner::commands::execute(&cli).unwrap_or_else(|e| {
        e.report();
        ExitCode::from(e.exit_code())
    })
}
