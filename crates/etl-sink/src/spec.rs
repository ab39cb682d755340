use serde::Deserialize;

use crate::Error;
use crate::path::PathTemplate;

/// One entry of `sinks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SinkSpec {
    /// The transform or source to write.
    pub from: String,
    /// `csv`, `parquet` or `ndjson`.
    pub format: Format,
    /// Where to write, relative to the working directory; may use `{pipeline}`, `{sink}`,
    /// `{date}`, `{timestamp}` and `{run_id}`.
    pub path: String,
    /// What to do when the file exists: `fail` (default) or `overwrite`.
    #[serde(default)]
    pub if_exists: IfExists,
    /// Allow a path outside the working directory. Default `false`.
    #[serde(default)]
    pub allow_outside: bool,
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

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Parquet,
    Ndjson,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Ndjson => "ndjson",
        }
    }
}

/// `if_exists`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfExists {
    /// Fail the run (default): a report is never replaced by accident.
    #[default]
    Fail,
    /// Replace the file atomically.
    Overwrite,
}

/// `csv: { delimiter, header }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct CsvSpec {
    /// One ASCII character (default `,`).
    pub delimiter: Option<String>,
    /// Write a header line (default `true`).
    pub header: Option<bool>,
}

/// `parquet: { compression }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ParquetSpec {
    /// `zstd` (default), `snappy`, `gzip`, `lz4` or `uncompressed`.
    pub compression: Option<Compression>,
}

/// Parquet compression codec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Zstd,
    Snappy,
    Gzip,
    Lz4,
    Uncompressed,
}

/// `preview: { sort_by, descending, rows }`: rows printed after the run.
#[derive(Debug, Clone, Deserialize)]
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

/// A sink, checked.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub name: String,
    pub from: String,
    pub format: Format,
    pub path: PathTemplate,
    pub if_exists: IfExists,
    pub delimiter: u8,
    pub header: bool,
    pub compression: Compression,
    pub preview: Option<PreviewSpec>,
    pub keep_last: Option<usize>,
}

impl SinkSpec {
    /// Checks the sink without touching the disk; every problem is reported.
    pub fn build(&self, name: &str) -> Result<SinkConfig, Vec<Error>> {
        let at = format!("sinks.{name}");
        let mut errors = Vec::new();
        let path = PathTemplate::parse(&self.path, self.allow_outside)
            .map_err(|message| {
                errors.push(Error::Config {
                    key: format!("{at}.path"),
                    message,
                });
            })
            .ok();
        let mut delimiter = b',';
        if let Some(d) = self.csv.as_ref().and_then(|c| c.delimiter.as_deref()) {
            let d = if d == "\\t" { "\t" } else { d };
            match d.as_bytes() {
                [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => delimiter = *b,
                _ => errors.push(Error::Config {
                    key: format!("{at}.csv.delimiter"),
                    message: format!("`{d}` must be one ASCII character other than `\"` or a newline, e.g. `;` or `\\t`"),
                }),
            }
        }
        if self.csv.is_some() && self.format != Format::Csv {
            errors.push(Error::Config {
                key: format!("{at}.csv"),
                message: format!(
                    "applies to `format: csv`, but this sink writes {}",
                    self.format.name()
                ),
            });
        }
        if self.parquet.is_some() && self.format != Format::Parquet {
            errors.push(Error::Config {
                key: format!("{at}.parquet"),
                message: format!(
                    "applies to `format: parquet`, but this sink writes {}",
                    self.format.name()
                ),
            });
        }
        if let (Some(n), Some(p)) = (self.keep_last, &path) {
            if n == 0 {
                errors.push(Error::Config {
                    key: format!("{at}.keep_last"),
                    message: "must be at least 1 (the file just written)".into(),
                });
            } else if !p.varies_in_file_name_only() {
                errors.push(Error::Config {
                    key: format!("{at}.keep_last"),
                    message: "needs `path` to vary in its file name only (`reports/{pipeline}_{timestamp}.csv`), so that the files of this sink can be found".into(),
                });
            }
        }
        if self.preview.as_ref().is_some_and(|p| p.rows == 0) {
            errors.push(Error::Config {
                key: format!("{at}.preview.rows"),
                message: "must be at least 1".into(),
            });
        }
        match path {
            Some(path) if errors.is_empty() => Ok(SinkConfig {
                name: name.to_owned(),
                from: self.from.clone(),
                format: self.format,
                path,
                if_exists: self.if_exists,
                delimiter,
                header: self.csv.as_ref().and_then(|c| c.header).unwrap_or(true),
                compression: self
                    .parquet
                    .as_ref()
                    .and_then(|p| p.compression)
                    .unwrap_or_default(),
                preview: self.preview.clone(),
                keep_last: self.keep_last,
            }),
            _ => Err(errors),
        }
    }
}
