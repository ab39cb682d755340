//! What a step reads besides its input: the other tables, by name.

use std::collections::HashMap;

use polars::prelude::{DataType, LazyFrame, Schema};

use crate::names::suggestion_or_list;

/// The tables a step may read (for `join` and `union`).
pub(crate) struct Ctx<'a> {
    pub(crate) frames: &'a HashMap<String, LazyFrame>,
}

impl Ctx<'_> {
    /// Another table, or an error naming the known ones.
    pub(crate) fn table(&self, name: &str) -> Result<LazyFrame, String> {
        self.frames.get(name).cloned().ok_or_else(|| {
            let mut known: Vec<&str> = self.frames.keys().map(String::as_str).collect();
            known.sort_unstable();
            format!(
                "no table `{name}`{}",
                suggestion_or_list(name, known.iter().copied(), "tables so far")
            )
        })
    }
}

/// The columns of a schema with their types (for expressions).
pub(super) fn columns(schema: &Schema) -> Vec<(String, DataType)> {
    schema
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect()
}
