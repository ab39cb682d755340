//! `schema:` on a source: declared column types, applied when its table is read. A value that
//! does not convert fails the run naming the source, the column and the value; it is never
//! silently turned into a null.

use indexmap::IndexMap;
use polars::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, polars_message};
use crate::names::{suggestion, suggestion_or_list};

/// A declared column type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnHint {
    Int64,
    Float64,
    String,
    Bool,
    /// A date; text parsed with `format` (strftime; default ISO `2026-11-25`).
    Date {
        format: Option<String>,
    },
    /// A point in time, microseconds; text parsed with `format` (default RFC 3339 / ISO
    /// 8601); `time_zone` is the zone of text without an offset, and of the column.
    Datetime {
        format: Option<String>,
        time_zone: Option<String>,
    },
    /// A fixed-point number: `precision` digits, `scale` of them after the point.
    Decimal {
        precision: usize,
        scale: usize,
    },
}

/// The type names `schema:` accepts.
pub const HINT_TYPES: [&str; 7] = [
    "int64", "float64", "string", "bool", "date", "datetime", "decimal",
];

impl ColumnHint {
    fn from_value(value: &Value) -> Result<Self, String> {
        let (name, options) = match value {
            Value::String(s) => (s.trim().to_owned(), serde_json::Map::new()),
            Value::Object(m) => {
                let name = m
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or("give the type: `{ type: datetime, format: \"%d/%m/%Y %H:%M\" }`")?
                    .to_owned();
                (name, m.clone())
            }
            other => {
                return Err(format!(
                    "`{other}` is not a type; write one of {}",
                    HINT_TYPES.join(", ")
                ));
            }
        };
        let allowed: &[&str] = match name.as_str() {
            "date" => &["type", "format"],
            "datetime" => &["type", "format", "time_zone"],
            "decimal" => &["type", "precision", "scale"],
            _ => &["type"],
        };
        if let Some(k) = options.keys().find(|k| !allowed.contains(&k.as_str())) {
            let options = if allowed.len() > 1 {
                format!("; its options are {}", allowed[1..].join(", "))
            } else {
                format!("; `{name}` takes no options")
            };
            return Err(format!(
                "`{k}` is not an option of `{name}`{}{options}",
                suggestion(k, allowed.iter().copied()),
            ));
        }
        let text = |k: &str| options.get(k).and_then(Value::as_str).map(str::to_owned);
        // `decimal(12, 2)` in short.
        if let Some(args) = name
            .strip_prefix("decimal(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let parts: Vec<&str> = args.split(',').map(str::trim).collect();
            if let [p, s] = parts.as_slice() {
                if let (Ok(precision), Ok(scale)) = (p.parse(), s.parse()) {
                    return Self::decimal(precision, scale);
                }
            }
            return Err(format!(
                "`{name}` is not `decimal(precision, scale)`, e.g. `decimal(12, 2)`"
            ));
        }
        Ok(match name.as_str() {
            "int64" => Self::Int64,
            "float64" => Self::Float64,
            "string" => Self::String,
            "bool" => Self::Bool,
            "date" => Self::Date {
                format: text("format"),
            },
            "datetime" => Self::Datetime {
                format: text("format"),
                time_zone: text("time_zone"),
            },
            "decimal" => {
                let number = |k: &str| {
                    options
                        .get(k)
                        .and_then(Value::as_u64)
                        .and_then(|n| usize::try_from(n).ok())
                };
                match (number("precision"), number("scale")) {
                    (Some(p), Some(s)) => return Self::decimal(p, s),
                    _ => {
                        return Err("decimal needs `precision` and `scale`: `{ type: decimal, precision: 12, scale: 2 }` or `decimal(12, 2)`".into());
                    }
                }
            }
            other => {
                return Err(format!(
                    "`{other}` is not a type{}",
                    suggestion_or_list(other, HINT_TYPES.iter().copied(), "types")
                ));
            }
        })
    }

    fn decimal(precision: usize, scale: usize) -> Result<Self, String> {
        if !(1..=38).contains(&precision) || scale > precision {
            return Err(format!(
                "decimal({precision}, {scale}): precision must be 1 to 38 and scale at most the precision"
            ));
        }
        Ok(Self::Decimal { precision, scale })
    }

    /// The expression turning column `name` (of type `from`) into this type.
    pub(crate) fn expr(&self, name: &str, from: &DataType) -> Result<Expr, String> {
        let c = col(name);
        let strict = |format: &Option<String>| StrptimeOptions {
            format: format.as_deref().map(Into::into),
            strict: true,
            exact: true,
            cache: true,
        };
        Ok(match (self, from) {
            (Self::Int64, _) => c.strict_cast(DataType::Int64),
            (Self::Float64, _) => c.strict_cast(DataType::Float64),
            (Self::String, _) => c.cast(DataType::String),
            (Self::Bool, DataType::String) => {
                let t = c.str().to_lowercase();
                when(t.clone().eq(lit("true")))
                    .then(lit(true))
                    .when(t.eq(lit("false")))
                    .then(lit(false))
                    .otherwise(lit(NULL).cast(DataType::Boolean))
            }
            (Self::Bool, _) => c.strict_cast(DataType::Boolean),
            (Self::Date { format: None }, DataType::String) => crate::expr::text_to_date(c),
            (Self::Date { format }, DataType::String) => c.str().to_date(strict(format)),
            (Self::Date { .. }, _) => c.strict_cast(DataType::Date),
            (Self::Datetime { format, time_zone }, DataType::String) => {
                let zone = zone(time_zone.as_deref())?;
                match format {
                    // RFC 3339 / ISO 8601 in their usual forms, offset or not.
                    None => crate::expr::text_to_datetime_in(c, &zone.unwrap_or(TimeZone::UTC)),
                    Some(_) => c.str().to_datetime(
                        Some(TimeUnit::Microseconds),
                        zone,
                        strict(format),
                        lit("raise"),
                    ),
                }
            }
            (Self::Datetime { time_zone, .. }, _) => {
                let zone = zone(time_zone.as_deref())?;
                c.strict_cast(DataType::Datetime(TimeUnit::Microseconds, zone))
            }
            (Self::Decimal { precision, scale }, _) => {
                c.strict_cast(DataType::Decimal(*precision, *scale))
            }
        })
    }
}

/// A declared time zone, checked.
fn zone(name: Option<&str>) -> Result<Option<TimeZone>, String> {
    name.map(|z| {
        TimeZone::opt_try_new(Some(z))
            .ok()
            .flatten()
            .ok_or_else(|| format!("`{z}` is not an IANA time zone such as `Europe/Paris`"))
    })
    .transpose()
}

impl schemars::JsonSchema for ColumnHint {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ColumnHint".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let text = serde_json::json!({ "type": "string" });
        schemars::json_schema!({
            "description": "A declared column type: `int64`, `float64`, `string`, `bool`, `date`, `datetime`, `decimal(12, 2)`, or `{ type: datetime, format, time_zone }`, `{ type: date, format }`, `{ type: decimal, precision, scale }`.",
            "anyOf": [
                {
                    "type": "string",
                    "pattern": r"^\s*(int64|float64|string|bool|date|datetime|decimal\(\s*[0-9]+\s*,\s*[0-9]+\s*\))\s*$"
                },
                {
                    "type": "object",
                    "properties": { "type": { "enum": ["int64", "float64", "string", "bool"] } },
                    "required": ["type"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": { "type": { "const": "date" }, "format": text },
                    "required": ["type"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": { "type": { "const": "datetime" }, "format": text, "time_zone": text },
                    "required": ["type"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {
                        "type": { "const": "decimal" },
                        "precision": { "type": "integer", "minimum": 1, "maximum": 38 },
                        "scale": { "type": "integer", "minimum": 0, "maximum": 38 }
                    },
                    "required": ["type", "precision", "scale"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for ColumnHint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(&value).map_err(serde::de::Error::custom)
    }
}

/// Applies declared types to a source's table; each converted column is read once here, so a
/// value that does not convert fails now, attributed to the source and the column.
pub fn apply_hints(
    table: &str,
    frame: LazyFrame,
    hints: &IndexMap<String, ColumnHint>,
) -> Result<LazyFrame, Error> {
    if hints.is_empty() {
        return Ok(frame);
    }
    let error = |message: String| Error::Schema {
        table: table.to_owned(),
        message,
    };
    let mut probe = frame.clone();
    let schema = probe
        .collect_schema()
        .map_err(|e| error(polars_message(&e)))?;
    let mut exprs = Vec::new();
    for (name, hint) in hints {
        let Some(from) = schema.get(name) else {
            return Err(error(format!(
                "`schema` declares `{name}`, which no record has{}",
                suggestion(name, schema.iter_names().map(PlSmallStr::as_str))
            )));
        };
        let expr = hint
            .expr(name, from)
            .map_err(|m| error(format!("`schema.{name}`: {m}")))?;
        verify(&frame, name, from, hint, &expr).map_err(|message| {
            error(format!(
                "`{name}` does not convert to the declared {}: {message}",
                describe(hint)
            ))
        })?;
        exprs.push(expr.alias(name.as_str()));
    }
    Ok(frame.with_columns(exprs))
}

/// Checks that `expr` converts every value of column `name` (of type `from`) to `hint`:
/// none turns into null, and no number loses a fraction (7.5 to an integer, 1.234 to two
/// decimals). Reads the column once; the message shows a few values that do not convert.
pub(crate) fn verify(
    frame: &LazyFrame,
    name: &str,
    from: &DataType,
    hint: &ColumnHint,
    expr: &Expr,
) -> Result<(), String> {
    let polars = |e: PolarsError| polars_message(&e);
    let original = col(name);
    let converted = expr.clone();
    // A number that changes on the way (a fraction dropped or rounded) did not convert.
    let lossy = from.is_primitive_numeric()
        && matches!(hint, ColumnHint::Int64 | ColumnHint::Decimal { .. });
    let mut bad = original
        .clone()
        .is_not_null()
        .and(converted.clone().is_null());
    if lossy {
        bad = bad.or(converted
            .clone()
            .cast(DataType::Float64)
            .neq(original.clone().cast(DataType::Float64)));
    }
    // (Common-subexpression elimination trips over parses shared by an aggregate in polars
    // 0.55; these probes do without it.)
    let flags = no_cse(frame);
    let counted = frame
        .clone()
        .with_optimizations(flags)
        .select([bad.clone().sum().alias("bad")])
        .collect()
        .map_err(polars)?;
    let n = counted
        .column("bad")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<u64>())
        .unwrap_or(0);
    if n == 0 {
        return Ok(());
    }
    let examples = frame
        .clone()
        .with_optimizations(flags)
        .filter(bad)
        .select([original.cast(DataType::String)])
        .limit(3)
        .collect()
        .map_err(polars)?;
    let shown: Vec<String> = examples
        .column(name)
        .ok()
        .and_then(|c| {
            c.str()
                .ok()
                .map(|s| s.iter().flatten().map(|v| format!("{v:?}")).collect())
        })
        .unwrap_or_default();
    Err(format!("{n} value(s) do not, e.g. {}", shown.join(", ")))
}

/// The frame's optimizations less common-subexpression elimination.
fn no_cse(frame: &LazyFrame) -> OptFlags {
    let mut flags = frame.get_current_optimizations();
    flags.set(OptFlags::COMM_SUBEXPR_ELIM, false);
    flags
}

fn describe(hint: &ColumnHint) -> String {
    match hint {
        ColumnHint::Int64 => "int64".into(),
        ColumnHint::Float64 => "float64".into(),
        ColumnHint::String => "string".into(),
        ColumnHint::Bool => "bool".into(),
        ColumnHint::Date { format } => format
            .as_ref()
            .map_or_else(|| "date".into(), |f| format!("date (format `{f}`)")),
        ColumnHint::Datetime { format, time_zone } => {
            let format = format
                .as_ref()
                .map_or_else(String::new, |f| format!(" (format `{f}`)"));
            let zone = time_zone
                .as_ref()
                .map_or_else(String::new, |z| format!(" in {z}"));
            format!("datetime{format}{zone}")
        }
        ColumnHint::Decimal { precision, scale } => format!("decimal({precision}, {scale})"),
    }
}
