//! `etl-source`: REST extraction.
//!
//! A pipeline's `http` and `sources` sections parse into [`HttpSpec`] and [`SourceSpec`]; [`build`]
//! checks them without the network and returns a [`SourceConfig`], or every problem as an
//! [`etl_config::ConfigError`]. An [`Extractor`] runs sources: for every page it takes a permit
//! from the host's rate limiter (shared by all sources of that host), sends the request with its
//! credentials ([`Secret`]s never shown), retries transient failures with backoff and jitter, finds
//! the records and hands them to the source's staging thread, which flattens them and writes them
//! as Parquet parts of a staged table, and moves to the next page (up to `concurrency` pages
//! ahead), refusing to go round in circles. It returns [`SourceStats`] and a [`StagedTable`]
//! describing every column, and reports its progress as [`ProgressEvent`]s to a [`ProgressSink`],
//! if given one. No polars here.

mod auth;
mod build;
mod client;
mod config;
mod duration;
mod error;
mod extract;
mod incremental;
mod pagination;
mod parents;
mod progress;
mod ratelimit;
mod records;
mod redact;
mod retry;
mod scalar;
mod secret;
mod size;
mod spec;
mod stage;
mod stager;

pub use build::build;
pub use client::RequestCounts;
pub use config::{Flatten, RetryPolicy, Shard, SourceConfig, TlsMaterial};
pub use duration::{DurationError, HumanDuration};
pub use error::Error;
pub use extract::{Bound, CURSOR_COLUMN, Extractor, SourceStats};
pub use incremental::{Cursor, CursorError, CursorReport, Incremental, Lookback, Window};
pub use parents::parent_keys;
pub use progress::{ProgressEvent, ProgressSink, WaitReason};
pub use secret::Secret;
pub use size::{ByteSize, SizeError};
pub use spec::{
    AuthSpec, CursorSpec, FlattenOptionsSpec, FlattenSpec, ForEachSpec, HttpSpec, IncrementalSpec,
    LinkHeaderSpec, Method, NextUrlSpec, OffsetSpec, PageSpec, PaginationSpec, PrimaryKeySpec,
    RateLimitSpec, RetrySpec, ScalarSpec, ShortPage, SourceSpec, TlsSpec,
};
pub use stage::{FieldType, StagedTable};
