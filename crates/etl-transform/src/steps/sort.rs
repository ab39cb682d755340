//! `sort: [{ total: desc }, id]`: stable, nulls last.

use polars::prelude::*;

use super::need;
use crate::spec::SortKey;

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    keys: &[SortKey],
) -> Result<LazyFrame, String> {
    if keys.is_empty() {
        return Err("name at least one column: `sort: id` or `sort: [{ total: desc }, id]`".into());
    }
    for k in keys {
        need(schema, &k.column)?;
    }
    let exprs: Vec<Expr> = keys.iter().map(|k| col(k.column.as_str())).collect();
    let descending: Vec<bool> = keys.iter().map(|k| k.descending).collect();
    Ok(frame.sort_by_exprs(
        exprs,
        SortMultipleOptions::default()
            .with_order_descending_multi(descending)
            .with_nulls_last(true)
            .with_maintain_order(true),
    ))
}
