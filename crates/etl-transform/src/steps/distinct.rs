//! `distinct: true` (whole rows) or `distinct: [customer_id]`: the first row of each, in
//! order.

use etl_config::ConfigError;
use polars::prelude::*;
use serde_json::Value;

use super::read::{names, problem};
use crate::names::need;

/// `None` for whole rows, else the columns that identify a row.
pub(super) fn parse(value: &Value) -> Result<Option<Vec<String>>, ConfigError> {
    match value {
        Value::Bool(true) | Value::Null => Ok(None),
        other => {
            let cols = names(other, "distinct")?;
            if cols.is_empty() {
                return Err(problem(
                    "distinct: name at least one column, or write `distinct: true` for whole rows",
                    "distinct",
                ));
            }
            Ok(Some(cols))
        }
    }
}

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    columns: Option<&[String]>,
) -> Result<LazyFrame, String> {
    let subset = match columns {
        Some(cols) => {
            for c in cols {
                need(schema, c)?;
            }
            Some(cols.iter().map(|c| col(c.as_str())).collect())
        }
        None => None,
    };
    Ok(frame.unique_stable_generic(subset, UniqueKeepStrategy::First))
}
