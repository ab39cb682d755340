//! `limit: 10`: the first rows.

use polars::prelude::*;

pub(super) fn apply(frame: LazyFrame, n: usize) -> LazyFrame {
    frame.limit(IdxSize::try_from(n).unwrap_or(IdxSize::MAX))
}
