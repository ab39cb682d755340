//! The run-time error of the crate (config-time problems are `etl_config::ConfigError`s), and
//! polars' messages made readable.

use polars::prelude::PolarsError;

/// Everything that can go wrong in a transform.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A staged table cannot be read.
    #[error("cannot read the staged records of `{table}`: {message}")]
    Scan { table: String, message: String },

    /// A transform's SQL does not run.
    #[error("transform `{transform}`: {message}")]
    Sql { transform: String, message: String },

    /// Merging a run's records into the table kept by earlier runs failed.
    #[error("cannot merge the records of `{table}`: {message}")]
    Merge { table: String, message: String },

    /// A declarative step does not apply (a missing column, a wrong type).
    #[error("transform `{transform}`, step {position} (`{step}`): {message}")]
    Step {
        transform: String,
        /// 1-based position in `steps` (0: the `from` table).
        position: usize,
        step: &'static str,
        message: String,
    },

    /// A source's declared types (`schema:`) do not apply: a column no record has, a value
    /// that does not convert.
    #[error("source `{table}`: {message}")]
    Schema { table: String, message: String },

    /// A data check failed (or names a column that does not exist).
    #[error("{0}")]
    Check(String),

    /// A name is used twice.
    #[error("`{name}` is both a source and a transform, or two transforms; rename one")]
    DuplicateName { name: String },
}

/// polars' message without its trailing backtrace hints.
pub(crate) fn polars_message(e: &PolarsError) -> String {
    let text = e.to_string();
    let mut lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    lines.retain(|l| {
        !l.starts_with("Resolved plan until failure") && !l.starts_with("This error occurred")
    });
    let text = lines.join(" ");
    // The query plan polars appends after its message means nothing to a pipeline's author.
    match text.find("---> FAILED HERE") {
        Some(at) => text[..at].trim_end().to_owned(),
        None => text,
    }
}
