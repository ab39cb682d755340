//! `etl-sink`: report files.
//!
//! A sink ([`SinkSpec`] as written, [`SinkConfig`] once checked) turns a `DataFrame` into a
//! file at a path rendered from a template ([`PathTemplate`]: `{pipeline}`, `{sink}`,
//! `{date}`, `{timestamp}`, `{run_id}`). Every file is written to a temporary file in its
//! target folder and synced ([`prepare`]), then renamed into place ([`Prepared::commit`];
//! [`write()`] does both), so a reader never sees half a report, and a run can prepare all its
//! files before putting any in place.
//!
//! [`SinkSpec::build`] checks every option before anything runs and reports each problem as
//! an [`etl_config::ConfigError`] under its key path (`sinks.report.csv.quote_style`). The
//! checked [`Format`] holds the options of its own format only, one module each:
//!
//! - [`Format::Csv`] ([`CsvSpec`] as written, [`CsvOptions`] checked): `delimiter`, `header`,
//!   `quote_style` ([`QuoteStyle`]), `quote_char`, `null`, `float_precision`, `date_format`,
//!   `datetime_format` (strftime). List, array and struct columns are written as JSON text,
//!   the same JSON the ndjson sink writes for them.
//! - [`Format::Parquet`] ([`ParquetSpec`], [`ParquetOptions`]): `compression`
//!   ([`Compression`]), `compression_level` (zstd 1-22, gzip 0-9), `row_group_size`,
//!   `statistics`.
//! - [`Format::Ndjson`]: no options.
//! - [`Format::Html`] ([`HtmlSpec`], [`HtmlOptions`]): one self-contained page with a header
//!   from the run ([`RunInfo`]), charts as inline SVG ([`Chart`]) and the rows as a table cut
//!   at `max_rows`; [`prepare_report`] writes it with the run's facts.
//!
//! `latest:` is a second path, rendered like `path`, that receives a copy of each file:
//! [`prepare_with_latest`] writes the copy to a synced temporary file beside it, and
//! [`Prepared::commit`] renames the file into place first, then the copy over the previous
//! one, so a reader of `latest` always finds a whole report ([`Written::latest`]).
//!
//! [`PathTemplate::prune`] (`keep_last`) removes only files whose varying placeholders have
//! the shape of this run's values, so a `latest` copy beside the dated files is kept.
//! Writing fails with an [`Error`].
//!
//! A file sink's `path` (and `latest`) may be an object of S3 or S3-compatible storage
//! instead: a [`LocationTemplate`] is a local [`PathTemplate`] or an [`ObjectTemplate`]
//! (`s3://bucket/prefix/{pipeline}_{timestamp}.parquet`, reached with [`S3Options`]: the
//! sink's `s3` keys, else the `AWS_*` variables), and renders to a [`Location`]. For an
//! object, [`prepare_at`] writes the file to a local temporary file and uploads it as the
//! parts of a multipart upload that only [`Prepared::commit`] completes, so the object
//! appears whole or not at all; `keep_last` lists the key's prefix.
//! [`check_object_store`] checks a sink's bucket before a run fetches anything.

mod config;
mod csv;
mod error;
mod format;
mod html;
mod location;
mod ndjson;
mod object;
mod parquet;
mod path;
mod postgres;
mod preview;
mod spec;
mod sqlite;
mod table;
mod write;

pub use config::{FileOutput, Output, SinkConfig};
pub use csv::{CsvOptions, CsvSpec, QuoteStyle};
pub use error::Error;
pub use format::{Format, FormatName};
pub use html::{
    Chart, ChartKind, ChartSpec, ColumnFormat, HtmlColumnSpec, HtmlOptions, HtmlSpec,
    HtmlTableSpec, NumberFormat, RunInfo,
};
pub use location::{Location, LocationTemplate};
pub use object::{ObjectTemplate, ObjectUrl, S3Options, check_object_store};
pub use parquet::{Compression, ParquetOptions, ParquetSpec};
pub use path::{PathTemplate, RenderVars};
pub use preview::{PreviewRows, preview};
pub use spec::{DatabaseTlsSpec, IfExists, KeyColumns, LoadMode, PreviewSpec, S3Spec, SinkSpec};
pub use table::{
    Database, DatabaseUrl, LoadError, Loaded, Mode, PostgresTarget, SqliteTarget, TableLoad,
    TableName, TableOutput, check, load,
};
pub use write::{
    Prepared, Written, prepare, prepare_at, prepare_report, prepare_with_latest, write,
};
