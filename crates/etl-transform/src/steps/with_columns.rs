//! `with_columns: { margin: "price - cost", big: "margin > 100" }`: add or replace columns,
//! in order (each sees the ones before it).

use indexmap::IndexMap;
use polars::prelude::*;

use super::columns;

pub(super) fn apply(
    mut frame: LazyFrame,
    map: &IndexMap<String, String>,
) -> Result<LazyFrame, String> {
    for (name, text) in map {
        let schema = frame.collect_schema().map_err(|e| crate::sql::clean(&e))?;
        let expr = crate::expr::compile(text, &columns(&schema))
            .map_err(|e| format!("`{name}: {text}`: {e}"))?;
        frame = frame.with_column(expr.alias(name.as_str()));
    }
    Ok(frame)
}
