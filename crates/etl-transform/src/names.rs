//! Names that are not there: what did-you-mean (`etl_config::did_you_mean`, the project's one
//! matcher) offers, or the list of the names that are.

use etl_config::{did_you_mean, hint_or_list, quote_list};
use polars::prelude::{DataType, PlSmallStr, Schema};

/// "; did you mean `x`?" when a name is close to `wrong`, else nothing.
pub(crate) fn suggestion<'a>(wrong: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(wrong, names).map_or_else(String::new, |m| format!("; did you mean `{m}`?"))
}

/// "; did you mean `x`?" when a name is close to `wrong`, else "; the {what} are `a`, `b`".
pub(crate) fn suggestion_or_list<'a>(
    wrong: &str,
    names: impl IntoIterator<Item = &'a str> + Clone,
    what: &str,
) -> String {
    format!("; {}", hint_or_list(wrong, names, what))
}

/// Checks that `name` is a column of `schema`: "no column `x`; did you mean `y`?", or the
/// first columns.
pub(crate) fn need(schema: &Schema, name: &str) -> Result<(), String> {
    if schema.contains(name) {
        return Ok(());
    }
    let names: Vec<&str> = schema.iter_names().map(PlSmallStr::as_str).collect();
    let hint = suggestion(name, names.iter().copied());
    let listed = if hint.is_empty() {
        let more = if names.len() > 12 { ", ..." } else { "" };
        format!(
            "; the columns are {}{more}",
            quote_list(&names[..names.len().min(12)])
        )
    } else {
        hint
    };
    Err(format!("no column `{name}`{listed}"))
}

/// The type of column `name` of `schema`, which must have it (see [`need`]).
pub(crate) fn column_type(schema: &Schema, name: &str) -> Result<DataType, String> {
    need(schema, name)?;
    Ok(schema.get(name).cloned().unwrap_or(DataType::String))
}
