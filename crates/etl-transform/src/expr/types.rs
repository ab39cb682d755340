//! Types, as far as they are known before the data is read, and the checks of operands
//! against them.

use polars::prelude::{
    DataFrame, DataType, Expr, IntoLazy, StrptimeOptions, TimeUnit, TimeZone, coalesce, lit,
};

use super::ast::{Kind, Node};
use super::error::{ExprError, error};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ty {
    Null,
    Bool,
    Int,
    Float,
    Text,
    Date,
    Datetime(TimeUnit, Option<TimeZone>),
    /// A column of another type (lists, structs...): polars checks it.
    Other(DataType),
    /// Not worked out here (mixed branches of `if`...): polars checks it.
    Unknown,
}

impl Ty {
    pub(super) fn of(dtype: &DataType) -> Ty {
        match dtype {
            DataType::Null => Ty::Null,
            DataType::Boolean => Ty::Bool,
            DataType::String => Ty::Text,
            DataType::Date => Ty::Date,
            DataType::Datetime(unit, zone) => Ty::Datetime(*unit, zone.clone()),
            d if d.is_integer() => Ty::Int,
            d if d.is_float() || d.is_decimal() => Ty::Float,
            other => Ty::Other(other.clone()),
        }
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Ty::Null => "null".into(),
            Ty::Bool => "true/false".into(),
            Ty::Int | Ty::Float => "a number".into(),
            Ty::Text => "text".into(),
            Ty::Date => "a date".into(),
            Ty::Datetime(..) => "a datetime".into(),
            Ty::Other(dtype) => format!("of type {dtype}"),
            Ty::Unknown => "of another type".into(),
        }
    }

    /// Null, or a type this module does not check.
    pub(super) fn unchecked(&self) -> bool {
        matches!(self, Ty::Null | Ty::Other(_) | Ty::Unknown)
    }

    pub(super) fn is_number(&self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }

    pub(super) fn is_temporal(&self) -> bool {
        matches!(self, Ty::Date | Ty::Datetime(..))
    }

    /// Values of the same family can be compared.
    pub(super) fn family(&self) -> Option<u8> {
        match self {
            Ty::Bool => Some(0),
            Ty::Int | Ty::Float => Some(1),
            Ty::Text => Some(2),
            Ty::Date | Ty::Datetime(..) => Some(3),
            Ty::Null | Ty::Other(_) | Ty::Unknown => None,
        }
    }

    /// The type of a value that is either `a` or `b` (`if`, `coalesce`).
    pub(super) fn either(a: Ty, b: Ty) -> Ty {
        match (a, b) {
            (a, b) if a == b => a,
            (Ty::Null, t) | (t, Ty::Null) => t,
            (Ty::Int | Ty::Float, Ty::Int | Ty::Float) => Ty::Float,
            _ => Ty::Unknown,
        }
    }
}

/// A compiled expression and its type.
#[derive(Debug, Clone)]
pub(super) struct Value {
    pub(super) expr: Expr,
    pub(super) ty: Ty,
}

impl Value {
    pub(super) fn new(expr: Expr, ty: Ty) -> Self {
        Self { expr, ty }
    }

    /// The expression, with a bare `null` given the type `dtype` (polars refuses some
    /// operations on the null type).
    pub(super) fn typed(self, dtype: DataType) -> Expr {
        if self.ty == Ty::Null {
            self.expr.cast(dtype)
        } else {
            self.expr
        }
    }
}

/// The type `to_datetime` gives.
pub(super) fn utc_micros() -> Ty {
    Ty::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

fn strptime(format: &str) -> StrptimeOptions {
    StrptimeOptions {
        format: Some(format.into()),
        strict: false,
        exact: true,
        cache: true,
    }
}

/// `YYYY-MM-DD`, or the first ten characters of an RFC 3339 text; null if it is not a date.
pub(crate) fn text_to_date(text: Expr) -> Expr {
    text.str()
        .slice(lit(0), lit(10))
        .str()
        .to_date(strptime("%Y-%m-%d"))
}

/// RFC 3339 / ISO 8601 text to a UTC datetime in microseconds; text without an offset is UTC.
fn text_to_datetime(text: Expr) -> Expr {
    text_to_datetime_in(text, &TimeZone::UTC)
}

/// RFC 3339 / ISO 8601 text to a datetime in `zone` (microseconds): text with an offset is
/// converted, text without one is read as a time in `zone`; null if it does not parse.
pub(crate) fn text_to_datetime_in(text: Expr, zone: &TimeZone) -> Expr {
    // A space may stand for the `T`.
    let text = text.str().replace(lit(" "), lit("T"), true);
    let formats = [
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M%#z",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d",
    ];
    let parsed: Vec<Expr> = formats
        .iter()
        .map(|format| {
            text.clone().str().to_datetime(
                Some(TimeUnit::Microseconds),
                Some(zone.clone()),
                strptime(format),
                lit("raise"),
            )
        })
        .collect();
    coalesce(&parsed)
}

/// Evaluates an expression without columns; true when it gives null or fails.
fn constant_is_null(expr: Expr) -> bool {
    DataFrame::empty()
        .lazy()
        .select([expr.alias("value")])
        .collect()
        .ok()
        .and_then(|frame| {
            let column = frame.column("value").ok()?;
            Some(column.null_count() == column.len())
        })
        .unwrap_or(true)
}

/// A compiled operand or argument, with the node it was written as and its text (shortened),
/// for messages.
#[derive(Debug, Clone)]
pub(super) struct Operand<'n> {
    pub(super) value: Value,
    pub(super) node: &'n Node,
    pub(super) text: String,
}

impl Operand<'_> {
    /// A true/false operand of `and`, `or`, `not` or `if`.
    pub(super) fn boolean(self, op: &str) -> Result<Expr, ExprError> {
        if self.value.ty == Ty::Bool || self.value.ty.unchecked() {
            return Ok(self.value.typed(DataType::Boolean));
        }
        let text = &self.text;
        let hint = match self.value.ty {
            Ty::Int | Ty::Float => format!("; compare it, as in `{text} > 0`"),
            Ty::Text => format!("; compare it, as in `{text} = 'yes'`"),
            Ty::Date | Ty::Datetime(..) => format!("; test it, as in `{text} is not null`"),
            _ => String::new(),
        };
        Err(error(
            format!(
                "`{op}` needs true/false values, but `{text}` is {}{hint}",
                self.value.ty.describe()
            ),
            self.node.start,
        ))
    }

    /// This operand's text (`text`, its expression) read as the date or datetime type
    /// `target`; a quoted value that does not read is an error now rather than a null later.
    pub(super) fn read_as(&self, target: &Ty, text: Expr) -> Result<Expr, ExprError> {
        match target {
            Ty::Date => self.read_date(text),
            Ty::Datetime(unit, zone) => {
                let parsed = self.read_datetime(text)?;
                if *target == utc_micros() {
                    Ok(parsed)
                } else {
                    Ok(parsed.cast(DataType::Datetime(*unit, zone.clone())))
                }
            }
            _ => Ok(text),
        }
    }

    /// `text` (this operand as text) read as a date.
    pub(super) fn read_date(&self, text: Expr) -> Result<Expr, ExprError> {
        let parsed = text_to_date(text);
        if self.is_quoted() && constant_is_null(parsed.clone()) {
            return Err(error(
                format!("`{}` is not a date; write dates as 'YYYY-MM-DD'", self.text),
                self.node.start,
            ));
        }
        Ok(parsed)
    }

    /// `text` (this operand as text) read as a UTC datetime.
    pub(super) fn read_datetime(&self, text: Expr) -> Result<Expr, ExprError> {
        let parsed = text_to_datetime(text);
        if self.is_quoted() && constant_is_null(parsed.clone()) {
            return Err(error(
                format!(
                    "`{}` is not a datetime; write it as '2026-11-25T23:30:00Z' or \
                     '2026-11-25T23:30:00+01:00'",
                    self.text
                ),
                self.node.start,
            ));
        }
        Ok(parsed)
    }

    fn is_quoted(&self) -> bool {
        matches!(self.node.kind, Kind::Str(_))
    }

    /// "`{function}` needs {wanted}, but ... is ...".
    pub(super) fn wrong(&self, function: &str, wanted: &str) -> ExprError {
        error(
            format!(
                "`{function}` needs {wanted}, but `{}` is {}",
                self.text,
                self.value.ty.describe()
            ),
            self.node.start,
        )
    }

    /// A number argument of `function`, as a float if it is a bare `null`.
    pub(super) fn number_arg(&self, function: &str) -> Result<Value, ExprError> {
        let ty = &self.value.ty;
        if ty.is_number() || ty.unchecked() {
            let ty = if *ty == Ty::Null {
                Ty::Float
            } else {
                ty.clone()
            };
            return Ok(Value::new(self.value.clone().typed(DataType::Float64), ty));
        }
        Err(self.wrong(function, "a number"))
    }

    /// A whole-number argument of `function`.
    pub(super) fn int_arg(&self, function: &str) -> Result<Expr, ExprError> {
        if self.value.ty == Ty::Int || self.value.ty.unchecked() {
            return Ok(self.value.clone().typed(DataType::Int64));
        }
        Err(self.wrong(function, "a whole number"))
    }

    /// A text argument of `function`.
    pub(super) fn text_arg(&self, function: &str) -> Result<Expr, ExprError> {
        if self.value.ty == Ty::Text || self.value.ty.unchecked() {
            return Ok(self.value.clone().typed(DataType::String));
        }
        Err(self.wrong(function, "text"))
    }

    /// A date or datetime argument of `function`; text is read as by `to_datetime`.
    pub(super) fn temporal_arg(&self, function: &str, date_ok: bool) -> Result<Expr, ExprError> {
        match &self.value.ty {
            Ty::Date if !date_ok => Err(self.wrong(function, "a datetime")),
            Ty::Text => self.read_datetime(self.value.expr.clone()),
            Ty::Null => Ok(self.value.expr.clone().cast(DataType::Datetime(
                TimeUnit::Microseconds,
                Some(TimeZone::UTC),
            ))),
            t if t.is_temporal() || t.unchecked() => Ok(self.value.expr.clone()),
            _ => Err(self.wrong(function, "a date, a datetime or text")),
        }
    }
}
