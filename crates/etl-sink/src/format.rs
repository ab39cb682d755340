//! The output format: as written ([`FormatName`], the `format:` key) and checked ([`Format`],
//! which carries the options of its format only). Each format is one module: `csv`, `parquet`,
//! `ndjson`, `html`.

use std::io::Write;

use polars::prelude::DataFrame;
use serde::Deserialize;

use crate::csv::CsvOptions;
use crate::error::Error;
use crate::html::{HtmlOptions, RunInfo};
use crate::ndjson;
use crate::parquet::ParquetOptions;

/// Output format.
// `Format` in the JSON schema, as it always was; in Rust the name is the checked `Format`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Format")]
pub enum FormatName {
    Csv,
    Parquet,
    Ndjson,
    Html,
    Postgres,
    Sqlite,
}

impl FormatName {
    pub fn name(self) -> &'static str {
        match self {
            FormatName::Csv => "csv",
            FormatName::Parquet => "parquet",
            FormatName::Ndjson => "ndjson",
            FormatName::Html => "html",
            FormatName::Postgres => "postgres",
            FormatName::Sqlite => "sqlite",
        }
    }

    /// Whether the format writes a table of a database rather than a file.
    pub fn is_table(self) -> bool {
        matches!(self, FormatName::Postgres | FormatName::Sqlite)
    }
}

/// A sink's format with its options, checked: options of another format cannot be
/// represented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Csv(CsvOptions),
    Parquet(ParquetOptions),
    Ndjson,
    Html(Box<HtmlOptions>),
}

impl Format {
    /// The format as written in `format:`.
    pub fn kind(&self) -> FormatName {
        match self {
            Format::Csv(_) => FormatName::Csv,
            Format::Parquet(_) => FormatName::Parquet,
            Format::Ndjson => FormatName::Ndjson,
            Format::Html(_) => FormatName::Html,
        }
    }

    /// `csv`, `parquet`, `ndjson` or `html`.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The name, with the options that differ from the defaults in YAML's words:
    /// `csv (delimiter: `;`, null: `NA`)`, `parquet (compression: gzip, statistics: false)`,
    /// `ndjson`.
    pub fn describe(&self) -> String {
        let options = match self {
            Format::Csv(o) => o.describe(),
            Format::Parquet(o) => o.describe(),
            Format::Ndjson | Format::Html(_) => Vec::new(),
        };
        if options.is_empty() {
            return self.name().to_owned();
        }
        let options: Vec<String> = options
            .into_iter()
            .map(|(key, value)| format!("{key}: {value}"))
            .collect();
        format!("{} ({})", self.name(), options.join(", "))
    }

    /// Writes `df` for the sink named `sink` of the run `run` to `out`.
    pub(crate) fn write(
        &self,
        df: &mut DataFrame,
        sink: &str,
        run: &RunInfo,
        out: &mut impl Write,
    ) -> Result<(), Error> {
        match self {
            Format::Csv(o) => o.write(df, sink, out),
            Format::Parquet(o) => o.write(df, sink, out),
            Format::Ndjson => ndjson::write(df, sink, out),
            Format::Html(o) => o.write(df, sink, run, out),
        }
    }
}
