//! `etl`: run declarative ETL pipelines. See `etl --help`.

/// mimalloc instead of the system allocator: parsing and staging make millions of small,
/// short-lived allocations (docs/performance.md has the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    etl_runner::cli::main()
}
