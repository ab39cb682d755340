//! `select: [id, name, { company: company__name }]`: keep these columns, in this order.

use polars::prelude::*;

use super::need;
use crate::spec::SelectItem;

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    items: &[SelectItem],
) -> Result<LazyFrame, String> {
    let mut exprs = Vec::new();
    for item in items {
        need(schema, &item.column)?;
        exprs.push(col(item.column.as_str()).alias(item.alias.as_str()));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = items.iter().find(|i| !seen.insert(i.alias.as_str())) {
        return Err(format!(
            "`{}` is selected twice; give one of them another name: `{{ other_name: {} }}`",
            dup.alias, dup.column
        ));
    }
    Ok(frame.select(exprs))
}
