//! `limit: 10`: the first rows.

use etl_config::ConfigError;
use polars::prelude::*;
use serde_json::Value;

use super::read::problem;

pub(super) fn parse(value: &Value) -> Result<usize, ConfigError> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| problem("limit takes a whole number of rows", "limit"))
}

pub(super) fn apply(frame: LazyFrame, n: usize) -> LazyFrame {
    frame.limit(IdxSize::try_from(n).unwrap_or(IdxSize::MAX))
}
