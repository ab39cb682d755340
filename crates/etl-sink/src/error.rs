//! The crate's errors: [`Error`] when a sink runs, and [`Problems`], which collects the
//! [`ConfigError`]s of the config stage. Nearly a leaf: it uses [`Location`] only.

use std::path::PathBuf;

use etl_config::{ConfigError, KeyPath, quote_list};

use crate::location::Location;

/// Everything that can go wrong while a sink writes (its configuration was checked by
/// [`SinkSpec::build`](crate::SinkSpec::build), which reports [`ConfigError`]s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target exists and `if_exists` is `fail`.
    #[error(
        "sink `{sink}`: `{}` already exists; set `if_exists: overwrite` or put `{{timestamp}}` \
         in `path`",
        path.display()
    )]
    Exists { sink: String, path: PathBuf },

    /// The data cannot be written in this format.
    #[error("sink `{sink}`: {message}")]
    Data { sink: String, message: String },

    /// Creating, writing, syncing or renaming the file failed.
    #[error("sink `{sink}`: cannot {action} `{}`: {source}", path.display())]
    Io {
        sink: String,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is in place, but its `latest` copy could not replace the previous copy.
    #[error(
        "sink `{sink}`: wrote `{}`, but cannot replace `{}` with a copy of it: {source}",
        path.display(),
        latest.display()
    )]
    Latest {
        sink: String,
        path: PathBuf,
        latest: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A sink with `latest` given to [`prepare`](crate::prepare), which has no path for the
    /// copy: the caller must use [`prepare_with_latest`](crate::prepare_with_latest).
    #[error(
        "`sinks.{sink}.latest`: `{template}` needs the run's placeholders; this caller must \
         write the sink with `prepare_with_latest`"
    )]
    LatestNotRendered { sink: String, template: String },

    /// `latest` rendered to the path of the file itself.
    #[error(
        "`sinks.{sink}.latest`: renders to `{latest}`, the file `path` writes; name another \
         file"
    )]
    LatestIsPath { sink: String, latest: Location },

    /// The object exists and `if_exists` is `fail` (found before anything was uploaded).
    #[error(
        "sink `{sink}`: `{url}` already exists; set `if_exists: overwrite` or put \
         `{{timestamp}}` in `path`"
    )]
    ObjectExists { sink: String, url: String },

    /// Object storage cannot be reached, refused a request or failed it. The message names
    /// the server and never holds a credential; an upload that failed was aborted.
    #[error("sink `{sink}`: cannot {action} `{url}`: {message}")]
    ObjectStore {
        sink: String,
        action: &'static str,
        /// The object, or `s3://bucket/prefix/` for the bucket.
        url: String,
        message: String,
    },

    /// The file is in place, but its `latest` copy could not be put in place (one of them is
    /// an object; [`Error::Latest`] when both are local files).
    #[error(
        "sink `{sink}`: wrote `{written}`, but cannot replace `{latest}` with a copy of it: \
         {message}"
    )]
    LatestCopy {
        sink: String,
        written: String,
        latest: String,
        message: String,
    },

    /// A file was asked of a sink that writes a table.
    #[error("sink `{sink}` writes a `{format}` table, not a file")]
    NotAFile { sink: String, format: &'static str },

    /// The database cannot be reached, or refused the credentials (checked before any
    /// request to a source, and again when the run loads its rows).
    #[error("sink `{sink}`: cannot connect to {target}: {message}")]
    Connect {
        sink: String,
        /// The database, its password masked.
        target: String,
        message: String,
    },

    /// The table cannot take the rows: it cannot be created or altered, or the database
    /// refused the load. The table is as it was.
    #[error("sink `{sink}`: table `{table}`: {message}; the table was left as it was")]
    Load {
        sink: String,
        table: String,
        message: String,
    },

    /// A column of the table has a type this run's values no longer fit.
    #[error(
        "sink `{sink}`: column `{column}` of table `{table}` is `{existing}`, but this run's \
         values are `{incoming}`; change the column (or `mode: replace` into a new table), or \
         cast the values in a transform"
    )]
    ColumnType {
        sink: String,
        table: String,
        column: String,
        existing: String,
        incoming: String,
    },

    /// `preview.sort_by` names a column the output does not have.
    #[error(
        "`sinks.{sink}.preview.sort_by`: `{column}` is not a column of the output; it has {}",
        quote_list(columns)
    )]
    PreviewColumn {
        sink: String,
        column: String,
        /// The output's columns.
        columns: Vec<String>,
    },
}

impl Error {
    /// [`Error::Data`]: `message` is usually a polars error.
    pub(crate) fn data(sink: &str, message: impl std::fmt::Display) -> Self {
        Error::Data {
            sink: sink.to_owned(),
            message: message.to_string(),
        }
    }
}

/// A problem with one value, not yet placed: [`Problems::keep`] puts it under its key.
pub(crate) fn problem(message: impl Into<String>) -> ConfigError {
    ConfigError::new(KeyPath::root(), message)
}

/// The config problems found below one key (`sinks.report`), collected so that every one is
/// reported at once.
#[derive(Debug)]
pub(crate) struct Problems {
    at: KeyPath,
    found: Vec<ConfigError>,
}

impl Problems {
    pub(crate) fn new(at: KeyPath) -> Self {
        Self {
            at,
            found: Vec::new(),
        }
    }

    /// How many problems were found so far.
    pub(crate) fn count(&self) -> usize {
        self.found.len()
    }

    /// The key `key` (dotted, below this one).
    pub(crate) fn key(&self, key: &str) -> KeyPath {
        self.at.join(&KeyPath::parse(key))
    }

    /// The value of a check of `key`, or `None` with its problem kept, placed under `key`.
    pub(crate) fn keep<T>(&mut self, key: &str, checked: Result<T, ConfigError>) -> Option<T> {
        checked.map_err(|e| self.push(key, e)).ok()
    }

    /// A problem with `key` (dotted, below this one).
    pub(crate) fn push(&mut self, key: &str, problem: ConfigError) {
        let key = self.key(key);
        self.found.push(problem.under(&key));
    }

    /// The value of a part checked on its own (with its problems already placed), or `None`
    /// with its problems kept.
    pub(crate) fn keep_all<T>(&mut self, built: Result<T, Vec<ConfigError>>) -> Option<T> {
        built.map_err(|errors| self.found.extend(errors)).ok()
    }

    /// `value` if no problem was found, else every problem, in the order found. `value` is
    /// `None` only when a problem was found (a part that failed its check).
    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, Vec<ConfigError>> {
        match value {
            Some(value) if self.found.is_empty() => Ok(value),
            _ => Err(self.found),
        }
    }
}
