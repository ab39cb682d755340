//! `cast: { id: int64, created_at: datetime }`: change column types. A value that does not
//! convert fails the run (never silently null).

use etl_config::ConfigError;
use indexmap::IndexMap;
use polars::prelude::*;
use serde_json::Value;

use super::read::string_map;
use crate::hints::{ColumnHint, verify};
use crate::names::{column_type, suggestion_or_list};

/// The type names `cast:` accepts.
const TYPES: [&str; 6] = ["int64", "float64", "string", "bool", "date", "datetime"];

pub(super) fn parse(value: &Value) -> Result<IndexMap<String, String>, ConfigError> {
    string_map(value, "cast", "{ id: int64 }")
}

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    map: &IndexMap<String, String>,
) -> Result<LazyFrame, String> {
    let mut exprs = Vec::new();
    for (name, to) in map {
        let from = column_type(schema, name)?;
        let hint = match to.as_str() {
            "int64" => ColumnHint::Int64,
            "float64" => ColumnHint::Float64,
            "string" => ColumnHint::String,
            "bool" => ColumnHint::Bool,
            "date" => ColumnHint::Date { format: None },
            "datetime" => ColumnHint::Datetime {
                format: None,
                time_zone: None,
            },
            other => {
                return Err(format!(
                    "`{name}`: `{other}` is not a type{}",
                    suggestion_or_list(other, TYPES.iter().copied(), "types")
                ));
            }
        };
        let expr = hint.expr(name, &from)?;
        // Every value is checked now (the input is read once more): a value that would become
        // null or lose a fraction fails here, named, rather than silently.
        if hint != ColumnHint::String {
            verify(&frame, name, &from, &hint, &expr)
                .map_err(|m| format!("`{name}` does not convert to {to}: {m}"))?;
        }
        exprs.push(expr.alias(name.as_str()));
    }
    Ok(frame.with_columns(exprs))
}
