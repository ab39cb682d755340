//! `sort: [{ total: desc }, id]`: stable, nulls last.

use etl_config::ConfigError;
use polars::prelude::*;
use serde_json::Value;

use super::read::{only_entry, problem_with};
use crate::names::need;

/// A sort key: a column and a direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub column: String,
    pub descending: bool,
}

pub(super) fn parse(value: &Value) -> Result<Vec<SortKey>, ConfigError> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    items.iter().map(sort_key).collect()
}

/// `column` (ascending) or `{ column: asc | desc }`.
fn sort_key(item: &Value) -> Result<SortKey, ConfigError> {
    if let Value::String(c) = item {
        return Ok(SortKey {
            column: c.clone(),
            descending: false,
        });
    }
    let Some((c, dir)) = item.as_object().and_then(only_entry) else {
        return Err(problem_with(
            format!("sort: `{item}` is neither a column nor `{{ column: desc }}`"),
            item,
        ));
    };
    let descending = match dir.as_str() {
        Some("asc") => false,
        Some("desc") => true,
        _ => {
            return Err(problem_with(
                format!("sort: `{c}` takes `asc` or `desc`, not `{dir}`"),
                dir,
            ));
        }
    };
    Ok(SortKey {
        column: c.to_owned(),
        descending,
    })
}

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
