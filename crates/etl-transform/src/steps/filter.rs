//! `filter: "status = 'paid' and total > 0"`: keep the rows where the expression is true.

use polars::prelude::*;

use super::columns;

pub(super) fn apply(frame: LazyFrame, schema: &Schema, text: &str) -> Result<LazyFrame, String> {
    let expr =
        crate::expr::compile(text, &columns(schema)).map_err(|e| format!("`{text}`: {e}"))?;
    let kept = frame
        .clone()
        .select([expr.clone().alias("__etl_filter")])
        .collect_schema()
        .map_err(|e| format!("`{text}`: {}", crate::sql::clean(&e)))?;
    match kept.get("__etl_filter") {
        Some(DataType::Boolean | DataType::Null) | None => Ok(frame.filter(expr)),
        Some(other) => Err(format!(
            "`{text}` gives {other} values, not true/false; write a comparison such as `{text} > 0`"
        )),
    }
}
