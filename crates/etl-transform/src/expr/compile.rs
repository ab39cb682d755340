//! The compiler: checks names and types and builds the polars expression.

use std::fmt::Write as _;

use etl_config::did_you_mean;
use polars::prelude::{DataType, Expr, NULL, lit};

use super::ast::{Arith, Cmp, Kind, Logic, Node};
use super::error::{ExprError, error};
use super::functions;
use super::types::{Operand, Ty, Value};

#[derive(Debug)]
pub(super) struct Compiler<'a> {
    chars: &'a [char],
    columns: &'a [(String, DataType)],
}

impl<'a> Compiler<'a> {
    pub(super) fn new(chars: &'a [char], columns: &'a [(String, DataType)]) -> Self {
        Self { chars, columns }
    }

    /// The polars expression of `tree`.
    pub(super) fn compile(&self, tree: &Node) -> Result<Expr, ExprError> {
        Ok(self.node(tree)?.expr)
    }

    /// The source text of a node, shortened for messages.
    fn text(&self, node: &Node) -> String {
        self.span_text((node.start, node.end))
    }

    fn span_text(&self, (start, end): (usize, usize)) -> String {
        let text: String = self.chars[start..end].iter().collect();
        if text.chars().count() > 40 {
            let head: String = text.chars().take(37).collect();
            format!("{head}...")
        } else {
            text
        }
    }

    /// A node compiled, with its text for messages.
    fn operand<'n>(&self, node: &'n Node) -> Result<Operand<'n>, ExprError> {
        Ok(Operand {
            value: self.node(node)?,
            node,
            text: self.text(node),
        })
    }

    fn node(&self, node: &Node) -> Result<Value, ExprError> {
        Ok(match &node.kind {
            Kind::Int(v) => Value::new(lit(*v), Ty::Int),
            Kind::Float(v) => Value::new(lit(*v), Ty::Float),
            Kind::Str(s) => Value::new(lit(s.as_str()), Ty::Text),
            Kind::Bool(b) => Value::new(lit(*b), Ty::Bool),
            Kind::Null => Value::new(lit(NULL), Ty::Null),
            Kind::Column(name) => self.column(name, node.start)?,
            Kind::Neg(inner) => {
                let value = self.node(inner)?;
                self.check_number("-", &value, (inner.start, inner.end))?;
                let ty = value.ty.clone();
                Value::new(-value.typed(DataType::Float64), ty)
            }
            Kind::Not(inner) => Value::new(self.operand(inner)?.boolean("not")?.not(), Ty::Bool),
            Kind::Logic(op, items) => self.logic(*op, items)?,
            Kind::Arith(first, rest) => self.arith_chain(first, rest)?,
            Kind::Compare { op, at, lhs, rhs } => {
                let l = self.operand(lhs)?;
                let r = self.operand(rhs)?;
                Value::new(compare(*op, *at, l, r)?, Ty::Bool)
            }
            Kind::IsNull { value, negated } => {
                let expr = self.node(value)?.expr;
                let expr = if *negated {
                    expr.is_not_null()
                } else {
                    expr.is_null()
                };
                Value::new(expr, Ty::Bool)
            }
            Kind::In {
                value,
                list,
                negated,
            } => self.in_list(value, list, *negated)?,
            Kind::Between {
                value,
                low,
                high,
                negated,
                at,
            } => self.between(value, (low, high), *negated, *at)?,
            Kind::Call { name, args } => {
                let function = functions::resolve(name, args.len(), node.start)?;
                let args = args
                    .iter()
                    .map(|arg| self.operand(arg))
                    .collect::<Result<Vec<_>, _>>()?;
                functions::call(function, &args, node)?
            }
        })
    }

    fn column(&self, name: &str, at: usize) -> Result<Value, ExprError> {
        if let Some((_, dtype)) = self.columns.iter().find(|(n, _)| n == name) {
            // Not `col()`: that reads `*` and `^...$` as selectors.
            return Ok(Value::new(Expr::Column(name.into()), Ty::of(dtype)));
        }
        let names = self.columns.iter().map(|(n, _)| n.as_str());
        let message = if let Some(best) = did_you_mean(name, names.clone()) {
            format!("no column `{name}`; did you mean `{best}`?")
        } else if self.columns.is_empty() {
            format!("no column `{name}`: the input has no columns")
        } else {
            let shown: Vec<String> = names.take(10).map(|n| format!("`{n}`")).collect();
            let more = self.columns.len().saturating_sub(10);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!(
                "no column `{name}`; the columns are {}{more} (quote a name with spaces in \
                 backticks)",
                shown.join(", ")
            )
        };
        Err(error(message, at))
    }

    /// `a and b and ...`, `a or b or ...`.
    fn logic(&self, op: Logic, items: &[Node]) -> Result<Value, ExprError> {
        let mut result: Option<Expr> = None;
        for item in items {
            let expr = self.operand(item)?.boolean(op.word())?;
            result = Some(match (result, op) {
                (None, _) => expr,
                (Some(acc), Logic::And) => acc.and(expr),
                (Some(acc), Logic::Or) => acc.or(expr),
            });
        }
        Ok(Value::new(result.unwrap_or_else(|| lit(true)), Ty::Bool))
    }

    /// `a + b - c ...`, left to right.
    fn arith_chain(&self, first: &Node, rest: &[(Arith, usize, Node)]) -> Result<Value, ExprError> {
        let mut acc = self.node(first)?;
        let mut end = first.end;
        for (op, at, rhs_node) in rest {
            let rhs = self.node(rhs_node)?;
            let span = (rhs_node.start, rhs_node.end);
            acc = self.arith(*op, *at, (acc, (first.start, end)), (rhs, span))?;
            end = rhs_node.end;
        }
        Ok(acc)
    }

    fn check_number(&self, op: &str, value: &Value, span: (usize, usize)) -> Result<(), ExprError> {
        if value.ty.is_number() || value.ty.unchecked() {
            return Ok(());
        }
        let hint = match (op, &value.ty) {
            ("+", Ty::Text) => "; join text with concat(a, b)",
            (_, Ty::Date | Ty::Datetime(..)) => "; count days with days_between(a, b)",
            _ => "",
        };
        Err(error(
            format!(
                "`{op}` needs numbers, but `{}` is {}{hint}",
                self.span_text(span),
                value.ty.describe()
            ),
            span.0,
        ))
    }

    fn arith(
        &self,
        op: Arith,
        at: usize,
        (l, l_span): (Value, (usize, usize)),
        (r, r_span): (Value, (usize, usize)),
    ) -> Result<Value, ExprError> {
        if op == Arith::Add && l.ty == Ty::Text && r.ty == Ty::Text {
            return Err(error(
                format!(
                    "`+` does not join text; write concat({}, {})",
                    self.span_text(l_span),
                    self.span_text(r_span)
                ),
                at,
            ));
        }
        self.check_number(op.sym(), &l, l_span)?;
        self.check_number(op.sym(), &r, r_span)?;
        let ty = match (&l.ty, &r.ty) {
            _ if op == Arith::Div => Ty::Float,
            (Ty::Int, Ty::Int) => Ty::Int,
            (a, b) if a.is_number() && b.is_number() => Ty::Float,
            (Ty::Null, t) | (t, Ty::Null) if t.is_number() || *t == Ty::Null => t.clone(),
            _ => Ty::Unknown,
        };
        // Integers compute as Int64: an unsigned count (`group_by` gives u32) minus more than
        // it would otherwise wrap around.
        let signed = |e: Expr, t: &Ty| {
            if *t == Ty::Int {
                e.cast(DataType::Int64)
            } else {
                e
            }
        };
        let (a, b) = (signed(l.expr, &l.ty), signed(r.expr, &r.ty));
        let expr = match op {
            Arith::Add => a + b,
            Arith::Sub => a - b,
            Arith::Mul => a * b,
            Arith::Div => a.true_div(b),
            Arith::Rem => a % b,
        };
        Ok(Value::new(expr, ty))
    }

    /// `value [not] in (list...)`: equal to one of the values.
    fn in_list(&self, value: &Node, list: &[Node], negated: bool) -> Result<Value, ExprError> {
        let left = self.operand(value)?;
        let mut tests = Vec::with_capacity(list.len());
        for item in list {
            if matches!(item.kind, Kind::Null) {
                return Err(error(
                    format!(
                        "`null` in an `in` list never matches; test it separately: \
                         `{0} is null or {0} in (...)`",
                        left.text
                    ),
                    item.start,
                ));
            }
            let right = self.operand(item)?;
            tests.push(compare(Cmp::Eq, item.start, left.clone(), right)?);
        }
        let any = balanced_or(tests);
        Ok(Value::new(if negated { any.not() } else { any }, Ty::Bool))
    }

    /// `value [not] between low and high`, bounds included.
    fn between(
        &self,
        value: &Node,
        (low, high): (&Node, &Node),
        negated: bool,
        at: usize,
    ) -> Result<Value, ExprError> {
        let v = self.operand(value)?;
        let lo = self.operand(low)?;
        let hi = self.operand(high)?;
        let above = compare(Cmp::GtEq, at, v.clone(), lo)?;
        let below = compare(Cmp::LtEq, at, v, hi)?;
        let within = above.and(below);
        Ok(Value::new(
            if negated { within.not() } else { within },
            Ty::Bool,
        ))
    }
}

/// `l op r`: both sides of one family (text compared with a date or datetime is read as one).
fn compare(op: Cmp, at: usize, l: Operand<'_>, r: Operand<'_>) -> Result<Expr, ExprError> {
    for (node, other) in [(&l, &r), (&r, &l)] {
        if matches!(node.node.kind, Kind::Null) {
            let test = if op == Cmp::NotEq {
                "is not null"
            } else {
                "is null"
            };
            return Err(error(
                format!(
                    "a comparison with null is never true; write `{} {test}`",
                    other.text
                ),
                at,
            ));
        }
    }
    // Text compared with a date or datetime is read as one.
    let (l_expr, r_expr) = match (&l.value.ty, &r.value.ty) {
        (t, Ty::Text) if t.is_temporal() => {
            let read = r.read_as(t, r.value.expr.clone())?;
            (l.value.expr, read)
        }
        (Ty::Text, t) if t.is_temporal() => {
            let read = l.read_as(t, l.value.expr.clone())?;
            (read, r.value.expr)
        }
        // polars does not compare datetimes of different time zones: read the right side
        // in the left side's zone (a naive datetime is taken as UTC).
        (Ty::Datetime(unit, zone), Ty::Datetime(_, other)) if zone != other => {
            let cast = DataType::Datetime(*unit, zone.clone());
            (l.value.expr, r.value.expr.cast(cast))
        }
        (a, b) => {
            if let (Some(fa), Some(fb)) = (a.family(), b.family())
                && fa != fb
            {
                return Err(mismatch(at, &l, &r));
            }
            (l.value.expr, r.value.expr)
        }
    };
    Ok(match op {
        Cmp::Eq => l_expr.eq(r_expr),
        Cmp::NotEq => l_expr.neq(r_expr),
        Cmp::Lt => l_expr.lt(r_expr),
        Cmp::LtEq => l_expr.lt_eq(r_expr),
        Cmp::Gt => l_expr.gt(r_expr),
        Cmp::GtEq => l_expr.gt_eq(r_expr),
    })
}

fn mismatch(at: usize, l: &Operand<'_>, r: &Operand<'_>) -> ExprError {
    let mut message = format!(
        "cannot compare `{}` ({}) with `{}` ({})",
        l.text,
        l.value.ty.describe(),
        r.text,
        r.value.ty.describe()
    );
    for side in [l, r] {
        if side.value.ty.is_number() && matches!(side.node.kind, Kind::Int(_) | Kind::Float(_)) {
            let _ = write!(
                message,
                "; to compare as text, quote the number: '{}'",
                side.text
            );
        }
    }
    error(message, at)
}

/// `a or b or ...` as a balanced tree, so a long `in` list does not nest deeply.
fn balanced_or(mut exprs: Vec<Expr>) -> Expr {
    while exprs.len() > 1 {
        let mut paired = Vec::with_capacity(exprs.len().div_ceil(2));
        let mut items = exprs.into_iter();
        while let Some(a) = items.next() {
            paired.push(match items.next() {
                Some(b) => a.or(b),
                None => a,
            });
        }
        exprs = paired;
    }
    exprs.pop().unwrap_or_else(|| lit(false))
}
