//! `etl-sink`: report files.
//!
//! A sink ([`SinkSpec`] as written, [`SinkConfig`] once checked) turns a `DataFrame` into a
//! csv, parquet or ndjson file (one module each) at a path rendered from a template
//! ([`PathTemplate`]: `{pipeline}`, `{sink}`, `{date}`, `{timestamp}`, `{run_id}`). Every file
//! is written to a temporary file in its target folder and synced ([`prepare`]), then renamed
//! into place ([`Prepared::commit`]; [`write()`] does both), so a reader never sees half a
//! report, and a run can prepare all its files before putting any in place.
//!
//! [`SinkSpec::build`] checks every option before anything runs and reports each problem
//! under its key path (`sinks.report.csv.quote_style`):
//!
//! - `csv:` `delimiter`, `header`, `quote_style` ([`QuoteStyle`]), `quote_char`, `null`,
//!   `float_precision`, `date_format`, `datetime_format` (strftime). List, array and struct
//!   columns are written as JSON text, the same JSON the ndjson sink writes for them.
//! - `parquet:` `compression` ([`Compression`]), `compression_level` (zstd 1-22, gzip 0-9),
//!   `row_group_size`, `statistics`.
//! - `latest:` a second path, rendered like `path`, that receives a copy of each file:
//!   [`prepare_with_latest`] writes the copy to a synced temporary file beside it, and
//!   [`Prepared::commit`] renames the file into place first, then the copy over the previous
//!   one, so a reader of `latest` always finds a whole report ([`Written::latest`]).
//!
//! [`PathTemplate::prune`] (`keep_last`) removes only files whose varying placeholders have
//! the shape of this run's values, so a `latest` copy beside the dated files is kept.

mod csv;
mod error;
mod ndjson;
mod parquet;
mod path;
mod preview;
mod spec;
mod write;

pub use error::Error;
pub use path::{PathTemplate, RenderVars};
pub use preview::preview;
pub use spec::{
    Compression, CsvSpec, Format, IfExists, ParquetSpec, PreviewSpec, QuoteStyle, SinkConfig,
    SinkSpec,
};
pub use write::{Prepared, Written, prepare, prepare_with_latest, write};
