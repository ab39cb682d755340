//! `union: [orders_2025, orders_2026]`: the rows of other tables appended; columns matched by
//! name (a column missing from a table is null there) and types widened.

use etl_config::ConfigError;
use polars::prelude::*;
use serde_json::Value;

use super::ctx::Ctx;
use super::read::names;
use crate::error::polars_message;
use crate::widen::{aligned, widened_columns};

pub(super) fn parse(value: &Value) -> Result<Vec<String>, ConfigError> {
    names(value, "union")
}

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    tables: &[String],
    ctx: &Ctx<'_>,
) -> Result<LazyFrame, String> {
    let mut frames = vec![(frame, schema.clone())];
    for t in tables {
        let mut f = ctx.table(t)?;
        let s = f.collect_schema().map_err(|e| polars_message(&e))?;
        frames.push((f, (*s).clone()));
    }
    let columns = widened_columns(frames.iter().map(|(_, s)| s));
    let frames: Vec<LazyFrame> = frames
        .into_iter()
        .map(|(f, s)| f.select(aligned(&s, &columns)))
        .collect();
    concat(frames, UnionArgs::default()).map_err(|e| polars_message(&e))
}
