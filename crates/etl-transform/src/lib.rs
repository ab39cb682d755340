//! `etl-transform`: polars over staged tables.
//!
//! A [`Table`] describes a staged NDJSON file and every one of its columns ([`ColumnType`]),
//! known from staging, so nothing is inferred from a sample and no late field is dropped.
//! [`Transformer`] scans tables lazily (only the columns a query needs are materialised),
//! runs `sql:` transforms ([`TransformSpec`]) in order, each able to read the sources and the
//! transforms before it, and hands out the resulting `LazyFrame`s. Knows nothing about HTTP.

mod checks;
mod error;
pub mod expr;
mod hints;
mod merge;
mod scan;
mod spec;
mod sql;
mod steps;

pub use checks::{ChecksSpec, check};
pub use error::Error;
pub use hints::{ColumnHint, HINT_TYPES, apply_hints};
pub use merge::{Merge, merge, write_parquet};
pub use scan::{ColumnType, Table};
pub use spec::{
    AGG_NAMES, AggFunction, AggSpec, JoinHow, JoinSpec, OneOrMany, STEP_NAMES, SelectItem, SortKey,
    StepSpec, TransformSpec, sql_tables,
};
pub use sql::Transformer;
