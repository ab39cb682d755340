//! `distinct: true` (whole rows) or `distinct: [customer_id]`: the first row of each, in
//! order.

use polars::prelude::*;

use super::need;

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
