//! A sink as written in the pipeline file: the serde mirror of `sinks.<name>`, with no
//! behaviour. [`SinkSpec::build`](crate::SinkSpec::build) checks it.

use serde::Deserialize;

use crate::csv::CsvSpec;
use crate::format::FormatName;
use crate::parquet::ParquetSpec;

/// One entry of `sinks`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SinkSpec {
    /// The transform or source to write.
    pub from: String,
    /// `csv`, `parquet` or `ndjson`.
    pub format: FormatName,
    /// Where to write, relative to the working directory; may use `{pipeline}`, `{sink}`,
    /// `{date}`, `{timestamp}` and `{run_id}`.
    pub path: String,
    /// What to do when the file exists: `fail` (default) or `overwrite`.
    #[serde(default)]
    pub if_exists: IfExists,
    /// Allow a path outside the working directory. Default `false`.
    #[serde(default)]
    pub allow_outside: bool,
    /// A copy of each file written, replaced atomically on every run: a stable path such as
    /// `reports/{pipeline}_latest.csv` for readers that want the newest report. Same
    /// placeholders and `allow_outside` rule as `path`, and it must differ from `path`.
    /// `if_exists` does not apply: the copy is always replaced. Default: none.
    pub latest: Option<String>,
    /// CSV options.
    pub csv: Option<CsvSpec>,
    /// Parquet options.
    pub parquet: Option<ParquetSpec>,
    /// Rows printed after the run.
    pub preview: Option<PreviewSpec>,
    /// After a successful run, keep only this many files of this sink (the newest), removing
    /// older ones. Needs the placeholders in the file name, not in folders.
    pub keep_last: Option<usize>,
}

/// `if_exists`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IfExists {
    /// Fail the run (default): a report is never replaced by accident.
    #[default]
    Fail,
    /// Replace the file atomically.
    Overwrite,
}

/// `preview: { sort_by, descending, rows }`: rows printed after the run.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PreviewSpec {
    /// Column to sort by (default: the file's order).
    pub sort_by: Option<String>,
    /// Sort largest first (default `false`).
    #[serde(default)]
    pub descending: bool,
    /// Rows shown (default 5).
    #[serde(default = "five")]
    pub rows: usize,
}

fn five() -> usize {
    5
}
