//! `select: [id, name, { company: company__name }]`: keep these columns, in this order.

use etl_config::ConfigError;
use polars::prelude::*;
use serde_json::Value;

use super::read::{only_entry, problem, problem_with};
use crate::names::need;

/// `select: [id, name, { company: company__name }]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectItem {
    /// The column read.
    pub column: String,
    /// The name it gets (the column's own name by default).
    pub alias: String,
}

pub(super) fn parse(value: &Value) -> Result<Vec<SelectItem>, ConfigError> {
    let Value::Array(items) = value else {
        return Err(problem(
            "select takes a list, e.g. `select: [id, name, { company: company__name }]`",
            "select",
        ));
    };
    let mut out = Vec::new();
    for item in items {
        if let Value::String(c) = item {
            out.push(SelectItem {
                column: c.clone(),
                alias: c.clone(),
            });
            continue;
        }
        let Some((alias, column)) = item.as_object().and_then(only_entry) else {
            return Err(problem_with(
                format!("select: `{item}` is neither a column nor `{{ new_name: column }}`"),
                item,
            ));
        };
        let column = column
            .as_str()
            .ok_or_else(|| problem(format!("select: `{alias}: ...` must name a column"), alias))?;
        out.push(SelectItem {
            column: column.to_owned(),
            alias: alias.to_owned(),
        });
    }
    Ok(out)
}

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
