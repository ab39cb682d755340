//! Declarative steps (`from:` plus `steps:`), one file each. Every step gets the frame so far
//! and its schema, checks the columns it names (a missing one is named, with a
//! did-you-mean), and returns the next frame; errors are attributed to the transform and the
//! step's position by [`apply`].

mod cast;
mod distinct;
mod explode;
mod fill_null;
mod filter;
mod group_by;
mod join;
mod limit;
mod rename;
mod select;
mod sort;
mod union;
mod with_columns;

use std::collections::HashMap;

use polars::prelude::*;

use crate::Error;
use crate::spec::{StepSpec, suggest};

/// What a step may read besides its input: the other tables, by name.
pub(crate) struct Ctx<'a> {
    pub(crate) frames: &'a HashMap<String, LazyFrame>,
}

impl Ctx<'_> {
    /// Another table (for `join` and `union`), or an error naming the known ones.
    pub(crate) fn table(&self, name: &str) -> Result<LazyFrame, String> {
        self.frames.get(name).cloned().ok_or_else(|| {
            let mut known: Vec<&str> = self.frames.keys().map(String::as_str).collect();
            known.sort_unstable();
            format!(
                "no table `{name}`{}",
                crate::spec::hint_or_list(name, known.iter().copied(), "tables so far")
            )
        })
    }
}

/// Checks that `name` is a column of `schema`.
pub(crate) fn need(schema: &Schema, name: &str) -> Result<(), String> {
    if schema.contains(name) {
        return Ok(());
    }
    let names: Vec<&str> = schema.iter_names().map(PlSmallStr::as_str).collect();
    let hint = suggest(name, names.iter().copied());
    let listed = if hint.is_empty() {
        let shown: Vec<&str> = names.iter().take(12).copied().collect();
        let more = if names.len() > 12 { ", ..." } else { "" };
        format!("; the columns are {}{more}", shown.join(", "))
    } else {
        hint
    };
    Err(format!("no column `{name}`{listed}"))
}

/// The columns of a schema with their types (for expressions).
pub(crate) fn columns(schema: &Schema) -> Vec<(String, DataType)> {
    schema
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect()
}

/// Applies `steps` to `frame`; `transform` names the transform in errors.
pub(crate) fn apply(
    transform: &str,
    mut frame: LazyFrame,
    steps: &[StepSpec],
    ctx: &Ctx<'_>,
) -> Result<LazyFrame, Error> {
    for (i, step) in steps.iter().enumerate() {
        let error = |message: String| Error::Step {
            transform: transform.to_owned(),
            position: i + 1,
            step: step.name(),
            message,
        };
        let schema = frame
            .collect_schema()
            .map_err(|e| error(crate::sql::clean(&e)))?;
        let next = match step {
            StepSpec::Select(items) => select::apply(frame, &schema, items),
            StepSpec::Rename(map) => rename::apply(frame, &schema, map),
            StepSpec::Filter(text) => filter::apply(frame, &schema, text),
            StepSpec::WithColumns(map) => with_columns::apply(frame, map),
            StepSpec::Join(spec) => join::apply(frame, &schema, spec, ctx),
            StepSpec::GroupBy { by, agg } => group_by::apply(frame, &schema, by, agg),
            StepSpec::Sort(keys) => sort::apply(frame, &schema, keys),
            StepSpec::Limit(n) => Ok(limit::apply(frame, *n)),
            StepSpec::FillNull(map) => fill_null::apply(frame, &schema, map),
            StepSpec::Cast(map) => cast::apply(frame, &schema, map),
            StepSpec::Distinct(cols) => distinct::apply(frame, &schema, cols.as_deref()),
            StepSpec::Explode(cols) => explode::apply(frame, &schema, cols),
            StepSpec::Union(tables) => union::apply(frame, &schema, tables, ctx),
        };
        frame = next.map_err(error)?;
        // Resolve now: a wrong column or type fails here, at this step.
        frame
            .collect_schema()
            .map_err(|e| error(crate::sql::clean(&e)))?;
    }
    Ok(frame)
}
