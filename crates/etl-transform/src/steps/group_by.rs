//! `group_by: [userId]` with `agg: { posts: count, total: { sum: amount } }`: one row per
//! group, in the order groups first appear.

use indexmap::IndexMap;
use polars::prelude::*;

use super::need;
use crate::spec::{AggFunction, AggSpec};

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    by: &[String],
    agg: &IndexMap<String, AggSpec>,
) -> Result<LazyFrame, String> {
    for b in by {
        need(schema, b)?;
    }
    if agg.is_empty() {
        return Err("`agg` is empty; add at least one output, e.g. `{ rows: count }`".into());
    }
    let mut exprs = Vec::new();
    for (out, spec) in agg {
        let expr = match (&spec.column, spec.function) {
            (None, _) => len(),
            (Some(c), f) => {
                need(schema, c).map_err(|m| format!("agg `{out}`: {m}"))?;
                let c = col(c.as_str());
                match f {
                    AggFunction::Count => c.count(),
                    AggFunction::CountDistinct => c.drop_nulls().n_unique(),
                    AggFunction::Sum => c.sum(),
                    AggFunction::Mean => c.mean(),
                    AggFunction::Min => c.min(),
                    AggFunction::Max => c.max(),
                    AggFunction::First => c.first(),
                    AggFunction::Last => c.last(),
                }
            }
        };
        exprs.push(expr.alias(out.as_str()));
    }
    let keys: Vec<Expr> = by.iter().map(|b| col(b.as_str())).collect();
    Ok(frame.group_by_stable(keys).agg(exprs))
}
