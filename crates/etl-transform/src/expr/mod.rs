//! The expression language of the `filter:` and `with_columns:` steps, compiled to a polars
//! [`Expr`].
//!
//! ```text
//! status in ('paid', 'sent') and total >= 100
//! round(price * qty, 2)
//! year(created_at) = 2026 and not contains(lower(email), '@example.')
//! ```
//!
//! [`compile()`] reads the text against the columns of the input (names and types), so a typo or
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
//!
//! # Inside
//!
//! [`compile()`] reads the text in three stages: `lex` cuts it into tokens, `parse` builds the
//! syntax tree (`ast`, one method per precedence level), and `compile` checks names and types
//! (`types`) while it builds the polars expression; `functions` holds the function table and
//! one builder per family of functions.

mod ast;
mod compile;
mod error;
mod functions;
mod lex;
mod parse;
mod types;

use polars::prelude::{DataType, Expr};

pub use error::ExprError;
pub use functions::FUNCTIONS;
pub(crate) use types::{text_to_date, text_to_datetime_in};

/// Compiles `text` to a polars expression over a frame with `columns` (name and type).
///
/// Syntax errors come first, then unknown names and type errors, each with the char position
/// in `text`. The expression is not given an output name: alias it as needed.
pub fn compile(text: &str, columns: &[(String, DataType)]) -> Result<Expr, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let tree = parse::parse(&chars)?;
    compile::Compiler::new(&chars, columns).compile(&tree)
}

#[cfg(test)]
mod tests {
    use polars::prelude::{
        AnyValue, DataFrame, DataType, IntoColumn, IntoLazy, NamedFrom, Series, TimeUnit, col, df,
    };

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
        let docs = include_str!("mod.rs");
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
            err("frobnicate(name)").message.starts_with(
                "no function `frobnicate`; the functions are `if`, `coalesce`, `abs`,"
            )
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
