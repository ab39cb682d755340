//! Data checks: `checks: { min_rows, not_null, unique, accepted_values }` on a source or a
//! transform. A failed check fails the run before any sink writes, naming the check and
//! showing a few offending rows.

use indexmap::IndexMap;
use polars::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::spec::{OneOrMany, suggest};

/// `checks:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ChecksSpec {
    /// The table must have at least this many rows.
    pub min_rows: Option<u64>,
    /// These columns must have a value in every row.
    #[serde(default)]
    pub not_null: Vec<String>,
    /// Each entry (a column, or a list of columns together) must not repeat.
    #[serde(default)]
    pub unique: Vec<OneOrMany>,
    /// Per column, the values it may hold (nulls are left to `not_null`).
    #[serde(default)]
    pub accepted_values: IndexMap<String, Vec<Value>>,
}

/// Rows shown for a failed check.
const EXAMPLES: usize = 3;

/// Runs every check on `frame` (the table `table`); the first failure is the error.
pub fn check(table: &str, frame: &LazyFrame, checks: &ChecksSpec) -> Result<(), String> {
    let fail =
        |check: String, message: String| format!("check `{check}` on `{table}` failed: {message}");
    let polars = |e: PolarsError| format!("checks on `{table}`: {}", crate::sql::clean(&e));
    let schema = frame.clone().collect_schema().map_err(polars)?;
    let column = |name: &str, check: &str| -> Result<(), String> {
        if schema.contains(name) {
            Ok(())
        } else {
            Err(format!(
                "check `{check}` on `{table}`: no column `{name}`{}",
                suggest(name, schema.iter_names().map(PlSmallStr::as_str))
            ))
        }
    };
    let count = |f: LazyFrame| -> Result<u64, String> {
        let df = f.select([len().alias("n")]).collect().map_err(polars)?;
        Ok(df
            .column("n")
            .ok()
            .and_then(|c| c.get(0).ok())
            .and_then(|v| v.extract::<u64>())
            .unwrap_or(0))
    };
    let rows = count(frame.clone())?;
    if let Some(min) = checks.min_rows {
        if rows < min {
            return Err(fail(
                format!("min_rows: {min}"),
                format!("it has {rows} row(s)"),
            ));
        }
    }
    for name in &checks.not_null {
        column(name, "not_null")?;
        let bad = frame.clone().filter(col(name.as_str()).is_null());
        let n = count(bad.clone())?;
        if n > 0 {
            return Err(fail(
                format!("not_null: {name}"),
                format!(
                    "{n} of {rows} row(s) have no `{name}`; for example:\n{}",
                    examples(bad)?
                ),
            ));
        }
    }
    for key in &checks.unique {
        let names = key.names();
        for n in &names {
            column(n, "unique")?;
        }
        let keys: Vec<Expr> = names.iter().map(|n| col(n.as_str())).collect();
        // As in SQL, a key with a null in it is not compared (`not_null` is for those).
        let present = names
            .iter()
            .map(|n| col(n.as_str()).is_not_null())
            .reduce(Expr::and)
            .unwrap_or_else(|| lit(true));
        let repeated = frame
            .clone()
            .filter(present)
            .group_by(keys)
            .agg([len().alias("rows")])
            .filter(col("rows").gt(lit(1)))
            .sort(
                ["rows"],
                SortMultipleOptions::default().with_order_descending(true),
            );
        let n = count(repeated.clone())?;
        if n > 0 {
            return Err(fail(
                format!("unique: {}", names.join(", ")),
                format!(
                    "{n} value(s) of `{}` appear more than once; for example:\n{}",
                    names.join(", "),
                    examples(repeated)?
                ),
            ));
        }
    }
    for (name, values) in &checks.accepted_values {
        column(name, "accepted_values")?;
        let dtype = schema.get(name).cloned().unwrap_or(DataType::String);
        let (allowed, compared) = accepted_series(name, values, &dtype)?;
        let bad = frame.clone().filter(
            col(name.as_str())
                .is_not_null()
                .and(compared.is_in(lit(allowed).implode(false), false).not()),
        );
        let n = count(bad.clone())?;
        if n > 0 {
            let shown: Vec<String> = values.iter().map(Value::to_string).collect();
            return Err(fail(
                format!("accepted_values: {name}"),
                format!(
                    "{n} of {rows} row(s) have a `{name}` outside [{}]; for example:\n{}",
                    shown.join(", "),
                    examples(bad)?
                ),
            ));
        }
    }
    Ok(())
}

/// The accepted values as a series, and the column as compared with them: numbers as
/// floats, true/false as booleans, anything else as text. A value of the wrong kind for the
/// column is an error naming it.
fn accepted_series(
    name: &str,
    values: &[Value],
    dtype: &DataType,
) -> Result<(Series, Expr), String> {
    let wrong = |v: &Value, kind: &str| {
        format!(
            "accepted_values `{name}`: `{v}` is not {kind}, as the column's values ({dtype}) are"
        )
    };
    if dtype.is_primitive_numeric() {
        let numbers = values
            .iter()
            .map(|v| v.as_f64().ok_or_else(|| wrong(v, "a number")))
            .collect::<Result<Vec<f64>, String>>()?;
        return Ok((
            Series::new(name.into(), numbers),
            col(name).cast(DataType::Float64),
        ));
    }
    if *dtype == DataType::Boolean {
        let flags = values
            .iter()
            .map(|v| v.as_bool().ok_or_else(|| wrong(v, "true or false")))
            .collect::<Result<Vec<bool>, String>>()?;
        return Ok((Series::new(name.into(), flags), col(name)));
    }
    let texts: Vec<String> = values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    Ok((
        Series::new(name.into(), texts),
        col(name).cast(DataType::String),
    ))
}

/// A few rows, one per line: `id=3, email=null`.
fn examples(frame: LazyFrame) -> Result<String, String> {
    let df = frame
        .limit(EXAMPLES as IdxSize)
        .collect()
        .map_err(|e| crate::sql::clean(&e))?;
    let mut lines = Vec::new();
    for row in 0..df.height() {
        let cells: Vec<String> = df
            .columns()
            .iter()
            .take(8)
            .map(|c| {
                let v = c.get(row).map_or_else(|_| "?".to_owned(), |v| cell(&v));
                format!("{}={v}", c.name())
            })
            .collect();
        lines.push(format!("  {}", cells.join(", ")));
    }
    Ok(lines.join("\n"))
}

fn cell(v: &AnyValue<'_>) -> String {
    let text = match v {
        AnyValue::Null => "null".to_owned(),
        AnyValue::String(s) => format!("{s:?}"),
        AnyValue::StringOwned(s) => format!("{:?}", s.as_str()),
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        let short: String = text.chars().take(39).collect();
        format!("{short}…")
    } else {
        text
    }
}
