//! `etl-source`: REST extraction.
//!
//! A pipeline's `http` and `sources` sections parse into [`HttpSpec`] and [`SourceSpec`];
//! [`build`] checks them without the network and returns a [`SourceConfig`]. An
//! [`Extractor`] runs sources: for every page it takes a permit from the host's rate limiter
//! (shared by all sources of that host), sends the request with its credentials ([`Secret`]s
//! never shown), retries transient failures with backoff and jitter, finds the records,
//! flattens them and appends them to a staged NDJSON file ([`StageWriter`]), and moves to the
//! next page, refusing to go round in circles. It returns [`SourceStats`] and a
//! [`StagedTable`] describing every column. No polars here.

mod auth;
mod client;
mod config;
mod duration;
mod error;
mod extract;
mod incremental;
mod pagination;
mod parents;
pub mod progress;
mod ratelimit;
mod records;
mod retry;
mod secret;
mod size;
mod spec;
mod stage;

pub use client::RequestCounts;
pub use config::{
    DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_MAX_WAIT, DEFAULT_TIMEOUT, Flatten, RetryPolicy,
    SourceConfig, TlsMaterial, build,
};
pub use duration::HumanDuration;
pub use error::Error;
pub use extract::{Bound, CURSOR_COLUMN, Extractor, SourceStats};
pub use incremental::{Cursor, CursorReport, Incremental, Lookback, Window};
pub use secret::{Secret, redact};
pub use size::ByteSize;
pub use spec::{
    AuthSpec, CursorSpec, FlattenOptionsSpec, FlattenSpec, ForEachSpec, HttpSpec, IncrementalSpec,
    LinkHeaderSpec, Method, NextUrlSpec, OffsetSpec, PageSpec, PaginationSpec, PrimaryKeySpec,
    RateLimitSpec, RetrySpec, ScalarSpec, ShortPage, SourceSpec, TlsSpec,
};
pub use stage::{FieldType, StageWriter, StagedTable};
