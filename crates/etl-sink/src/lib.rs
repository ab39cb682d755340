//! `etl-sink`: report files.
//!
//! A sink ([`SinkSpec`] as written, [`SinkConfig`] once checked) turns a `DataFrame` into a
//! csv, parquet or ndjson file (one module each) at a path rendered from a template
//! ([`PathTemplate`]: `{pipeline}`, `{sink}`, `{date}`, `{timestamp}`, `{run_id}`). Every file
//! is written to a temporary file in its target folder and synced ([`prepare`]), then renamed
//! into place ([`Prepared::commit`]; [`write()`] does both), so a reader never sees half a
//! report, and a run can prepare all its files before putting any in place.

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
    Compression, CsvSpec, Format, IfExists, ParquetSpec, PreviewSpec, SinkConfig, SinkSpec,
};
pub use write::{Prepared, Written, prepare, write};
