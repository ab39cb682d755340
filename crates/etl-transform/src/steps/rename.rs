//! `rename: { old: new }`.

use etl_config::ConfigError;
use indexmap::IndexMap;
use polars::prelude::*;
use serde_json::Value;

use super::read::string_map;
use crate::names::need;

pub(super) fn parse(value: &Value) -> Result<IndexMap<String, String>, ConfigError> {
    string_map(value, "rename", "{ old: new }")
}

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    map: &IndexMap<String, String>,
) -> Result<LazyFrame, String> {
    for (old, new) in map {
        need(schema, old)?;
        if schema.contains(new) && !map.contains_key(new) {
            return Err(format!(
                "renaming `{old}` to `{new}` clashes with the existing column `{new}`; drop or rename that one first"
            ));
        }
    }
    Ok(frame.rename(map.keys(), map.values(), true))
}
