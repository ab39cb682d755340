//! `union: [orders_2025, orders_2026]`: the rows of other tables appended; columns matched by
//! name (a column missing from a table is null there) and types widened.

use polars::prelude::*;

use super::Ctx;

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    tables: &[String],
    ctx: &Ctx<'_>,
) -> Result<LazyFrame, String> {
    let mut frames = vec![(frame, schema.clone())];
    for t in tables {
        let mut f = ctx.table(t)?;
        let s = f.collect_schema().map_err(|e| crate::sql::clean(&e))?;
        frames.push((f, (*s).clone()));
    }
    let mut columns: Vec<(PlSmallStr, DataType)> = Vec::new();
    for (_, s) in &frames {
        for (name, dtype) in s.iter() {
            match columns.iter_mut().find(|(n, _)| n == name) {
                Some((_, t)) => *t = crate::merge::widen(t, dtype),
                None => columns.push((name.clone(), dtype.clone())),
            }
        }
    }
    let aligned: Vec<LazyFrame> = frames
        .into_iter()
        .map(|(f, s)| {
            f.select(
                columns
                    .iter()
                    .map(|(n, t)| {
                        if s.contains(n) {
                            col(n.clone()).cast(t.clone())
                        } else {
                            lit(NULL).cast(t.clone()).alias(n.clone())
                        }
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    concat(aligned, UnionArgs::default()).map_err(|e| crate::sql::clean(&e))
}
