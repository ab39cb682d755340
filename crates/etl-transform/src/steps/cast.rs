//! `cast: { id: int64, created_at: datetime }`: change column types. A value that does not
//! convert fails the run (never silently null).

use indexmap::IndexMap;
use polars::prelude::*;

use super::need;

/// The type names `cast:` accepts.
pub(crate) const TYPES: [&str; 6] = ["int64", "float64", "string", "bool", "date", "datetime"];

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    map: &IndexMap<String, String>,
) -> Result<LazyFrame, String> {
    let mut exprs = Vec::new();
    for (name, to) in map {
        need(schema, name)?;
        let from = schema.get(name).cloned().unwrap_or(DataType::String);
        let c = col(name.as_str());
        let expr = match (to.as_str(), &from) {
            ("int64", _) => c.strict_cast(DataType::Int64),
            ("float64", _) => c.strict_cast(DataType::Float64),
            ("string", _) => c.cast(DataType::String),
            ("bool", _) => c.strict_cast(DataType::Boolean),
            ("date", DataType::String) => c.str().to_date(StrptimeOptions {
                strict: true,
                ..StrptimeOptions::default()
            }),
            ("date", _) => c.strict_cast(DataType::Date),
            ("datetime", DataType::String) => c.str().to_datetime(
                Some(TimeUnit::Microseconds),
                None,
                StrptimeOptions {
                    strict: true,
                    ..StrptimeOptions::default()
                },
                lit("raise"),
            ),
            ("datetime", _) => c.strict_cast(DataType::Datetime(TimeUnit::Microseconds, None)),
            (other, _) => {
                return Err(format!(
                    "`{name}`: `{other}` is not a type{}",
                    crate::spec::hint_or_list(other, TYPES.iter().copied(), "types")
                ));
            }
        };
        exprs.push(expr.alias(name.as_str()));
    }
    Ok(frame.with_columns(exprs))
}
