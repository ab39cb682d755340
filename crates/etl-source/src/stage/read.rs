//! Reading staged parts back as JSON values: a `for_each` parent's keys and fields, and the
//! text a clashing column is rewritten as.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;
use serde_json::Value;

use super::EXACT;
use super::part::ROWS;

/// The part at `path`, all of its columns or those of `columns` it has (with the exact JSON
/// written beside any of them, and the row marker, so that the frame has the part's rows
/// even when it has none of them).
pub(crate) fn part(path: &Path, columns: Option<&[String]>) -> std::io::Result<DataFrame> {
    let mut reader = ParquetReader::new(File::open(path)?);
    if let Some(wanted) = columns {
        let schema = reader.schema().map_err(std::io::Error::other)?;
        let mut present: Vec<String> = vec![ROWS.to_owned()];
        for name in wanted
            .iter()
            .flat_map(|n| [n.clone(), format!("{n}{EXACT}")])
        {
            if schema.contains(name.as_str()) && !present.contains(&name) {
                present.push(name);
            }
        }
        reader = reader.with_columns(Some(present));
    }
    reader.finish().map_err(std::io::Error::other)
}

/// Column `name` of a part as the values its records had: from the exact JSON when it was
/// written beside the column, nulls when the part has no such column.
pub(crate) fn values(frame: &DataFrame, name: &str) -> PolarsResult<Vec<Value>> {
    if let Ok(exact) = frame.column(&format!("{name}{EXACT}")) {
        return exact
            .str()?
            .iter()
            .map(|text| match text {
                Some(text) => serde_json::from_str(text)
                    .map_err(|e| polars_err!(ComputeError: "column `{name}`: {e}")),
                None => Ok(Value::Null),
            })
            .collect();
    }
    let Ok(column) = frame.column(name) else {
        return Ok(vec![Value::Null; frame.height()]);
    };
    Ok(match column.dtype() {
        DataType::Boolean => column.bool()?.iter().map(Value::from).collect(),
        DataType::Int64 => column.i64()?.iter().map(Value::from).collect(),
        DataType::Float64 => column.f64()?.iter().map(Value::from).collect(),
        DataType::String => column
            .str()?
            .iter()
            .map(|s| s.map_or(Value::Null, Value::from))
            .collect(),
        other => {
            polars_bail!(ComputeError: "column `{name}` is staged as {other} with no JSON of its values")
        }
    })
}
