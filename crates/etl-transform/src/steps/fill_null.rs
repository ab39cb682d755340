//! `fill_null: { total: 0, note: "" }`: a value for the nulls of a column.

use etl_config::ConfigError;
use indexmap::IndexMap;
use polars::prelude::*;
use serde_json::Value;

use super::read::problem;
use crate::names::column_type;

pub(super) fn parse(value: &Value) -> Result<IndexMap<String, Value>, ConfigError> {
    match value {
        Value::Object(m) => Ok(m.clone().into_iter().collect()),
        _ => Err(problem(
            "fill_null takes a map of columns and values, e.g. `fill_null: { total: 0 }`",
            "fill_null",
        )),
    }
}

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    map: &IndexMap<String, Value>,
) -> Result<LazyFrame, String> {
    let mut exprs = Vec::new();
    for (name, value) in map {
        let dtype = column_type(schema, name)?;
        if !fits(value, &dtype) {
            return Err(format!(
                "`{name}` is a {dtype} column; fill it with a value of that type, not `{value}`"
            ));
        }
        let value = match value {
            Value::Bool(b) => lit(*b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => lit(i),
                (None, Some(f)) => lit(f),
                _ => return Err(format!("`{name}`: `{n}` is not a usable number")),
            },
            Value::String(s) => lit(s.as_str()),
            other => {
                return Err(format!(
                    "`{name}`: fill with a number, text or true/false, not `{other}`"
                ));
            }
        };
        // The value takes the column's type (0 in a float column is 0.0); a value that
        // does not fit fails.
        let filled = if dtype == DataType::Null {
            col(name.as_str()).fill_null(value)
        } else {
            col(name.as_str()).fill_null(value.strict_cast(dtype))
        };
        exprs.push(filled.alias(name.as_str()));
    }
    Ok(frame.with_columns(exprs))
}

/// Whether `value` can stand in a column of `dtype`; a fraction does not fit an integer
/// column (it would be cut off).
fn fits(value: &Value, dtype: &DataType) -> bool {
    match value {
        Value::Bool(_) => matches!(dtype, DataType::Boolean | DataType::Null),
        Value::Number(n) => {
            (dtype.is_numeric() && (!dtype.is_integer() || n.is_i64() || n.is_u64()))
                || *dtype == DataType::Null
        }
        Value::String(_) => {
            !(dtype.is_numeric() || *dtype == DataType::Boolean || dtype.is_nested())
        }
        _ => true,
    }
}
