//! The expression language of the `filter:` and `with_columns:` steps, compiled to a polars
//! [`Expr`].
//!
//! ```text
//! status in ('paid', 'sent') and total >= 100
//! round(price * qty, 2)
//! year(created_at) = 2026 and not contains(lower(email), '@example.')
//! ```
//!
//! [`compile`] reads the text against the columns of the input (names and types), so a typo or
//! a type mistake is found before any data is read. Every [`ExprError`] carries the char
//! position of the problem and says what to write instead. [`FUNCTIONS`] lists the functions
//! with their signatures and examples.
//!
//! # Values
//!
//! - Numbers: `42`, `2.5`, `1e3`; a minus sign is the negation operator (`-3`).
//! - Text in single or double quotes: `'paid'`, `"paid"`. A quote inside is written twice:
//!   `'it''s'`.
//! - `true`, `false` and `null`.
//! - Columns by name: `total`, `order_id` (`[A-Za-z_][A-Za-z0-9_]*`, case-sensitive). Any other
//!   name goes in backticks: `` `order total` ``; a backtick inside is written twice.
//!
//! Keywords (`and`, `or`, `not`, `is`, `null`, `in`, `between`, `true`, `false`) and function
//! names are case-insensitive. A column named like a keyword needs backticks.
//!
//! # Operators, loosest first
//!
//! | Precedence | Operator | Meaning |
//! | --- | --- | --- |
//! | 1 | `a or b` | true if either side is true |
//! | 2 | `a and b` | true if both sides are true |
//! | 3 | `not a` | true if `a` is false |
//! | 4 | `a = b`, `a == b` | equal |
//! | 4 | `a != b`, `a <> b` | not equal |
//! | 4 | `a < b`, `a <= b`, `a > b`, `a >= b` | ordering (numbers, text, dates) |
//! | 4 | `a is null`, `a is not null` | missing value test; never null itself |
//! | 4 | `a in (v, ...)`, `a not in (v, ...)` | equal to one of the values |
//! | 4 | `a between lo and hi`, `a not between lo and hi` | `lo <= a and a <= hi` (inclusive) |
//! | 5 | `a + b`, `a - b` | addition, subtraction |
//! | 6 | `a * b`, `a / b`, `a % b` | multiplication; `/` always divides exactly (`7 / 2` is `3.5`); `%` is the remainder, with the sign of `b` |
//! | 7 | `-a` | negation |
//! | 8 | `( ... )` | grouping |
//!
//! `+ - * /` and `%` work on numbers only: join text with `concat(a, b)`. `and`, `or` and
//! `not` take true/false values. Comparisons do not chain (`a < b < c` is an error: write
//! `a < b and b < c`). Comparing a date or datetime with text reads the text as a date or
//! datetime: `created >= '2026-01-01'`.
//!
//! # Functions
//!
//! | Function | Returns | Example |
//! | --- | --- | --- |
//! | `if(condition, then, else)` | `then` where the condition is true, else `else` (also when it is null) | `if(qty > 0, 'in stock', 'sold out')` |
//! | `coalesce(a, b, ...)` | the first value that is not null | `coalesce(nickname, name)` |
//! | `abs(x)` | the absolute value | `abs(balance) > 100` |
//! | `round(x, digits)` | `x` rounded to `digits` decimals (a whole number from 0), halves away from zero | `round(price * 1.2, 2)` |
//! | `floor(x)` | the largest whole number not above `x` | `floor(rating)` |
//! | `ceil(x)` | the smallest whole number not below `x` | `ceil(weight)` |
//! | `lower(text)` | the text in lower case | `lower(email) = 'a@b.c'` |
//! | `upper(text)` | the text in upper case | `upper(country) = 'FR'` |
//! | `trim(text)` | the text without leading and trailing white space | `trim(name) != ''` |
//! | `length(text)` | the number of characters | `length(code) = 5` |
//! | `contains(text, part)` | true if `part` occurs in the text (plain text, not a pattern) | `contains(title, 'sale')` |
//! | `starts_with(text, prefix)` | true if the text starts with `prefix` | `starts_with(sku, 'AB-')` |
//! | `ends_with(text, suffix)` | true if the text ends with `suffix` | `ends_with(email, '.org')` |
//! | `replace(text, from, to)` | the text with every `from` (quoted text, not a pattern) replaced by `to` | `replace(phone, ' ', '')` |
//! | `substr(text, start, length)` | `length` characters from position `start` (the first is 1) | `substr(postcode, 1, 2) = '75'` |
//! | `concat(a, b, ...)` | the values as text, joined; nulls count as empty | `concat(first_name, ' ', last_name)` |
//! | `to_date(text)` | the date of a `YYYY-MM-DD` text, or the date as written in an RFC 3339 text; null if it is not one | `to_date(due) < to_date('2026-01-01')` |
//! | `to_datetime(text)` | the UTC datetime (microseconds) of an RFC 3339 / ISO 8601 text, with or without offset (none means UTC); null if it is not one | `to_datetime(created_at) >= to_datetime('2026-11-25T00:00:00Z')` |
//! | `year(d)` | the year | `year(created_at) = 2026` |
//! | `month(d)` | the month, 1 to 12 | `month(created_at) = 12` |
//! | `day(d)` | the day of the month, 1 to 31 | `day(created_at) = 1` |
//! | `hour(d)` | the hour, 0 to 23 (datetimes only) | `hour(created_at) < 6` |
//! | `weekday(d)` | the day of the week, 1 (Monday) to 7 (Sunday) | `weekday(created_at) >= 6` |
//! | `date(d)` | the date of a datetime | `date(updated_at) = to_date('2026-11-25')` |
//! | `days_between(a, b)` | the whole days from `a` to `b` (`b - a`, truncated toward zero) | `days_between(ordered_at, shipped_at) > 3` |
//!
//! The date functions (`year` to `days_between`) take a date, a datetime or text; text is read
//! as by `to_datetime`, so `date('2026-11-25T23:30:00-02:00')` is 2026-11-26 (UTC) while
//! `to_date` of the same text is 2026-11-25 (the date as written). A quoted date or datetime
//! that cannot be read is an error; text from a column that cannot be read gives null.
//!
//! # Nulls
//!
//! Arithmetic, comparisons and functions give null when an input is null (`concat` and
//! `coalesce` excepted); a filter keeps only the rows where the condition is true. `and` and
//! `or` follow SQL: `null and false` is false, `null or true` is true. Test for missing values
//! with `is null`: `x = null` is an error because it would never be true. `x / 0` is infinite
//! and `x % 0` is null.

use std::fmt::Write as _;

use polars::prelude::{
    DataFrame, DataType, Expr, IntoLazy, NULL, RoundMode, StrptimeOptions, TimeUnit, TimeZone,
    coalesce, concat_str, lit, when,
};

/// A problem in an expression: what is wrong and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// What is wrong and what to write instead.
    pub message: String,
    /// char offset in `text` where the problem is
    pub position: usize,
}

fn error(message: impl Into<String>, position: usize) -> ExprError {
    ExprError {
        message: message.into(),
        position,
    }
}

/// Every function name, with its signature and a one-line example, for docs and did-you-mean.
///
/// The signature also gives the arity: `...` means "and more of the same".
pub const FUNCTIONS: &[(&str, &str, &str)] = &[
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

/// Compiles `text` to a polars expression over a frame with `columns` (name and type).
///
/// Syntax errors come first, then unknown names and type errors, each with the char position
/// in `text`. The expression is not given an output name: alias it as needed.
pub fn compile(text: &str, columns: &[(String, DataType)]) -> Result<Expr, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let tokens = lex(&chars)?;
    let mut parser = Parser {
        chars: &chars,
        tokens,
        at: 0,
        depth: 0,
    };
    let tree = parser.expr()?;
    let next = parser.peek();
    if next.tok != Tok::End {
        return Err(parser.unexpected(next));
    }
    let compiler = Compiler {
        chars: &chars,
        columns,
    };
    Ok(compiler.node(&tree)?.expr)
}

// ---------------------------------------------------------------------------------------------
// Tokens

const KEYWORDS: &[&str] = &[
    "and", "or", "not", "is", "null", "in", "between", "true", "false",
];

/// Nesting (parentheses, calls, `not`, unary minus) deeper than this is refused, so neither
/// the parser nor polars can run out of stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    /// A bare word: a keyword, a function name or a column.
    Word(String),
    /// A backtick-quoted column name.
    Quoted(String),
    Sym(&'static str),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn lex(chars: &[char]) -> Result<Vec<Token>, ExprError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let tok = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            lex_number(chars, &mut i)?
        } else if matches!(c, '\'' | '"' | '`') {
            let text = lex_quoted(chars, &mut i)?;
            if c == '`' {
                Tok::Quoted(text)
            } else {
                Tok::Str(text)
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            Tok::Word(chars[start..i].iter().collect())
        } else {
            Tok::Sym(lex_symbol(chars, &mut i)?)
        };
        tokens.push(Token { tok, start, end: i });
    }
    tokens.push(Token {
        tok: Tok::End,
        start: chars.len(),
        end: chars.len(),
    });
    Ok(tokens)
}

fn lex_number(chars: &[char], i: &mut usize) -> Result<Tok, ExprError> {
    let start = *i;
    let digit = |at: usize| chars.get(at).is_some_and(char::is_ascii_digit);
    let mut float = false;
    while digit(*i) {
        *i += 1;
    }
    if chars.get(*i) == Some(&'.') && digit(*i + 1) {
        float = true;
        *i += 1;
        while digit(*i) {
            *i += 1;
        }
    }
    if matches!(chars.get(*i), Some('e' | 'E')) {
        let sign = usize::from(matches!(chars.get(*i + 1), Some('+' | '-')));
        if digit(*i + 1 + sign) {
            float = true;
            *i += 1 + sign;
            while digit(*i) {
                *i += 1;
            }
        }
    }
    let text: String = chars[start..*i].iter().collect();
    if float {
        text.parse()
            .map(Tok::Float)
            .map_err(|_| error(format!("`{text}` is not a number"), start))
    } else {
        text.parse().map(Tok::Int).map_err(|_| {
            error(
                format!("`{text}` is too large for a whole number; write it as `{text}.0`"),
                start,
            )
        })
    }
}

/// Reads a quoted string or backtick-quoted name; the quote is written twice inside.
fn lex_quoted(chars: &[char], i: &mut usize) -> Result<String, ExprError> {
    let start = *i;
    let quote = chars[start];
    let mut text = String::new();
    *i += 1;
    loop {
        match chars.get(*i) {
            None => {
                let what = if quote == '`' {
                    "column name"
                } else {
                    "string"
                };
                return Err(error(
                    format!(
                        "unterminated {what}: the {quote} at position {start} is never closed; \
                         end it with {quote} (write {quote}{quote} for a {quote} inside)"
                    ),
                    start,
                ));
            }
            Some(&c) if c == quote => {
                if chars.get(*i + 1) == Some(&quote) {
                    text.push(quote);
                    *i += 2;
                } else {
                    *i += 1;
                    return Ok(text);
                }
            }
            Some(&c) => {
                text.push(c);
                *i += 1;
            }
        }
    }
}

fn lex_symbol(chars: &[char], i: &mut usize) -> Result<&'static str, ExprError> {
    let start = *i;
    let next = chars.get(start + 1).copied();
    let two = match (chars[start], next) {
        ('=', Some('=')) => Some("=="),
        ('!', Some('=')) => Some("!="),
        ('<', Some('>')) => Some("<>"),
        ('<', Some('=')) => Some("<="),
        ('>', Some('=')) => Some(">="),
        _ => None,
    };
    if let Some(sym) = two {
        *i += 2;
        return Ok(sym);
    }
    let one = match chars[start] {
        '=' => "=",
        '<' => "<",
        '>' => ">",
        '+' => "+",
        '-' => "-",
        '*' => "*",
        '/' => "/",
        '%' => "%",
        '(' => "(",
        ')' => ")",
        ',' => ",",
        c => {
            let hint = match (c, next) {
                ('&', Some('&')) => "; write `and`".to_owned(),
                ('|', Some('|')) => "; write `or`, or concat(a, b) to join text".to_owned(),
                ('!', _) => "; write `!=` or `not`".to_owned(),
                (c, _) if c.is_alphanumeric() => {
                    "; put a column name with such characters in backticks: `my column`".to_owned()
                }
                _ => String::new(),
            };
            return Err(error(
                format!("unexpected character `{c}` at position {start}{hint}"),
                start,
            ));
        }
    };
    *i += 1;
    Ok(one)
}

// ---------------------------------------------------------------------------------------------
// Syntax tree

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logic {
    And,
    Or,
}

impl Logic {
    fn word(self) -> &'static str {
        match self {
            Logic::And => "and",
            Logic::Or => "or",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl Arith {
    fn from_sym(sym: &str) -> Option<Self> {
        Some(match sym {
            "+" => Arith::Add,
            "-" => Arith::Sub,
            "*" => Arith::Mul,
            "/" => Arith::Div,
            "%" => Arith::Rem,
            _ => return None,
        })
    }

    fn sym(self) -> &'static str {
        match self {
            Arith::Add => "+",
            Arith::Sub => "-",
            Arith::Mul => "*",
            Arith::Div => "/",
            Arith::Rem => "%",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl Cmp {
    fn from_sym(sym: &str) -> Option<Self> {
        Some(match sym {
            "=" | "==" => Cmp::Eq,
            "!=" | "<>" => Cmp::NotEq,
            "<" => Cmp::Lt,
            "<=" => Cmp::LtEq,
            ">" => Cmp::Gt,
            ">=" => Cmp::GtEq,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    /// Char span in the text, end excluded.
    start: usize,
    end: usize,
}

#[derive(Debug, Clone)]
enum Kind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    Column(String),
    Neg(Box<Node>),
    Not(Box<Node>),
    /// `a and b and c`: kept flat so a long chain does not nest.
    Logic(Logic, Vec<Node>),
    /// `a + b - c`: the first operand, then each operator (with its position) and operand.
    Arith(Box<Node>, Vec<(Arith, usize, Node)>),
    Compare {
        op: Cmp,
        at: usize,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    IsNull {
        value: Box<Node>,
        negated: bool,
    },
    In {
        value: Box<Node>,
        list: Vec<Node>,
        negated: bool,
    },
    Between {
        value: Box<Node>,
        low: Box<Node>,
        high: Box<Node>,
        negated: bool,
        at: usize,
    },
    Call {
        name: String,
        args: Vec<Node>,
    },
}

// ---------------------------------------------------------------------------------------------
// Parser: one method per precedence level, loosest first.

#[derive(Debug)]
struct Parser<'a> {
    chars: &'a [char],
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.at]
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.at + ahead).min(last)]
    }

    /// Takes the current token; the closing `End` is never passed.
    fn next(&mut self) -> Token {
        let token = self.tokens[self.at].clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        token
    }

    fn is_word_at(&self, ahead: usize, word: &str) -> bool {
        matches!(&self.peek_at(ahead).tok, Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn is_word(&self, word: &str) -> bool {
        self.is_word_at(0, word)
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek().tok, Tok::Sym(s) if s == sym)
    }

    fn text(&self, token: &Token) -> String {
        self.chars[token.start..token.end].iter().collect()
    }

    fn unexpected(&self, token: &Token) -> ExprError {
        if token.tok == Tok::End {
            return self.early_end();
        }
        error(
            format!(
                "unexpected `{}` at position {}",
                self.text(token),
                token.start
            ),
            token.start,
        )
    }

    fn early_end(&self) -> ExprError {
        if self.at == 0 {
            return error(
                "empty expression; write a condition such as `status = 'paid'`",
                0,
            );
        }
        let before = self.text(&self.tokens[self.at - 1]);
        error(
            format!("the expression ends too early: expected a value after `{before}`"),
            self.chars.len(),
        )
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        if self.depth >= MAX_DEPTH {
            return Err(error(
                format!("the expression nests more than {MAX_DEPTH} levels deep; simplify it"),
                self.peek().start,
            ));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn expr(&mut self) -> Result<Node, ExprError> {
        self.nested(Self::or)
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        self.logic(Logic::Or, Self::and)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        self.logic(Logic::And, Self::not)
    }

    fn logic(
        &mut self,
        op: Logic,
        operand: fn(&mut Self) -> Result<Node, ExprError>,
    ) -> Result<Node, ExprError> {
        let first = operand(self)?;
        if !self.is_word(op.word()) {
            return Ok(first);
        }
        let start = first.start;
        let mut items = vec![first];
        while self.is_word(op.word()) {
            self.next();
            items.push(operand(self)?);
        }
        let end = items.last().map_or(start, |n| n.end);
        Ok(Node {
            kind: Kind::Logic(op, items),
            start,
            end,
        })
    }

    fn not(&mut self) -> Result<Node, ExprError> {
        if !self.is_word("not") {
            return self.comparison();
        }
        let start = self.next().start;
        let inner = self.nested(Self::not)?;
        Ok(Node {
            end: inner.end,
            kind: Kind::Not(Box::new(inner)),
            start,
        })
    }

    fn at_comparison(&self) -> bool {
        matches!(&self.peek().tok, Tok::Sym(s) if Cmp::from_sym(s).is_some())
            || self.is_word("is")
            || self.is_word("in")
            || self.is_word("between")
            || (self.is_word("not") && (self.is_word_at(1, "in") || self.is_word_at(1, "between")))
    }

    fn comparison(&mut self) -> Result<Node, ExprError> {
        let lhs = self.additive()?;
        if !self.at_comparison() {
            return Ok(lhs);
        }
        let node = self.comparison_tail(lhs)?;
        if self.at_comparison() {
            return Err(error(
                "comparisons cannot be chained; join them with `and`, as in `a < b and b < c`",
                self.peek().start,
            ));
        }
        Ok(node)
    }

    fn comparison_tail(&mut self, lhs: Node) -> Result<Node, ExprError> {
        let start = lhs.start;
        if let Tok::Sym(sym) = self.peek().tok
            && let Some(op) = Cmp::from_sym(sym)
        {
            let at = self.next().start;
            let rhs = self.additive()?;
            return Ok(Node {
                end: rhs.end,
                kind: Kind::Compare {
                    op,
                    at,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                start,
            });
        }
        if self.is_word("is") {
            self.next();
            let negated = self.is_word("not");
            if negated {
                self.next();
            }
            if !self.is_word("null") {
                return Err(error(
                    "expected `null` or `not null` after `is`, as in `email is not null`",
                    self.peek().start,
                ));
            }
            let end = self.next().end;
            return Ok(Node {
                kind: Kind::IsNull {
                    value: Box::new(lhs),
                    negated,
                },
                start,
                end,
            });
        }
        let negated = self.is_word("not");
        if negated {
            self.next();
        }
        if self.is_word("in") {
            self.next();
            if !self.is_sym("(") {
                return Err(error(
                    "expected `(` after `in`, as in `status in ('paid', 'sent')`",
                    self.peek().start,
                ));
            }
            let open = self.next().start;
            if self.is_sym(")") {
                return Err(error(
                    "an `in` list needs at least one value, as in `status in ('paid')`",
                    self.peek().start,
                ));
            }
            let mut list = vec![self.additive()?];
            while self.is_sym(",") {
                self.next();
                list.push(self.additive()?);
            }
            if !self.is_sym(")") {
                return Err(error(
                    format!("expected `,` or `)` in the `in` list opened at position {open}"),
                    self.peek().start,
                ));
            }
            let end = self.next().end;
            return Ok(Node {
                kind: Kind::In {
                    value: Box::new(lhs),
                    list,
                    negated,
                },
                start,
                end,
            });
        }
        // Only `between` is left: `at_comparison` said so.
        let at = self.next().start;
        let low = self.additive()?;
        if !self.is_word("and") {
            return Err(error(
                "expected `and` after the lower bound of `between`, as in `qty between 1 and 10`",
                self.peek().start,
            ));
        }
        self.next();
        let high = self.additive()?;
        Ok(Node {
            end: high.end,
            kind: Kind::Between {
                value: Box::new(lhs),
                low: Box::new(low),
                high: Box::new(high),
                negated,
                at,
            },
            start,
        })
    }

    fn additive(&mut self) -> Result<Node, ExprError> {
        self.arith(&["+", "-"], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Node, ExprError> {
        self.arith(&["*", "/", "%"], Self::unary)
    }

    fn arith(
        &mut self,
        ops: &[&str],
        operand: fn(&mut Self) -> Result<Node, ExprError>,
    ) -> Result<Node, ExprError> {
        let first = operand(self)?;
        let mut rest = Vec::new();
        while let Tok::Sym(sym) = self.peek().tok
            && ops.contains(&sym)
            && let Some(op) = Arith::from_sym(sym)
        {
            let at = self.next().start;
            rest.push((op, at, operand(self)?));
        }
        if rest.is_empty() {
            return Ok(first);
        }
        let start = first.start;
        let end = rest.last().map_or(first.end, |(_, _, n)| n.end);
        Ok(Node {
            kind: Kind::Arith(Box::new(first), rest),
            start,
            end,
        })
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if !self.is_sym("-") {
            return self.primary();
        }
        let start = self.next().start;
        let inner = self.nested(Self::unary)?;
        let end = inner.end;
        let kind = match inner.kind {
            Kind::Int(v) => Kind::Int(-v),
            Kind::Float(v) => Kind::Float(-v),
            _ => Kind::Neg(Box::new(inner)),
        };
        Ok(Node { kind, start, end })
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let token = self.peek().clone();
        let leaf = |kind| Node {
            kind,
            start: token.start,
            end: token.end,
        };
        let node = match &token.tok {
            Tok::Int(v) => leaf(Kind::Int(*v)),
            Tok::Float(v) => leaf(Kind::Float(*v)),
            Tok::Str(s) => leaf(Kind::Str(s.clone())),
            Tok::Quoted(name) => leaf(Kind::Column(name.clone())),
            Tok::Word(word) => {
                let lower = word.to_ascii_lowercase();
                match lower.as_str() {
                    "true" => leaf(Kind::Bool(true)),
                    "false" => leaf(Kind::Bool(false)),
                    "null" => leaf(Kind::Null),
                    k if KEYWORDS.contains(&k) => return Err(self.unexpected(&token)),
                    _ if self.peek_at(1).tok == Tok::Sym("(") => return self.call(),
                    _ => leaf(Kind::Column(word.clone())),
                }
            }
            Tok::Sym("(") => {
                self.next();
                let inner = self.expr()?;
                if !self.is_sym(")") {
                    return Err(error(
                        format!("expected `)` to close the `(` at position {}", token.start),
                        self.peek().start,
                    ));
                }
                let end = self.next().end;
                return Ok(Node {
                    start: token.start,
                    end,
                    ..inner
                });
            }
            Tok::End => return Err(self.early_end()),
            Tok::Sym(_) => return Err(self.unexpected(&token)),
        };
        self.next();
        Ok(node)
    }

    fn call(&mut self) -> Result<Node, ExprError> {
        let name_token = self.next();
        let written = self.text(&name_token);
        let lower = written.to_ascii_lowercase();
        let name = if function(&lower).is_some() {
            lower
        } else {
            written
        };
        self.next(); // `(`
        let mut args = Vec::new();
        if !self.is_sym(")") {
            args.push(self.expr()?);
            while self.is_sym(",") {
                self.next();
                args.push(self.expr()?);
            }
        }
        if !self.is_sym(")") {
            let message = if self.peek().tok == Tok::End {
                format!("expected `)` after the arguments of `{name}`")
            } else {
                format!(
                    "expected `,` or `)` after an argument of `{name}`, not `{}`",
                    self.text(self.peek())
                )
            };
            return Err(error(message, self.peek().start));
        }
        let end = self.next().end;
        Ok(Node {
            kind: Kind::Call { name, args },
            start: name_token.start,
            end,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Types, as far as they are known before the data is read.

#[derive(Debug, Clone, PartialEq)]
enum Ty {
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
    fn of(dtype: &DataType) -> Ty {
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

    fn describe(&self) -> String {
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
    fn unchecked(&self) -> bool {
        matches!(self, Ty::Null | Ty::Other(_) | Ty::Unknown)
    }

    fn is_number(&self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }

    fn is_temporal(&self) -> bool {
        matches!(self, Ty::Date | Ty::Datetime(..))
    }

    /// Values of the same family can be compared.
    fn family(&self) -> Option<u8> {
        match self {
            Ty::Bool => Some(0),
            Ty::Int | Ty::Float => Some(1),
            Ty::Text => Some(2),
            Ty::Date | Ty::Datetime(..) => Some(3),
            Ty::Null | Ty::Other(_) | Ty::Unknown => None,
        }
    }

    /// The type of a value that is either `a` or `b` (`if`, `coalesce`).
    fn either(a: Ty, b: Ty) -> Ty {
        match (a, b) {
            (a, b) if a == b => a,
            (Ty::Null, t) | (t, Ty::Null) => t,
            (Ty::Int | Ty::Float, Ty::Int | Ty::Float) => Ty::Float,
            _ => Ty::Unknown,
        }
    }
}

#[derive(Debug, Clone)]
struct Value {
    expr: Expr,
    ty: Ty,
}

impl Value {
    fn new(expr: Expr, ty: Ty) -> Self {
        Self { expr, ty }
    }

    /// The expression, with a bare `null` given the type `dtype` (polars refuses some
    /// operations on the null type).
    fn typed(self, dtype: DataType) -> Expr {
        if self.ty == Ty::Null {
            self.expr.cast(dtype)
        } else {
            self.expr
        }
    }
}

fn utc_micros() -> Ty {
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

fn function(name: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
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

// ---------------------------------------------------------------------------------------------
// Names and suggestions

/// Optimal string alignment distance: edits, with a swap of neighbours counting as one.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `name` (ignoring case), if it is close enough to be a typo.
fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (distance(&name, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

// ---------------------------------------------------------------------------------------------
// Compiler: checks names and types and builds the polars expression.

#[derive(Debug)]
struct Compiler<'a> {
    chars: &'a [char],
    columns: &'a [(String, DataType)],
}

impl Compiler<'_> {
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
            Kind::Not(inner) => {
                let value = self.node(inner)?;
                Value::new(self.boolean("not", value, inner)?.not(), Ty::Bool)
            }
            Kind::Logic(op, items) => {
                let mut result: Option<Expr> = None;
                for item in items {
                    let value = self.node(item)?;
                    let expr = self.boolean(op.word(), value, item)?;
                    result = Some(match (result, op) {
                        (None, _) => expr,
                        (Some(acc), Logic::And) => acc.and(expr),
                        (Some(acc), Logic::Or) => acc.or(expr),
                    });
                }
                Value::new(result.unwrap_or_else(|| lit(true)), Ty::Bool)
            }
            Kind::Arith(first, rest) => {
                let mut acc = self.node(first)?;
                let mut end = first.end;
                for (op, at, rhs_node) in rest {
                    let rhs = self.node(rhs_node)?;
                    let span = (rhs_node.start, rhs_node.end);
                    acc = self.arith(*op, *at, (acc, (first.start, end)), (rhs, span))?;
                    end = rhs_node.end;
                }
                acc
            }
            Kind::Compare { op, at, lhs, rhs } => {
                let l = self.node(lhs)?;
                let r = self.node(rhs)?;
                Value::new(self.compare(*op, *at, (l, lhs), (r, rhs))?, Ty::Bool)
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
            } => {
                let left = self.node(value)?;
                let mut tests = Vec::with_capacity(list.len());
                for item in list {
                    if matches!(item.kind, Kind::Null) {
                        return Err(error(
                            format!(
                                "`null` in an `in` list never matches; test it separately: \
                                 `{0} is null or {0} in (...)`",
                                self.text(value)
                            ),
                            item.start,
                        ));
                    }
                    let right = self.node(item)?;
                    tests.push(self.compare(
                        Cmp::Eq,
                        item.start,
                        (left.clone(), value),
                        (right, item),
                    )?);
                }
                let any = balanced_or(tests);
                Value::new(if *negated { any.not() } else { any }, Ty::Bool)
            }
            Kind::Between {
                value,
                low,
                high,
                negated,
                at,
            } => {
                let v = self.node(value)?;
                let lo = self.node(low)?;
                let hi = self.node(high)?;
                let above = self.compare(Cmp::GtEq, *at, (v.clone(), value), (lo, low))?;
                let below = self.compare(Cmp::LtEq, *at, (v, value), (hi, high))?;
                let within = above.and(below);
                Value::new(if *negated { within.not() } else { within }, Ty::Bool)
            }
            Kind::Call { name, args } => self.call(name, args, node)?,
        })
    }

    fn column(&self, name: &str, at: usize) -> Result<Value, ExprError> {
        if let Some((_, dtype)) = self.columns.iter().find(|(n, _)| n == name) {
            // Not `col()`: that reads `*` and `^...$` as selectors.
            return Ok(Value::new(Expr::Column(name.into()), Ty::of(dtype)));
        }
        let names = self.columns.iter().map(|(n, _)| n.as_str());
        let message = if let Some(best) = closest(name, names.clone()) {
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

    /// A true/false operand of `and`, `or`, `not` or `if`.
    fn boolean(&self, op: &str, value: Value, node: &Node) -> Result<Expr, ExprError> {
        if value.ty == Ty::Bool || value.ty.unchecked() {
            return Ok(value.typed(DataType::Boolean));
        }
        let text = self.text(node);
        let hint = match value.ty {
            Ty::Int | Ty::Float => format!("; compare it, as in `{text} > 0`"),
            Ty::Text => format!("; compare it, as in `{text} = 'yes'`"),
            Ty::Date | Ty::Datetime(..) => format!("; test it, as in `{text} is not null`"),
            _ => String::new(),
        };
        Err(error(
            format!(
                "`{op}` needs true/false values, but `{text}` is {}{hint}",
                value.ty.describe()
            ),
            node.start,
        ))
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

    fn compare(
        &self,
        op: Cmp,
        at: usize,
        (l, l_node): (Value, &Node),
        (r, r_node): (Value, &Node),
    ) -> Result<Expr, ExprError> {
        for (node, other) in [(l_node, r_node), (r_node, l_node)] {
            if matches!(node.kind, Kind::Null) {
                let test = if op == Cmp::NotEq {
                    "is not null"
                } else {
                    "is null"
                };
                return Err(error(
                    format!(
                        "a comparison with null is never true; write `{} {test}`",
                        self.text(other)
                    ),
                    at,
                ));
            }
        }
        // Text compared with a date or datetime is read as one.
        let (l_expr, r_expr) = match (&l.ty, &r.ty) {
            (t, Ty::Text) if t.is_temporal() => (l.expr, self.text_as(t, r.expr, r_node)?),
            (Ty::Text, t) if t.is_temporal() => (self.text_as(t, l.expr, l_node)?, r.expr),
            // polars does not compare datetimes of different time zones: read the right side
            // in the left side's zone (a naive datetime is taken as UTC).
            (Ty::Datetime(unit, zone), Ty::Datetime(_, other)) if zone != other => {
                (l.expr, r.expr.cast(DataType::Datetime(*unit, zone.clone())))
            }
            (a, b) => {
                if let (Some(fa), Some(fb)) = (a.family(), b.family())
                    && fa != fb
                {
                    return Err(self.mismatch(at, (&l.ty, l_node), (&r.ty, r_node)));
                }
                (l.expr, r.expr)
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

    fn mismatch(&self, at: usize, (lt, ln): (&Ty, &Node), (rt, rn): (&Ty, &Node)) -> ExprError {
        let mut message = format!(
            "cannot compare `{}` ({}) with `{}` ({})",
            self.text(ln),
            lt.describe(),
            self.text(rn),
            rt.describe()
        );
        for (ty, node) in [(lt, ln), (rt, rn)] {
            if ty.is_number() && matches!(node.kind, Kind::Int(_) | Kind::Float(_)) {
                let _ = write!(
                    message,
                    "; to compare as text, quote the number: '{}'",
                    self.text(node)
                );
            }
        }
        error(message, at)
    }

    /// Reads text as the date or datetime type `target`; a quoted value that does not read is
    /// an error now rather than a null later.
    fn text_as(&self, target: &Ty, text: Expr, node: &Node) -> Result<Expr, ExprError> {
        match target {
            Ty::Date => self.to_date(text, node),
            Ty::Datetime(unit, zone) => {
                let parsed = self.to_datetime(text, node)?;
                if *target == utc_micros() {
                    Ok(parsed)
                } else {
                    Ok(parsed.cast(DataType::Datetime(*unit, zone.clone())))
                }
            }
            _ => Ok(text),
        }
    }

    fn to_date(&self, text: Expr, node: &Node) -> Result<Expr, ExprError> {
        let parsed = text_to_date(text);
        if matches!(node.kind, Kind::Str(_)) && constant_is_null(parsed.clone()) {
            return Err(error(
                format!(
                    "`{}` is not a date; write dates as 'YYYY-MM-DD'",
                    self.text(node)
                ),
                node.start,
            ));
        }
        Ok(parsed)
    }

    fn to_datetime(&self, text: Expr, node: &Node) -> Result<Expr, ExprError> {
        let parsed = text_to_datetime(text);
        if matches!(node.kind, Kind::Str(_)) && constant_is_null(parsed.clone()) {
            return Err(error(
                format!(
                    "`{}` is not a datetime; write it as '2026-11-25T23:30:00Z' or \
                     '2026-11-25T23:30:00+01:00'",
                    self.text(node)
                ),
                node.start,
            ));
        }
        Ok(parsed)
    }

    fn wrong_arg(&self, name: &str, wanted: &str, value: &Value, node: &Node) -> ExprError {
        error(
            format!(
                "`{name}` needs {wanted}, but `{}` is {}",
                self.text(node),
                value.ty.describe()
            ),
            node.start,
        )
    }

    fn number_arg(&self, name: &str, value: Value, node: &Node) -> Result<Value, ExprError> {
        if value.ty.is_number() || value.ty.unchecked() {
            let ty = if value.ty == Ty::Null {
                Ty::Float
            } else {
                value.ty.clone()
            };
            return Ok(Value::new(value.typed(DataType::Float64), ty));
        }
        Err(self.wrong_arg(name, "a number", &value, node))
    }

    fn int_arg(&self, name: &str, value: Value, node: &Node) -> Result<Expr, ExprError> {
        if value.ty == Ty::Int || value.ty.unchecked() {
            return Ok(value.typed(DataType::Int64));
        }
        Err(self.wrong_arg(name, "a whole number", &value, node))
    }

    fn text_arg(&self, name: &str, value: Value, node: &Node) -> Result<Expr, ExprError> {
        if value.ty == Ty::Text || value.ty.unchecked() {
            return Ok(value.typed(DataType::String));
        }
        Err(self.wrong_arg(name, "text", &value, node))
    }

    /// A date or datetime argument; text is read as by `to_datetime`.
    fn temporal_arg(
        &self,
        name: &str,
        value: Value,
        node: &Node,
        date_ok: bool,
    ) -> Result<Expr, ExprError> {
        match &value.ty {
            Ty::Date if !date_ok => Err(self.wrong_arg(name, "a datetime", &value, node)),
            Ty::Text => self.to_datetime(value.expr, node),
            Ty::Null => Ok(value.expr.cast(DataType::Datetime(
                TimeUnit::Microseconds,
                Some(TimeZone::UTC),
            ))),
            t if t.is_temporal() || t.unchecked() => Ok(value.expr),
            _ => Err(self.wrong_arg(name, "a date, a datetime or text", &value, node)),
        }
    }

    /// A whole-number literal argument, checked to be at least `min`.
    fn literal_int(
        name: &str,
        what: &str,
        node: &Node,
        min: i64,
    ) -> Result<Option<i64>, ExprError> {
        match node.kind {
            Kind::Int(v) if v >= min => Ok(Some(v)),
            Kind::Int(_) => Err(error(
                format!("the {what} of `{name}` must be at least {min}"),
                node.start,
            )),
            _ => Ok(None),
        }
    }

    fn call(&self, written: &str, args: &[Node], node: &Node) -> Result<Value, ExprError> {
        let Some(&(name, signature, _)) = function(written) else {
            let names = FUNCTIONS.iter().map(|f| f.0);
            let message = match closest(written, names.clone()) {
                Some(best) => format!("no function `{written}`; did you mean `{best}`?"),
                None => format!(
                    "no function `{written}`; the functions are {}",
                    names.collect::<Vec<_>>().join(", ")
                ),
            };
            return Err(error(message, node.start));
        };
        let (count, more) = arity(signature);
        if args.len() < count || (!more && args.len() > count) {
            let at_least = if more { "at least " } else { "" };
            let plural = if count == 1 { "" } else { "s" };
            return Err(error(
                format!(
                    "`{name}` takes {at_least}{count} argument{plural}, not {}: {signature}",
                    args.len()
                ),
                node.start,
            ));
        }
        let mut values = Vec::with_capacity(args.len());
        for arg in args {
            values.push(self.node(arg)?);
        }
        // The arity was checked above, so `args[i]` and `values[i]` exist.
        let value = |i: usize| values[i].clone();
        let arg = |i: usize| &args[i];
        let int = |e: Expr| Value::new(e.cast(DataType::Int64), Ty::Int);
        Ok(match name {
            "if" => {
                let condition = self.boolean("if", value(0), arg(0))?;
                let (then, otherwise) = (value(1), value(2));
                let ty = Ty::either(then.ty, otherwise.ty);
                Value::new(
                    when(condition).then(then.expr).otherwise(otherwise.expr),
                    ty,
                )
            }
            "coalesce" => {
                let mut ty = Ty::Null;
                let mut exprs = Vec::with_capacity(args.len());
                for value in &values {
                    let value = value.clone();
                    ty = Ty::either(ty, value.ty);
                    exprs.push(value.expr);
                }
                Value::new(coalesce(&exprs), ty)
            }
            "abs" | "floor" | "ceil" => {
                let x = self.number_arg(name, value(0), arg(0))?;
                let expr = match name {
                    "abs" => x.expr.abs(),
                    "floor" => x.expr.floor(),
                    _ => x.expr.ceil(),
                };
                Value::new(expr, x.ty)
            }
            "round" => {
                let x = self.number_arg(name, value(0), arg(0))?;
                let digits = Self::literal_int(name, "digits", arg(1), 0)?
                    .and_then(|d| u32::try_from(d).ok())
                    .ok_or_else(|| {
                        error(
                            "the digits of `round` must be a whole number such as 2, as in \
                             `round(price, 2)`",
                            arg(1).start,
                        )
                    })?;
                Value::new(x.expr.round(digits, RoundMode::HalfAwayFromZero), x.ty)
            }
            "lower" | "upper" | "trim" => {
                let s = self.text_arg(name, value(0), arg(0))?;
                let expr = match name {
                    "lower" => s.str().to_lowercase(),
                    "upper" => s.str().to_uppercase(),
                    _ => s.str().strip_chars(lit(NULL)),
                };
                Value::new(expr, Ty::Text)
            }
            "length" => int(self.text_arg(name, value(0), arg(0))?.str().len_chars()),
            "contains" | "starts_with" | "ends_with" => {
                let s = self.text_arg(name, value(0), arg(0))?;
                let part = self.text_arg(name, value(1), arg(1))?;
                let expr = match name {
                    "contains" => s.str().contains_literal(part),
                    "starts_with" => s.str().starts_with(part),
                    _ => s.str().ends_with(part),
                };
                Value::new(expr, Ty::Bool)
            }
            "replace" => {
                let s = self.text_arg(name, value(0), arg(0))?;
                let from = match &arg(1).kind {
                    Kind::Str(from) if !from.is_empty() => from.clone(),
                    _ => {
                        return Err(error(
                            "the text to replace must be quoted and not empty, as in \
                             `replace(phone, ' ', '')`",
                            arg(1).start,
                        ));
                    }
                };
                let to = self.text_arg(name, value(2), arg(2))?;
                Value::new(s.str().replace_all(lit(from.as_str()), to, true), Ty::Text)
            }
            "substr" => {
                let s = self.text_arg(name, value(0), arg(0))?;
                let start_lit = Self::literal_int(name, "start", arg(1), 1)?;
                let start = self.int_arg(name, value(1), arg(1))?;
                Self::literal_int(name, "length", arg(2), 0)?;
                let length = self.int_arg(name, value(2), arg(2))?;
                Value::new(substr(s, start, start_lit, length), Ty::Text)
            }
            "concat" => {
                let parts: Vec<Expr> = values
                    .iter()
                    .cloned()
                    .map(|v| {
                        if v.ty == Ty::Text {
                            v.expr
                        } else {
                            v.expr.cast(DataType::String)
                        }
                    })
                    .collect();
                Value::new(concat_str(parts, "", true), Ty::Text)
            }
            "to_date" => {
                let value = value(0);
                let expr = match value.ty {
                    Ty::Date => value.expr,
                    Ty::Datetime(..) => value.expr.dt().date(),
                    _ => self.to_date(self.text_arg(name, value, arg(0))?, arg(0))?,
                };
                Value::new(expr, Ty::Date)
            }
            "to_datetime" => {
                let value = value(0);
                let expr = match value.ty {
                    Ty::Datetime(..) => return Ok(value),
                    Ty::Date => value.expr.cast(DataType::Datetime(
                        TimeUnit::Microseconds,
                        Some(TimeZone::UTC),
                    )),
                    _ => self.to_datetime(self.text_arg(name, value, arg(0))?, arg(0))?,
                };
                Value::new(expr, utc_micros())
            }
            "year" | "month" | "day" | "hour" | "weekday" => {
                let d = self.temporal_arg(name, value(0), arg(0), name != "hour")?;
                let expr = match name {
                    "year" => d.dt().year(),
                    "month" => d.dt().month(),
                    "day" => d.dt().day(),
                    "hour" => d.dt().hour(),
                    _ => d.dt().weekday(),
                };
                int(expr)
            }
            "date" => {
                let value = value(0);
                let expr = if value.ty == Ty::Date {
                    value.expr
                } else {
                    self.temporal_arg(name, value, arg(0), true)?.dt().date()
                };
                Value::new(expr, Ty::Date)
            }
            "days_between" => {
                let a = self.temporal_arg(name, value(0), arg(0), true)?;
                let b = self.temporal_arg(name, value(1), arg(1), true)?;
                int((b - a).dt().total_days(false))
            }
            other => {
                return Err(error(
                    format!("function `{other}` is listed but not built; please report this"),
                    node.start,
                ));
            }
        })
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

#[cfg(test)]
mod tests {
    use polars::prelude::{AnyValue, DataType, IntoColumn, IntoLazy, NamedFrom, Series, col, df};

    use super::*;

    /// Eleven columns of every kind the language checks; `day` is also a function name.
    fn frame() -> DataFrame {
        let mut frame = df![
            "id" => [1i64, 2, 3, 4],
            "qty" => [Some(3i64), Some(0), None, Some(10)],
            "price" => [2.5f64, 10.0, 1.25, -3.75],
            "status" => [Some("paid"), Some("sent"), Some("paid"), None],
            "name" => [Some("  Ada Lovelace "), Some("bob"), Some("Émile"), None],
            "active" => [Some(true), Some(false), None, Some(true)],
            "vip" => [true, true, false, false],
            "order total" => [10.0f64, 20.5, 0.0, 7.25],
            "created" => [
                Some("2026-11-25T23:30:00-02:00"),
                Some("2026-11-25"),
                Some("2026-01-05T08:15:00Z"),
                None,
            ],
        ]
        .unwrap();
        // 2026-11-25, 2026-11-20, 2026-01-01, null
        let day = Series::new(
            "day".into(),
            [Some(20782i32), Some(20777), Some(20454), None],
        )
        .cast(&DataType::Date)
        .unwrap();
        // 2026-11-25 23:30 and 06:00, naive, milliseconds
        let seen = Series::new(
            "seen".into(),
            [
                Some(1_795_649_400_000i64),
                Some(1_795_586_400_000),
                None,
                None,
            ],
        )
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
        .unwrap();
        frame.with_column(day.into_column()).unwrap();
        frame.with_column(seen.into_column()).unwrap();
        frame
    }

    fn columns() -> Vec<(String, DataType)> {
        frame()
            .schema()
            .iter()
            .map(|(name, dtype)| (name.to_string(), dtype.clone()))
            .collect()
    }

    fn compiled(text: &str) -> Expr {
        compile(text, &columns()).unwrap_or_else(|e| panic!("`{text}`: {e} (at {})", e.position))
    }

    fn render(value: &AnyValue<'_>) -> String {
        match value {
            AnyValue::Null => "null".into(),
            AnyValue::String(s) => (*s).to_owned(),
            AnyValue::StringOwned(s) => s.to_string(),
            other => other.to_string(),
        }
    }

    /// The value of `text` on each row of the frame.
    fn rows(text: &str) -> Vec<String> {
        let out = frame()
            .lazy()
            .with_column(compiled(text).alias("out"))
            .select([col("out")])
            .collect()
            .unwrap_or_else(|e| panic!("`{text}`: {e}"));
        let column = out.column("out").unwrap().as_materialized_series().clone();
        column.iter().map(|v| render(&v)).collect()
    }

    /// The value of an expression that does not read a column.
    fn value(text: &str) -> String {
        rows(text).swap_remove(0)
    }

    /// The ids of the rows `text` keeps as a filter.
    fn ids(text: &str) -> Vec<i64> {
        let out = frame()
            .lazy()
            .filter(compiled(text))
            .select([col("id")])
            .collect()
            .unwrap_or_else(|e| panic!("`{text}`: {e}"));
        out.column("id")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect()
    }

    fn err(text: &str) -> ExprError {
        match compile(text, &columns()) {
            Ok(expr) => panic!("`{text}` compiled to {expr:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn literals_and_columns() {
        assert_eq!(value("42"), "42");
        assert_eq!(value("2.5"), "2.5");
        assert_eq!(value("1e3"), "1000.0");
        assert_eq!(value("'it''s'"), "it's");
        assert_eq!(value("\"say \"\"hi\"\"\""), "say \"hi\"");
        assert_eq!(value("TRUE"), "true");
        assert_eq!(value("false"), "false");
        assert_eq!(value("null"), "null");
        assert_eq!(rows("`order total`"), ["10.0", "20.5", "0.0", "7.25"]);
        assert_eq!(rows("status"), ["paid", "sent", "paid", "null"]);
        let odd = vec![("*".to_owned(), DataType::Int64)];
        let frame = df!["*" => [5i64], "x" => [6i64]].unwrap();
        let out = frame
            .lazy()
            .select([compile("`*`", &odd).unwrap()])
            .collect()
            .unwrap();
        assert_eq!(out.get_column_names(), ["*"]);
    }

    #[test]
    fn arithmetic() {
        assert_eq!(rows("qty + 1"), ["4", "1", "null", "11"]);
        assert_eq!(rows("qty - 1"), ["2", "-1", "null", "9"]);
        assert_eq!(rows("qty * 2"), ["6", "0", "null", "20"]);
        assert_eq!(rows("-qty"), ["-3", "0", "null", "-10"]);
        assert_eq!(value("-7 % 3"), "2");
        assert_eq!(value("7 % -3"), "-2");
        assert_eq!(value("null + 1"), "null");
    }

    #[test]
    fn division_is_true_division_even_of_integers() {
        assert_eq!(value("7 / 2"), "3.5");
        assert_eq!(rows("qty / 2"), ["1.5", "0.0", "null", "5.0"]);
        assert_eq!(rows("qty / 4 * 4"), ["3.0", "0.0", "null", "10.0"]);
    }

    #[test]
    fn precedence() {
        assert_eq!(value("1 + 2 * 3"), "7");
        assert_eq!(value("(1 + 2) * 3"), "9");
        assert_eq!(value("2 - 3 - 4"), "-5");
        assert_eq!(value("2 * 3 % 4"), "2");
        assert_eq!(value("-2 * 3"), "-6");
        assert_eq!(value("1 + 2 = 3"), "true");
        // `not` binds tighter than `and`, looser than comparisons.
        assert_eq!(
            rows("not active and vip"),
            ["false", "true", "false", "false"]
        );
        assert_eq!(
            rows("not (active and vip)"),
            ["false", "true", "true", "true"]
        );
        assert_eq!(rows("not qty > 2"), ["false", "true", "null", "false"]);
        assert_eq!(
            rows("vip or active and false"),
            ["true", "true", "false", "false"]
        );
        assert_eq!(ids("qty between 0 and 3 and vip"), [1, 2]);
    }

    #[test]
    fn comparisons() {
        assert_eq!(ids("qty = 3"), [1]);
        assert_eq!(ids("qty == 3"), [1]);
        assert_eq!(ids("qty != 3"), [2, 4]);
        assert_eq!(ids("qty <> 3"), [2, 4]);
        assert_eq!(ids("qty < 3"), [2]);
        assert_eq!(ids("qty <= 3"), [1, 2]);
        assert_eq!(ids("qty > 3"), [4]);
        assert_eq!(ids("qty >= 3"), [1, 4]);
        assert_eq!(ids("price > qty"), [2]);
        assert_eq!(ids("status = 'paid'"), [1, 3]);
        assert_eq!(ids("name < 'b'"), [1]);
        assert_eq!(ids("active = true"), [1, 4]);
        assert_eq!(ids("active"), [1, 4]);
    }

    #[test]
    fn logic_follows_sql_with_nulls() {
        assert_eq!(rows("active or vip"), ["true", "true", "null", "true"]);
        assert_eq!(rows("active and vip"), ["true", "false", "false", "false"]);
        assert_eq!(rows("active or true"), ["true"; 4]);
        assert_eq!(rows("active and false"), ["false"; 4]);
        assert_eq!(rows("not active"), ["false", "true", "null", "false"]);
        assert_eq!(rows("null or true"), ["true"; 4]);
    }

    #[test]
    fn null_tests_and_comparisons_with_nulls() {
        assert_eq!(ids("qty is null"), [3]);
        assert_eq!(ids("qty is not null"), [1, 2, 4]);
        assert_eq!(
            ids("status IS NOT NULL and name Is Null"),
            Vec::<i64>::new()
        );
        assert_eq!(rows("qty > 0"), ["true", "false", "null", "true"]);
        assert_eq!(rows("qty is null"), ["false", "false", "true", "false"]);
        // A null comparison drops the row from a filter, whichever way it is asked.
        assert_eq!(ids("qty != 0"), [1, 4]);
        assert_eq!(ids("not qty = 0"), [1, 4]);
    }

    #[test]
    fn in_and_not_in() {
        assert_eq!(ids("status in ('paid', 'sent')"), [1, 2, 3]);
        assert_eq!(ids("status IN ('sent')"), [2]);
        assert_eq!(ids("status not in ('paid')"), [2]);
        assert_eq!(ids("qty in (0, 10)"), [2, 4]);
        assert_eq!(ids("qty not in (0, 10)"), [1]);
        assert_eq!(ids("qty in (1 + 2, 5 * 2)"), [1, 4]);
        assert_eq!(ids("day in ('2026-11-20', '2026-01-01')"), [2, 3]);
        let many: Vec<String> = (0..500).map(|i| (i * 10).to_string()).collect();
        assert_eq!(ids(&format!("qty in ({})", many.join(", "))), [2, 4]);
    }

    #[test]
    fn between_is_inclusive() {
        assert_eq!(ids("price between 1.25 and 2.5"), [1, 3]);
        assert_eq!(ids("price not between 1.25 and 2.5"), [2, 4]);
        assert_eq!(ids("qty between 0 and 3"), [1, 2]);
        assert_eq!(ids("day between '2026-11-01' and '2026-11-30'"), [1, 2]);
    }

    #[test]
    fn conditional_and_null_functions() {
        assert_eq!(rows("if(qty > 0, 'in', 'out')"), ["in", "out", "out", "in"]);
        assert_eq!(rows("IF(active, 1, 2.5)"), ["1.0", "2.5", "2.5", "1.0"]);
        assert_eq!(rows("coalesce(qty, -1)"), ["3", "0", "-1", "10"]);
        assert_eq!(
            rows("coalesce(status, name, 'none')"),
            ["paid", "sent", "paid", "none"]
        );
    }

    #[test]
    fn number_functions() {
        assert_eq!(rows("abs(price)"), ["2.5", "10.0", "1.25", "3.75"]);
        assert_eq!(rows("abs(-qty)"), ["3", "0", "null", "10"]);
        assert_eq!(rows("round(price, 0)"), ["3.0", "10.0", "1.0", "-4.0"]);
        assert_eq!(value("round(1.25, 1)"), "1.3");
        assert_eq!(value("round(-2.5, 0)"), "-3.0");
        assert_eq!(value("round(7, 2)"), "7");
        assert_eq!(rows("floor(price)"), ["2.0", "10.0", "1.0", "-4.0"]);
        assert_eq!(rows("ceil(price)"), ["3.0", "10.0", "2.0", "-3.0"]);
    }

    #[test]
    fn text_functions() {
        assert_eq!(
            rows("lower(name)"),
            ["  ada lovelace ", "bob", "émile", "null"]
        );
        assert_eq!(
            rows("upper(name)"),
            ["  ADA LOVELACE ", "BOB", "ÉMILE", "null"]
        );
        assert_eq!(rows("trim(name)"), ["Ada Lovelace", "bob", "Émile", "null"]);
        assert_eq!(rows("length(name)"), ["15", "3", "5", "null"]);
        assert_eq!(value("length('') = 0"), "true");
        assert_eq!(
            rows("contains(name, 'o')"),
            ["true", "true", "false", "null"]
        );
        // Plain text, not a pattern.
        assert_eq!(value("contains('abc', '.')"), "false");
        assert_eq!(value("contains('a.c', '.')"), "true");
        assert_eq!(
            rows("starts_with(status, 'pa')"),
            ["true", "false", "true", "null"]
        );
        assert_eq!(
            rows("ends_with(status, 'nt')"),
            ["false", "true", "false", "null"]
        );
        assert_eq!(value("replace('a.b.c', '.', '-')"), "a-b-c");
        assert_eq!(value("replace('1 2', ' ', '$0')"), "1$02");
        assert_eq!(
            rows("replace(status, 'a', upper(status))"),
            ["pPAIDid", "sent", "pPAIDid", "null"]
        );
        assert_eq!(value("substr('abcdef', 2, 3)"), "bcd");
        assert_eq!(value("substr('abcdef', 5, 10)"), "ef");
        assert_eq!(value("substr('abcdef', 1, 0)"), "");
        // A start below 1 cuts the part before position 1, as in SQL.
        assert_eq!(rows("substr(status, qty, 2)"), ["id", "s", "null", "null"]);
        assert_eq!(
            rows("substr(status, 2, length(status) - 2)"),
            ["ai", "en", "ai", "null"]
        );
        assert_eq!(
            rows("concat(status, '-', qty)"),
            ["paid-3", "sent-0", "paid-", "-10"]
        );
        assert_eq!(value("concat('a', 1, 2.5, true, null)"), "a12.5true");
    }

    #[test]
    fn dates() {
        assert_eq!(value("year(to_date('2026-11-25')) = 2026"), "true");
        assert_eq!(
            value("date(to_datetime('2026-11-25T23:30:00-02:00')) = to_date('2026-11-26')"),
            "true"
        );
        // `to_date` keeps the date as written; `date` of text is the UTC date.
        assert_eq!(value("to_date('2026-11-25T23:30:00-02:00')"), "2026-11-25");
        assert_eq!(value("date('2026-11-25T23:30:00-02:00')"), "2026-11-26");
        assert_eq!(
            rows("to_date(created)"),
            ["2026-11-25", "2026-11-25", "2026-01-05", "null"]
        );
        assert_eq!(
            rows("date(created)"),
            ["2026-11-26", "2026-11-25", "2026-01-05", "null"]
        );
        assert_eq!(rows("hour(created)"), ["1", "0", "8", "null"]);
        assert_eq!(rows("year(day)"), ["2026", "2026", "2026", "null"]);
        assert_eq!(rows("month(day)"), ["11", "11", "1", "null"]);
        assert_eq!(rows("day(day)"), ["25", "20", "1", "null"]);
        assert_eq!(rows("weekday(day)"), ["3", "5", "4", "null"]);
        assert_eq!(rows("month(day) * 100"), ["1100", "1100", "100", "null"]);
        assert_eq!(
            rows("days_between(day, to_date('2026-12-01'))"),
            ["6", "11", "334", "null"]
        );
        assert_eq!(
            value("days_between('2026-11-25T10:00:00Z', '2026-11-20T12:00:00Z')"),
            "-4"
        );
        assert_eq!(ids("day >= '2026-11-21'"), [1]);
        assert_eq!(ids("day = to_date(created)"), [1]);
    }

    #[test]
    fn datetimes() {
        for text in [
            "2026-11-25T23:30:00Z",
            "2026-11-25T23:30:00+00:00",
            "2026-11-25T23:30:00",
            "2026-11-25 23:30:00",
            "2026-11-25T23:30",
            "2026-11-26T00:30:00.000+01:00",
            "2026-11-26T01:30:00+0200",
        ] {
            assert_eq!(
                value(&format!("to_datetime('{text}')")),
                "2026-11-25 23:30:00 UTC",
                "{text}"
            );
        }
        assert_eq!(
            value("to_datetime('2026-11-25T23:30:00.123456Z')"),
            "2026-11-25 23:30:00.123456 UTC"
        );
        assert_eq!(
            value("to_datetime('2026-11-25')"),
            "2026-11-25 00:00:00 UTC"
        );
        assert_eq!(rows("hour(seen)"), ["23", "6", "null", "null"]);
        // A naive datetime column compares with text read as the same wall-clock time.
        assert_eq!(ids("seen > '2026-11-25T12:00:00'"), [1]);
        assert_eq!(ids("seen > to_datetime('2026-11-25T12:00:00')"), [1]);
        assert_eq!(ids("date(seen) = day"), [1]);
    }

    #[test]
    fn every_function_example_compiles() {
        let text = DataType::String;
        let number = DataType::Float64;
        let columns: Vec<(String, DataType)> = [
            ("qty", DataType::Int64),
            ("nickname", text.clone()),
            ("name", text.clone()),
            ("balance", number.clone()),
            ("price", number.clone()),
            ("rating", number.clone()),
            ("weight", number),
            ("email", text.clone()),
            ("country", text.clone()),
            ("code", text.clone()),
            ("title", text.clone()),
            ("sku", text.clone()),
            ("phone", text.clone()),
            ("postcode", text.clone()),
            ("first_name", text.clone()),
            ("last_name", text.clone()),
            ("due", text.clone()),
            ("created_at", text.clone()),
            ("updated_at", text.clone()),
            ("ordered_at", text.clone()),
            ("shipped_at", text),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_owned(), t))
        .collect();
        let docs = include_str!("expr.rs");
        for (name, signature, example) in FUNCTIONS {
            assert!(signature.starts_with(&format!("{name}(")), "{signature}");
            assert!(example.contains(&format!("{name}(")), "{example}");
            if let Err(e) = compile(example, &columns) {
                panic!("`{example}`: {e}");
            }
            assert!(
                docs.contains(&format!("//! | `{signature}` |")),
                "`{signature}` is not in the module docs"
            );
        }
    }

    #[test]
    fn unknown_column_suggests_the_closest() {
        let e = err("qty > 1 and stauts = 'paid'");
        assert_eq!(e.message, "no column `stauts`; did you mean `status`?");
        assert_eq!(e.position, 12);
        assert_eq!(
            err("qyt > 1").message,
            "no column `qyt`; did you mean `qty`?"
        );
        assert_eq!(
            err("Price").message,
            "no column `Price`; did you mean `price`?"
        );
        assert_eq!(
            err("`order totl` > 1").message,
            "no column `order totl`; did you mean `order total`?"
        );
    }

    #[test]
    fn unknown_column_lists_the_columns() {
        let e = err("zzzz = 1");
        assert_eq!(
            e.message,
            "no column `zzzz`; the columns are `id`, `qty`, `price`, `status`, `name`, \
             `active`, `vip`, `order total`, `created`, `day` and 1 more (quote a name with \
             spaces in backticks)"
        );
        assert_eq!(e.position, 0);
        assert_eq!(
            compile("a", &[]).unwrap_err().message,
            "no column `a`: the input has no columns"
        );
    }

    #[test]
    fn unknown_function_suggests_the_closest() {
        let e = err("lowr(name) = 'bob'");
        assert_eq!(e.message, "no function `lowr`; did you mean `lower`?");
        assert_eq!(e.position, 0);
        assert_eq!(
            err("1 + STARTSWITH(name, 'b')").message,
            "no function `STARTSWITH`; did you mean `starts_with`?"
        );
        assert!(
            err("frobnicate(name)")
                .message
                .starts_with("no function `frobnicate`; the functions are if, coalesce, abs,")
        );
    }

    #[test]
    fn wrong_arity_names_the_signature() {
        let e = err("qty + round(price)");
        assert_eq!(
            e.message,
            "`round` takes 2 arguments, not 1: round(x, digits)"
        );
        assert_eq!(e.position, 6);
        assert_eq!(
            err("LOWER(name, 'x')").message,
            "`lower` takes 1 argument, not 2: lower(text)"
        );
        assert_eq!(
            err("concat(name)").message,
            "`concat` takes at least 2 arguments, not 1: concat(a, b, ...)"
        );
    }

    #[test]
    fn unterminated_strings() {
        let e = err("status = 'paid");
        assert_eq!(
            e.message,
            "unterminated string: the ' at position 9 is never closed; end it with ' (write '' \
             for a ' inside)"
        );
        assert_eq!(e.position, 9);
        assert_eq!(err("name = \"bob").position, 7);
        assert!(
            err("`order total > 1")
                .message
                .starts_with("unterminated column name")
        );
    }

    #[test]
    fn syntax_errors() {
        let e = err("qty > 1 and and vip");
        assert_eq!(e.message, "unexpected `and` at position 12");
        assert_eq!(e.position, 12);
        let e = err("round(price, 2");
        assert_eq!(e.message, "expected `)` after the arguments of `round`");
        assert_eq!(e.position, 14);
        assert_eq!(
            err("round(price 2)").message,
            "expected `,` or `)` after an argument of `round`, not `2`"
        );
        assert_eq!(
            err("").message,
            "empty expression; write a condition such as `status = 'paid'`"
        );
        assert_eq!(err("   ").position, 0);
        let e = err("qty >");
        assert_eq!(
            e.message,
            "the expression ends too early: expected a value after `>`"
        );
        assert_eq!(e.position, 5);
        let e = err("(qty > 1");
        assert_eq!(e.message, "expected `)` to close the `(` at position 0");
        assert_eq!(err("qty > 1)").message, "unexpected `)` at position 7");
        assert_eq!(err("qty 1").message, "unexpected `1` at position 4");
        assert_eq!(
            err("vip = not(active)").message,
            "unexpected `not` at position 6"
        );
        assert_eq!(
            err("qty && vip").message,
            "unexpected character `&` at position 4; write `and`"
        );
        assert_eq!(
            err("1 < qty < 5").message,
            "comparisons cannot be chained; join them with `and`, as in `a < b and b < c`"
        );
        assert!(
            err("qty is 3")
                .message
                .starts_with("expected `null` or `not null`")
        );
        assert!(
            err("qty in 3")
                .message
                .starts_with("expected `(` after `in`")
        );
        assert!(
            err("qty between 1, 3")
                .message
                .starts_with("expected `and`")
        );
        assert!(err("qty in ()").message.starts_with("an `in` list needs"));
        // Positions count characters, not bytes.
        let e = err("'é' = nme");
        assert_eq!(e.position, 6);
        assert_eq!(err("'é' + ö").position, 6);
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(err(&deep).message.contains("nests more than"));
    }

    #[test]
    fn arithmetic_on_text_is_refused() {
        let e = err("status + name");
        assert_eq!(
            e.message,
            "`+` does not join text; write concat(status, name)"
        );
        assert_eq!(e.position, 7);
        let e = err("qty + status * 2");
        assert_eq!(e.message, "`*` needs numbers, but `status` is text");
        assert_eq!(e.position, 6);
        assert_eq!(
            err("qty + 'a'").message,
            "`+` needs numbers, but `'a'` is text; join text with concat(a, b)"
        );
        assert_eq!(
            err("-name").message,
            "`-` needs numbers, but `name` is text"
        );
        assert!(err("day - day").message.contains("days_between(a, b)"));
    }

    #[test]
    fn type_errors() {
        let e = err("qty and vip");
        assert_eq!(
            e.message,
            "`and` needs true/false values, but `qty` is a number; compare it, as in `qty > 0`"
        );
        assert_eq!(e.position, 0);
        assert_eq!(
            err("vip or status").message,
            "`or` needs true/false values, but `status` is text; compare it, as in \
             `status = 'yes'`"
        );
        assert!(
            err("not price")
                .message
                .starts_with("`not` needs true/false values")
        );
        assert!(
            err("if(qty, 1, 2)")
                .message
                .starts_with("`if` needs true/false values")
        );
        let e = err("status = 1");
        assert_eq!(
            e.message,
            "cannot compare `status` (text) with `1` (a number); to compare as text, quote \
             the number: '1'"
        );
        assert_eq!(e.position, 7);
        assert!(
            err("status in ('paid', 2)")
                .message
                .starts_with("cannot compare")
        );
        assert_eq!(
            err("qty = null").message,
            "a comparison with null is never true; write `qty is null`"
        );
        assert_eq!(
            err("null <> status").message,
            "a comparison with null is never true; write `status is not null`"
        );
        assert!(
            err("qty in (1, null)")
                .message
                .contains("`qty is null or qty in (...)`")
        );
        assert_eq!(
            err("lower(qty)").message,
            "`lower` needs text, but `qty` is a number"
        );
        assert_eq!(
            err("abs(name)").message,
            "`abs` needs a number, but `name` is text"
        );
        assert_eq!(
            err("hour(day)").message,
            "`hour` needs a datetime, but `day` is a date"
        );
        assert!(
            err("year(qty)")
                .message
                .contains("a date, a datetime or text")
        );
        assert!(
            err("round(price, qty)")
                .message
                .starts_with("the digits of `round`")
        );
        assert!(
            err("round(price, -1)")
                .message
                .starts_with("the digits of `round`")
        );
        assert!(err("substr(name, 0, 2)").message.contains("at least 1"));
        assert!(
            err("replace(name, name, '')")
                .message
                .contains("must be quoted")
        );
        let e = err("day > '2026-13-01'");
        assert_eq!(
            e.message,
            "`'2026-13-01'` is not a date; write dates as 'YYYY-MM-DD'"
        );
        assert_eq!(e.position, 6);
        assert!(
            err("to_datetime('yesterday')")
                .message
                .contains("is not a datetime")
        );
    }
}
