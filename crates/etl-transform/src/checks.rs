//! Data checks: `checks: { min_rows, not_null, unique, accepted_values }` on a source or a
//! transform. A failed check fails the run before any sink writes, naming the check and
//! showing a few offending rows.

use polars::prelude::*;
use serde_json::Value;

use crate::error::{Error, polars_message};
use crate::names::suggestion;
use crate::spec::ChecksSpec;

/// Rows shown for a failed check.
const EXAMPLES: usize = 3;

/// Runs every check on `frame` (the table `table`); the first failure is the error.
pub(crate) fn check(table: &str, frame: &LazyFrame, checks: &ChecksSpec) -> Result<(), Error> {
    let run = || -> Result<(), String> {
        let on = Checked::new(table, frame)?;
        if let Some(min) = checks.min_rows {
            on.min_rows(min)?;
        }
        for name in &checks.not_null {
            on.not_null(name)?;
        }
        for key in &checks.unique {
            on.unique(&key.names())?;
        }
        for (name, values) in &checks.accepted_values {
            on.accepted_values(name, values)?;
        }
        Ok(())
    };
    run().map_err(Error::Check)
}

/// A table being checked: its frame, schema and number of rows.
struct Checked<'a> {
    table: &'a str,
    frame: &'a LazyFrame,
    schema: SchemaRef,
    rows: u64,
}

impl<'a> Checked<'a> {
    fn new(table: &'a str, frame: &'a LazyFrame) -> Result<Self, String> {
        let mut checked = Self {
            table,
            frame,
            schema: frame
                .clone()
                .collect_schema()
                .map_err(|e| Self::polars(table, &e))?,
            rows: 0,
        };
        checked.rows = checked.count(frame.clone())?;
        Ok(checked)
    }

    fn polars(table: &str, e: &PolarsError) -> String {
        format!("checks on `{table}`: {}", polars_message(e))
    }

    fn fail(&self, check: &str, message: &str) -> String {
        format!("check `{check}` on `{}` failed: {message}", self.table)
    }

    /// `name` is a column of the table.
    fn column(&self, name: &str, check: &str) -> Result<(), String> {
        if self.schema.contains(name) {
            return Ok(());
        }
        Err(format!(
            "check `{check}` on `{}`: no column `{name}`{}",
            self.table,
            suggestion(name, self.schema.iter_names().map(PlSmallStr::as_str))
        ))
    }

    fn count(&self, frame: LazyFrame) -> Result<u64, String> {
        let df = frame
            .select([len().alias("n")])
            .collect()
            .map_err(|e| Self::polars(self.table, &e))?;
        Ok(df
            .column("n")
            .ok()
            .and_then(|c| c.get(0).ok())
            .and_then(|v| v.extract::<u64>())
            .unwrap_or(0))
    }

    fn min_rows(&self, min: u64) -> Result<(), String> {
        if self.rows < min {
            return Err(self.fail(
                &format!("min_rows: {min}"),
                &format!("it has {} row(s)", self.rows),
            ));
        }
        Ok(())
    }

    fn not_null(&self, name: &str) -> Result<(), String> {
        self.column(name, "not_null")?;
        let bad = self.frame.clone().filter(col(name).is_null());
        let n = self.count(bad.clone())?;
        if n > 0 {
            return Err(self.fail(
                &format!("not_null: {name}"),
                &format!(
                    "{n} of {} row(s) have no `{name}`; for example:\n{}",
                    self.rows,
                    examples(bad)?
                ),
            ));
        }
        Ok(())
    }

    fn unique(&self, names: &[String]) -> Result<(), String> {
        for n in names {
            self.column(n, "unique")?;
        }
        let keys: Vec<Expr> = names.iter().map(|n| col(n.as_str())).collect();
        // As in SQL, a key with a null in it is not compared (`not_null` is for those).
        let present = names
            .iter()
            .map(|n| col(n.as_str()).is_not_null())
            .reduce(Expr::and)
            .unwrap_or_else(|| lit(true));
        let repeated = self
            .frame
            .clone()
            .filter(present)
            .group_by(keys)
            .agg([len().alias("rows")])
            .filter(col("rows").gt(lit(1)))
            .sort(
                ["rows"],
                SortMultipleOptions::default().with_order_descending(true),
            );
        let n = self.count(repeated.clone())?;
        if n > 0 {
            return Err(self.fail(
                &format!("unique: {}", names.join(", ")),
                &format!(
                    "{n} value(s) of `{}` appear more than once; for example:\n{}",
                    names.join(", "),
                    examples(repeated)?
                ),
            ));
        }
        Ok(())
    }

    fn accepted_values(&self, name: &str, values: &[Value]) -> Result<(), String> {
        self.column(name, "accepted_values")?;
        let dtype = self.schema.get(name).cloned().unwrap_or(DataType::String);
        let (allowed, compared) = accepted_series(name, values, &dtype)?;
        let bad = self.frame.clone().filter(
            col(name)
                .is_not_null()
                .and(compared.is_in(lit(allowed).implode(false), false).not()),
        );
        let n = self.count(bad.clone())?;
        if n > 0 {
            let shown: Vec<String> = values.iter().map(Value::to_string).collect();
            return Err(self.fail(
                &format!("accepted_values: {name}"),
                &format!(
                    "{n} of {} row(s) have a `{name}` outside [{}]; for example:\n{}",
                    self.rows,
                    shown.join(", "),
                    examples(bad)?
                ),
            ));
        }
        Ok(())
    }
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
        .map_err(|e| polars_message(&e))?;
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
