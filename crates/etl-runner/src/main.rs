//! `etl`: run declarative ETL pipelines. See `etl --help`.

fn main() -> std::process::ExitCode {
    etl_runner::cli::main()
}
