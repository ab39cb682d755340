//! `join: { with: per_user, left_on: id, right_on: userId, how: left, suffix: _right }`:
//! inner, left, full, semi and anti joins on one or several keys.

use polars::prelude::*;

use super::{Ctx, need};
use crate::spec::{JoinHow, JoinSpec};

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    spec: &JoinSpec,
    ctx: &Ctx<'_>,
) -> Result<LazyFrame, String> {
    let (left, right) = match (&spec.on, &spec.left_on, &spec.right_on) {
        (Some(on), None, None) => (on.names(), on.names()),
        (None, Some(l), Some(r)) => (l.names(), r.names()),
        _ => {
            return Err(
                "give the keys as `on: id` (the same name on both sides) or as `left_on` and \
                 `right_on` together"
                    .into(),
            );
        }
    };
    if left.is_empty() || left.len() != right.len() {
        return Err(format!(
            "`left_on` has {} key(s) and `right_on` {}; give as many on each side",
            left.len(),
            right.len()
        ));
    }
    let mut other = ctx.table(&spec.with)?;
    let other_schema = other.collect_schema().map_err(|e| crate::sql::clean(&e))?;
    for (l, r) in left.iter().zip(&right) {
        need(schema, l)?;
        need(&other_schema, r).map_err(|m| format!("in `{}`: {m}", spec.with))?;
        let (lt, rt) = (schema.get(l), other_schema.get(r));
        if let (Some(lt), Some(rt)) = (lt, rt) {
            if lt != rt && !(lt.is_numeric() && rt.is_numeric()) {
                return Err(format!(
                    "the keys `{l}` ({lt}) and `{}.{r}` ({rt}) have different types; make them \
                     alike first with a `cast:` step",
                    spec.with
                ));
            }
        }
    }
    let how = match spec.how {
        JoinHow::Inner => JoinType::Inner,
        JoinHow::Left => JoinType::Left,
        JoinHow::Full => JoinType::Full,
        JoinHow::Semi => JoinType::Semi,
        JoinHow::Anti => JoinType::Anti,
    };
    let args = JoinArgs::new(how)
        .with_suffix(Some(spec.suffix.as_deref().unwrap_or("_right").into()))
        // Full joins merge the keys into one column, as the other kinds do.
        .with_coalesce(JoinCoalesce::CoalesceColumns);
    let args = JoinArgs {
        maintain_order: MaintainOrderJoin::Left,
        ..args
    };
    // Numeric keys of different types are made alike in place (Int64 for integers, Float64
    // with a float), so the key columns stay plain columns and are merged as usual.
    let mut frame = frame;
    for (l, r) in left.iter().zip(&right) {
        if let (Some(lt), Some(rt)) = (schema.get(l), other_schema.get(r)) {
            if lt != rt {
                let common = crate::merge::widen(lt, rt);
                frame = frame.with_column(col(l.as_str()).cast(common.clone()));
                other = other.with_column(col(r.as_str()).cast(common));
            }
        }
    }
    let left_exprs: Vec<Expr> = left.iter().map(|l| col(l.as_str())).collect();
    let right_exprs: Vec<Expr> = right.iter().map(|r| col(r.as_str())).collect();
    Ok(frame.join(other, left_exprs, right_exprs, args))
}
