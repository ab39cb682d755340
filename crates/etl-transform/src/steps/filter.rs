//! `filter: "status = 'paid' and total > 0"`: keep the rows where the expression is true.

use etl_config::ConfigError;
use polars::prelude::*;
use serde_json::Value;

use super::ctx::columns;
use super::read::{problem, text};
use crate::error::polars_message;

pub(super) fn parse(value: &Value) -> Result<String, ConfigError> {
    text(value).ok_or_else(|| {
        problem(
            "filter takes an expression, e.g. `filter: \"total > 0\"`",
            "filter",
        )
    })
}

pub(super) fn apply(frame: LazyFrame, schema: &Schema, text: &str) -> Result<LazyFrame, String> {
    let expr =
        crate::expr::compile(text, &columns(schema)).map_err(|e| format!("`{text}`: {e}"))?;
    let kept = frame
        .clone()
        .select([expr.clone().alias("__etl_filter")])
        .collect_schema()
        .map_err(|e| format!("`{text}`: {}", polars_message(&e)))?;
    match kept.get("__etl_filter") {
        Some(DataType::Boolean | DataType::Null) | None => Ok(frame.filter(expr)),
        Some(other) => Err(format!(
            "`{text}` gives {other} values, not true/false; write a comparison such as `{text} > 0`"
        )),
    }
}
