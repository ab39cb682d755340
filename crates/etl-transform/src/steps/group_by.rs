//! `group_by: [userId]` with `agg: { posts: count, total: { sum: amount } }`: one row per
//! group, in the order groups first appear.

use etl_config::ConfigError;
use indexmap::IndexMap;
use polars::prelude::*;
use serde_json::Value;

use super::read::{names, only_entry, problem, problem_with};
use crate::names::{need, suggestion_or_list};
use crate::spec::AGG_NAMES;

/// One aggregate of `agg`: `count` (rows), or `{ sum: column }` and the like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub function: AggFunction,
    /// The column aggregated; `None` for `count` of rows.
    pub column: Option<String>,
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunction {
    Count,
    CountDistinct,
    Sum,
    Mean,
    Min,
    Max,
    First,
    Last,
}

impl AggFunction {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "count" => Self::Count,
            "count_distinct" => Self::CountDistinct,
            "sum" => Self::Sum,
            "mean" => Self::Mean,
            "min" => Self::Min,
            "max" => Self::Max,
            "first" => Self::First,
            "last" => Self::Last,
            _ => return None,
        })
    }
}

/// Reads `group_by` and the `agg` beside it.
pub(super) fn parse(
    value: &Value,
    agg: Option<&Value>,
) -> Result<(Vec<String>, IndexMap<String, Aggregate>), ConfigError> {
    let by = names(value, "group_by")?;
    let agg = match agg {
        Some(Value::Object(a)) => a
            .iter()
            .map(|(out, spec)| Ok((out.clone(), aggregate(out, spec)?)))
            .collect::<Result<_, ConfigError>>()?,
        Some(_) => {
            return Err(problem(
                "agg takes a map of output columns, e.g. `agg: { posts: count, total: { sum: amount } }`",
                "agg",
            ));
        }
        None => {
            return Err(problem(
                "group_by needs `agg` beside it, e.g. `agg: { posts: count }`",
                "group_by",
            ));
        }
    };
    Ok((by, agg))
}

/// One output of `agg`: `count`, or `{ function: column }`.
fn aggregate(out: &str, spec: &Value) -> Result<Aggregate, ConfigError> {
    let unknown = |f: &str| {
        problem(
            format!(
                "agg `{out}`: `{f}` is not an aggregate{}",
                suggestion_or_list(f, AGG_NAMES.iter().copied(), "aggregates")
            ),
            f,
        )
    };
    match spec {
        Value::String(f) if f == "count" => Ok(Aggregate {
            function: AggFunction::Count,
            column: None,
        }),
        Value::String(f) => Err(if AggFunction::parse(f).is_some() {
            problem(
                format!("agg `{out}`: `{f}` needs a column: `{{ {f}: column }}`"),
                f,
            )
        } else {
            unknown(f)
        }),
        other => {
            let Some((f, column)) = other.as_object().and_then(only_entry) else {
                return Err(problem_with(
                    format!(
                        "agg `{out}`: `{other}` is not an aggregate; write `count` or `{{ sum: column }}`"
                    ),
                    other,
                ));
            };
            let function = AggFunction::parse(f).ok_or_else(|| unknown(f))?;
            let column = column
                .as_str()
                .ok_or_else(|| problem(format!("agg `{out}`: `{f}` takes a column name"), f))?;
            Ok(Aggregate {
                function,
                column: Some(column.to_owned()),
            })
        }
    }
}

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    by: &[String],
    agg: &IndexMap<String, Aggregate>,
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
