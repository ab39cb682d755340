//! The functions: their table (names, signatures, examples), the check of a call's name and
//! arity, and one builder per family (conditional, number, text, date).

use etl_config::hint_or_list;
use polars::prelude::{
    DataType, Expr, NULL, RoundMode, TimeUnit, TimeZone, coalesce, concat_str, lit, when,
};

use super::ast::{Kind, Node};
use super::error::{ExprError, error};
use super::types::{Operand, Ty, Value, utc_micros};

/// A function: its name, signature and a one-line example.
pub(super) type Function = (&'static str, &'static str, &'static str);

///
/// The signature also gives the arity: `...` means "and more of the same".
pub const FUNCTIONS: &[Function] = &[
    (
        "if",
        "if(condition, then, else)",
        "if(qty > 0, 'in stock', 'sold out')",
    ),
    (
        "coalesce",
        "coalesce(a, b, ...)",
        "coalesce(nickname, name)",
    ),
    ("abs", "abs(x)", "abs(balance) > 100"),
    ("round", "round(x, digits)", "round(price * 1.2, 2)"),
    ("floor", "floor(x)", "floor(rating)"),
    ("ceil", "ceil(x)", "ceil(weight)"),
    ("lower", "lower(text)", "lower(email) = 'a@b.c'"),
    ("upper", "upper(text)", "upper(country) = 'FR'"),
    ("trim", "trim(text)", "trim(name) != ''"),
    ("length", "length(text)", "length(code) = 5"),
    (
        "contains",
        "contains(text, part)",
        "contains(title, 'sale')",
    ),
    (
        "starts_with",
        "starts_with(text, prefix)",
        "starts_with(sku, 'AB-')",
    ),
    (
        "ends_with",
        "ends_with(text, suffix)",
        "ends_with(email, '.org')",
    ),
    (
        "replace",
        "replace(text, from, to)",
        "replace(phone, ' ', '')",
    ),
    (
        "substr",
        "substr(text, start, length)",
        "substr(postcode, 1, 2) = '75'",
    ),
    (
        "concat",
        "concat(a, b, ...)",
        "concat(first_name, ' ', last_name)",
    ),
    (
        "to_date",
        "to_date(text)",
        "to_date(due) < to_date('2026-01-01')",
    ),
    (
        "to_datetime",
        "to_datetime(text)",
        "to_datetime(created_at) >= to_datetime('2026-11-25T00:00:00Z')",
    ),
    ("year", "year(d)", "year(created_at) = 2026"),
    ("month", "month(d)", "month(created_at) = 12"),
    ("day", "day(d)", "day(created_at) = 1"),
    ("hour", "hour(d)", "hour(created_at) < 6"),
    ("weekday", "weekday(d)", "weekday(created_at) >= 6"),
    (
        "date",
        "date(d)",
        "date(updated_at) = to_date('2026-11-25')",
    ),
    (
        "days_between",
        "days_between(a, b)",
        "days_between(ordered_at, shipped_at) > 3",
    ),
];

/// The function named `name` (as written, or lower case).
pub(super) fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.0 == name)
}

/// The number of arguments a signature asks for, and whether more may follow.
fn arity(signature: &str) -> (usize, bool) {
    let inner = signature
        .split_once('(')
        .map_or("", |(_, rest)| rest.trim_end_matches(')'));
    let params: Vec<&str> = inner.split(", ").filter(|p| !p.is_empty()).collect();
    match params.last() {
        Some(&"...") => (params.len() - 1, true),
        _ => (params.len(), false),
    }
}

/// The function called `written` with `count` arguments, at char `at`: an unknown name or a
/// wrong number of arguments is an error.
pub(super) fn resolve(
    written: &str,
    count: usize,
    at: usize,
) -> Result<&'static Function, ExprError> {
    let Some(function) = function(written) else {
        let names = FUNCTIONS.iter().map(|f| f.0);
        return Err(error(
            format!(
                "no function `{written}`; {}",
                hint_or_list(written, names, "functions")
            ),
            at,
        ));
    };
    let (name, signature, _) = *function;
    let (wanted, more) = arity(signature);
    if count < wanted || (!more && count > wanted) {
        let at_least = if more { "at least " } else { "" };
        let plural = if wanted == 1 { "" } else { "s" };
        return Err(error(
            format!("`{name}` takes {at_least}{wanted} argument{plural}, not {count}: {signature}"),
            at,
        ));
    }
    Ok(function)
}

/// The value of a call to `function` (resolved: its arity is right) with `args`.
pub(super) fn call(
    function: &Function,
    args: &[Operand<'_>],
    node: &Node,
) -> Result<Value, ExprError> {
    let name = function.0;
    match name {
        "if" | "coalesce" => conditional(name, args),
        "abs" | "floor" | "ceil" | "round" => number(name, args),
        "lower" | "upper" | "trim" | "length" | "contains" | "starts_with" | "ends_with"
        | "replace" | "substr" | "concat" => text(name, args),
        "to_date" | "to_datetime" | "year" | "month" | "day" | "hour" | "weekday" | "date"
        | "days_between" => temporal(name, args),
        other => Err(error(
            format!("function `{other}` is listed but not built; please report this"),
            node.start,
        )),
    }
}

/// `if` and `coalesce`.
fn conditional(name: &str, args: &[Operand<'_>]) -> Result<Value, ExprError> {
    if name == "if" {
        let condition = args[0].clone().boolean("if")?;
        let (then, otherwise) = (args[1].value.clone(), args[2].value.clone());
        let ty = Ty::either(then.ty, otherwise.ty);
        return Ok(Value::new(
            when(condition).then(then.expr).otherwise(otherwise.expr),
            ty,
        ));
    }
    let mut ty = Ty::Null;
    let mut exprs = Vec::with_capacity(args.len());
    for arg in args {
        let value = arg.value.clone();
        ty = Ty::either(ty, value.ty);
        exprs.push(value.expr);
    }
    Ok(Value::new(coalesce(&exprs), ty))
}

/// `abs`, `floor`, `ceil` and `round`.
fn number(name: &str, args: &[Operand<'_>]) -> Result<Value, ExprError> {
    let x = args[0].number_arg(name)?;
    let expr = match name {
        "abs" => x.expr.abs(),
        "floor" => x.expr.floor(),
        "ceil" => x.expr.ceil(),
        _ => {
            let digits = literal_int(name, "digits", args[1].node, 0)?
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| {
                    error(
                        "the digits of `round` must be a whole number such as 2, as in \
                         `round(price, 2)`",
                        args[1].node.start,
                    )
                })?;
            x.expr.round(digits, RoundMode::HalfAwayFromZero)
        }
    };
    Ok(Value::new(expr, x.ty))
}

/// `lower`, `upper`, `trim`, `length`, `contains`, `starts_with`, `ends_with`, `replace`,
/// `substr` and `concat`.
fn text(name: &str, args: &[Operand<'_>]) -> Result<Value, ExprError> {
    if name == "concat" {
        let parts: Vec<Expr> = args
            .iter()
            .map(|arg| {
                let v = arg.value.clone();
                if v.ty == Ty::Text {
                    v.expr
                } else {
                    v.expr.cast(DataType::String)
                }
            })
            .collect();
        return Ok(Value::new(concat_str(parts, "", true), Ty::Text));
    }
    let s = args[0].text_arg(name)?;
    let expr = match name {
        "lower" => s.str().to_lowercase(),
        "upper" => s.str().to_uppercase(),
        "trim" => s.str().strip_chars(lit(NULL)),
        "length" => {
            return Ok(Value::new(
                s.str().len_chars().cast(DataType::Int64),
                Ty::Int,
            ));
        }
        "contains" => {
            return Ok(Value::new(
                s.str().contains_literal(args[1].text_arg(name)?),
                Ty::Bool,
            ));
        }
        "starts_with" => {
            return Ok(Value::new(
                s.str().starts_with(args[1].text_arg(name)?),
                Ty::Bool,
            ));
        }
        "ends_with" => {
            return Ok(Value::new(
                s.str().ends_with(args[1].text_arg(name)?),
                Ty::Bool,
            ));
        }
        "replace" => {
            let from = match &args[1].node.kind {
                Kind::Str(from) if !from.is_empty() => from.clone(),
                _ => {
                    return Err(error(
                        "the text to replace must be quoted and not empty, as in \
                         `replace(phone, ' ', '')`",
                        args[1].node.start,
                    ));
                }
            };
            let to = args[2].text_arg(name)?;
            s.str().replace_all(lit(from.as_str()), to, true)
        }
        _ => {
            let start_literal = literal_int(name, "start", args[1].node, 1)?;
            let start = args[1].int_arg(name)?;
            literal_int(name, "length", args[2].node, 0)?;
            let length = args[2].int_arg(name)?;
            substr(s, start, start_literal, length)
        }
    };
    Ok(Value::new(expr, Ty::Text))
}

/// `to_date`, `to_datetime`, `year`, `month`, `day`, `hour`, `weekday`, `date` and
/// `days_between`.
fn temporal(name: &str, args: &[Operand<'_>]) -> Result<Value, ExprError> {
    let arg = &args[0];
    let int = |e: Expr| Value::new(e.cast(DataType::Int64), Ty::Int);
    Ok(match name {
        "to_date" => {
            let expr = match arg.value.ty {
                Ty::Date => arg.value.expr.clone(),
                Ty::Datetime(..) => arg.value.expr.clone().dt().date(),
                _ => arg.read_date(arg.text_arg(name)?)?,
            };
            Value::new(expr, Ty::Date)
        }
        "to_datetime" => {
            let expr = match arg.value.ty {
                Ty::Datetime(..) => return Ok(arg.value.clone()),
                Ty::Date => arg.value.expr.clone().cast(DataType::Datetime(
                    TimeUnit::Microseconds,
                    Some(TimeZone::UTC),
                )),
                _ => arg.read_datetime(arg.text_arg(name)?)?,
            };
            Value::new(expr, utc_micros())
        }
        "date" => {
            let expr = if arg.value.ty == Ty::Date {
                arg.value.expr.clone()
            } else {
                arg.temporal_arg(name, true)?.dt().date()
            };
            Value::new(expr, Ty::Date)
        }
        "days_between" => {
            let a = arg.temporal_arg(name, true)?;
            let b = args[1].temporal_arg(name, true)?;
            int((b - a).dt().total_days(false))
        }
        _ => {
            let d = arg.temporal_arg(name, name != "hour")?;
            int(match name {
                "year" => d.dt().year(),
                "month" => d.dt().month(),
                "day" => d.dt().day(),
                "hour" => d.dt().hour(),
                _ => d.dt().weekday(),
            })
        }
    })
}

/// A whole-number literal argument, checked to be at least `min`.
fn literal_int(name: &str, what: &str, node: &Node, min: i64) -> Result<Option<i64>, ExprError> {
    match node.kind {
        Kind::Int(v) if v >= min => Ok(Some(v)),
        Kind::Int(_) => Err(error(
            format!("the {what} of `{name}` must be at least {min}"),
            node.start,
        )),
        _ => Ok(None),
    }
}

/// `substr` with SQL's rules: characters `start .. start + length` counted from 1; the part
/// before position 1 is cut off, a negative length gives empty text.
fn substr(s: Expr, start: Expr, start_literal: Option<i64>, length: Expr) -> Expr {
    let non_negative = |e: Expr| when(e.clone().lt(lit(0))).then(lit(0)).otherwise(e);
    if let Some(start) = start_literal {
        return s.str().slice(lit(start - 1), non_negative(length));
    }
    let before_one = start.clone().lt(lit(1));
    let offset = when(before_one.clone())
        .then(lit(0))
        .otherwise(start.clone() - lit(1));
    let length = when(before_one)
        .then(length.clone() + start - lit(1))
        .otherwise(length);
    s.str().slice(offset, non_negative(length))
}
