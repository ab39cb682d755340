//! `with_columns: { margin: "price - cost", big: "margin > 100" }`: add or replace columns,
//! in order (each sees the ones before it).

use etl_config::ConfigError;
use indexmap::IndexMap;
use polars::prelude::*;
use serde_json::Value;

use super::ctx::columns;
use super::read::string_map;
use crate::error::polars_message;

pub(super) fn parse(value: &Value) -> Result<IndexMap<String, String>, ConfigError> {
    string_map(value, "with_columns", "{ margin: \"price - cost\" }")
}

pub(super) fn apply(
    mut frame: LazyFrame,
    map: &IndexMap<String, String>,
) -> Result<LazyFrame, String> {
    for (name, text) in map {
        let schema = frame.collect_schema().map_err(|e| polars_message(&e))?;
        let expr = crate::expr::compile(text, &columns(&schema))
            .map_err(|e| format!("`{name}: {text}`: {e}"))?;
        frame = frame.with_column(expr.alias(name.as_str()));
    }
    Ok(frame)
}
