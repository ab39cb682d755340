//! `explode: tags`: one row per element of a list column (an empty or null list gives one
//! row with a null).

use etl_config::ConfigError;
use polars::prelude::*;
use serde_json::Value;

use super::read::names;
use crate::names::need;

pub(super) fn parse(value: &Value) -> Result<Vec<String>, ConfigError> {
    names(value, "explode")
}

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    columns: &[String],
) -> Result<LazyFrame, String> {
    for c in columns {
        need(schema, c)?;
        if !matches!(schema.get(c), Some(DataType::List(_))) {
            return Err(format!(
                "`{c}` is not a list column ({}); only lists explode",
                schema.get(c).map_or_else(String::new, ToString::to_string)
            ));
        }
    }
    let names: Vec<PlSmallStr> = columns.iter().map(|c| c.as_str().into()).collect();
    Ok(frame.explode(
        Selector::ByName {
            names: names.into(),
            strict: true,
        },
        ExplodeOptions {
            empty_as_null: true,
            keep_nulls: true,
        },
    ))
}
