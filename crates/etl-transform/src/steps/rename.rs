//! `rename: { old: new }`.

use indexmap::IndexMap;
use polars::prelude::*;

use super::need;

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
