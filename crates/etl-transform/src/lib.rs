//! `etl-transform`: polars over staged tables.
//!
//! A [`Table`] describes a staged table (Parquet parts) and every one of its columns
//! ([`ColumnType`]), known from staging, so nothing is inferred from a sample and no late
//! field is dropped.
//!
//! A transform is written as a [`TransformSpec`] (the YAML as it is); [`build`] checks it
//! without reading any data and gives a [`Transform`]: SQL or a table and its [`Step`]s
//! ([`TransformKind`]), with the tables it reads and the key that names each, for the
//! runner's graph check. Every problem is an [`etl_config::ConfigError`] at its key.
//! [`Transform::named_columns`] says which columns a transform names ([`Named`]), so that
//! staging keeps only those.
//!
//! [`Transformer`] scans tables lazily (only the columns a query needs are materialised), runs
//! built transforms in order, each able to read the sources and the transforms before it, runs
//! data checks ([`ChecksSpec`]) and hands out the resulting `LazyFrame`s; [`apply_hints`]
//! applies a source's declared types ([`ColumnHint`]) and [`merge()`] keeps one row per key
//! across runs. A problem while running is an [`Error`]. Knows nothing about HTTP.
//!
//! Modules depend one way, never in a circle: `spec`, `error`, `names`, `widen`, `query` and
//! `expr` use no other module of the crate; `scan`, `merge`, `hints` and `checks` use those
//! (and `merge` uses `scan`); `steps` uses them; `transform` builds on `steps`;
//! `transformer` runs what `transform` built; `columns` reads what `transform` built.

mod checks;
mod columns;
mod error;
pub mod expr;
mod hints;
mod merge;
mod names;
mod query;
mod scan;
mod spec;
mod steps;
mod transform;
mod transformer;
mod widen;

pub use columns::{Named, is_reserved};
pub use error::Error;
pub use hints::{ColumnHint, HINT_TYPES, apply_hints};
pub use merge::{Merge, merge, write_parquet};
pub use scan::{ColumnType, Table};
pub use spec::{
    AGG_NAMES, ChecksSpec, JoinHow, JoinSpec, OneOrMany, STEP_NAMES, StepSpec, TransformSpec,
};
pub use steps::{AggFunction, Aggregate, Join, SelectItem, SortKey, Step};
pub use transform::{Transform, TransformKind, build};
pub use transformer::{Batches, Transformer};
