//! `format: csv`: the `csv:` block as written ([`CsvSpec`]), checked ([`CsvOptions`]), and
//! the writer. List, array and struct columns are written as JSON text, the same JSON the
//! ndjson sink writes for them (`["a","b"]`, `{"k":1}`, `null` inside), quoted like any
//! other text; a missing list is a missing value (`csv.null`).

use std::collections::HashMap;
use std::io::Write;

use etl_config::{ConfigError, KeyPath, quote_list};
use polars::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, Problems, problem};
use crate::ndjson;

/// `csv: { delimiter, header, quote_style, quote_char, null, float_precision, date_format,
/// datetime_format }`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct CsvSpec {
    /// One ASCII character (default `,`).
    pub delimiter: Option<String>,
    /// Write a header line (default `true`).
    pub header: Option<bool>,
    /// When fields are quoted: `necessary` (default: fields holding the delimiter, the quote
    /// character or a line break), `always`, `non_numeric` (every field that is not a number)
    /// or `never` (not even when needed, which can make the file unreadable).
    #[schemars(with = "Option<QuoteStyle>")]
    pub quote_style: Option<String>,
    /// One ASCII character that quotes fields (default `"`); doubled inside a quoted field.
    pub quote_char: Option<String>,
    /// Text written for a missing value (default: nothing, an empty field). Quote it: YAML
    /// reads an unquoted `NULL`, `null` or `~` as no value, which is refused.
    // `Some(None)`: the key given a YAML null.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "String")]
    pub null: Option<Option<String>>,
    /// Digits after the decimal point for floating-point columns (default: the shortest text
    /// that reads back as the same number).
    pub float_precision: Option<usize>,
    /// strftime format for date columns (default ISO 8601, `%Y-%m-%d`).
    pub date_format: Option<String>,
    /// strftime format for datetime columns (default ISO 8601, `%Y-%m-%dT%H:%M:%S` with the
    /// column's fraction of a second, and `%z` when it has a time zone).
    pub datetime_format: Option<String>,
}

/// A key that is present, even with a null value: `Some(None)`.
#[expect(
    clippy::option_option,
    reason = "absent, YAML null or text: serde's idiom"
)]
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `csv.quote_style`: when fields are quoted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, schemars::JsonSchema)]
#[schemars(rename_all = "snake_case")]
pub enum QuoteStyle {
    /// Only fields holding the delimiter, the quote character or a line break (default).
    #[default]
    Necessary,
    /// Every field.
    Always,
    /// Every field that is not a number.
    NonNumeric,
    /// No field, even when needed.
    Never,
}

impl QuoteStyle {
    /// Every style, as written in YAML.
    pub const NAMES: [&'static str; 4] = ["necessary", "always", "non_numeric", "never"];

    pub fn name(self) -> &'static str {
        match self {
            QuoteStyle::Necessary => "necessary",
            QuoteStyle::Always => "always",
            QuoteStyle::NonNumeric => "non_numeric",
            QuoteStyle::Never => "never",
        }
    }

    /// The style named `name` as written in YAML.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "necessary" => Some(QuoteStyle::Necessary),
            "always" => Some(QuoteStyle::Always),
            "non_numeric" => Some(QuoteStyle::NonNumeric),
            "never" => Some(QuoteStyle::Never),
            _ => None,
        }
    }

    fn polars(self) -> polars::prelude::QuoteStyle {
        match self {
            QuoteStyle::Necessary => polars::prelude::QuoteStyle::Necessary,
            QuoteStyle::Always => polars::prelude::QuoteStyle::Always,
            QuoteStyle::NonNumeric => polars::prelude::QuoteStyle::NonNumeric,
            QuoteStyle::Never => polars::prelude::QuoteStyle::Never,
        }
    }
}

/// The largest `csv.float_precision`: beyond it digits are noise for an `f64`.
const MAX_FLOAT_PRECISION: usize = 30;

/// The options of a csv sink, checked ([`CsvSpec`] with its defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// One ASCII byte, not `"` or a line break.
    pub delimiter: u8,
    pub header: bool,
    pub quote_style: QuoteStyle,
    /// One visible ASCII byte, not the delimiter.
    pub quote_char: u8,
    /// `csv.null`: text written for a missing value.
    pub null: String,
    pub float_precision: Option<usize>,
    pub date_format: Option<String>,
    pub datetime_format: Option<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: b',',
            header: true,
            quote_style: QuoteStyle::default(),
            quote_char: b'"',
            null: String::new(),
            float_precision: None,
            date_format: None,
            datetime_format: None,
        }
    }
}

impl CsvSpec {
    /// The options, checked; every problem is reported under `at` (`sinks.<name>.csv`).
    pub(crate) fn build(&self, at: KeyPath) -> Result<CsvOptions, Vec<ConfigError>> {
        let mut p = Problems::new(at);
        let default = CsvOptions::default();
        let delimiter = p
            .keep("delimiter", delimiter(self.delimiter.as_deref()))
            .flatten()
            .unwrap_or(default.delimiter);
        let quote_style = p
            .keep("quote_style", quote_style(self.quote_style.as_deref()))
            .flatten()
            .unwrap_or(default.quote_style);
        let quote_char = p
            .keep(
                "quote_char",
                quote_char(self.quote_char.as_deref(), delimiter),
            )
            .flatten()
            .unwrap_or(default.quote_char);
        let null = p
            .keep("null", null(self.null.as_ref(), delimiter, quote_char))
            .unwrap_or_default();
        if let Some(n) = self.float_precision.filter(|n| *n > MAX_FLOAT_PRECISION) {
            let message = format!("`{n}` is too many digits");
            let hint = format!("use 0 to {MAX_FLOAT_PRECISION}");
            p.push("float_precision", problem(message).with_hint(hint));
        }
        if let Some(f) = &self.date_format {
            p.keep("date_format", check_strftime(f, false));
        }
        if let Some(f) = &self.datetime_format {
            p.keep("datetime_format", check_strftime(f, true));
        }
        p.finish(Some(CsvOptions {
            delimiter,
            header: self.header.unwrap_or(default.header),
            quote_style,
            quote_char,
            null,
            float_precision: self.float_precision,
            date_format: self.date_format.clone(),
            datetime_format: self.datetime_format.clone(),
        }))
    }
}

/// `delimiter`, if given: `\t` written as two characters is a tab.
fn delimiter(given: Option<&str>) -> Result<Option<u8>, ConfigError> {
    let Some(d) = given else { return Ok(None) };
    let d = if d == "\\t" { "\t" } else { d };
    match d.as_bytes() {
        [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Ok(Some(*b)),
        _ => Err(problem(format!(
            "`{d}` must be one ASCII character other than `\"` or a newline, e.g. `;` or `\\t`"
        ))),
    }
}

fn quote_style(given: Option<&str>) -> Result<Option<QuoteStyle>, ConfigError> {
    let Some(style) = given else { return Ok(None) };
    match QuoteStyle::from_name(style) {
        Some(s) => Ok(Some(s)),
        None => Err(problem(format!("`{style}` is not accepted"))
            .with_hint(format!("use one of {}", quote_list(&QuoteStyle::NAMES)))),
    }
}

fn quote_char(given: Option<&str>, delimiter: u8) -> Result<Option<u8>, ConfigError> {
    let Some(q) = given else { return Ok(None) };
    match q.as_bytes() {
        [b] if b.is_ascii_graphic() && *b != delimiter => Ok(Some(*b)),
        _ => Err(problem(format!(
            "`{}` must be one visible ASCII character other than the delimiter, e.g. `\"` or \
             `'`",
            q.escape_debug()
        ))),
    }
}

/// `null`: text that reads back as a missing value.
fn null(given: Option<&Option<String>>, delimiter: u8, quote: u8) -> Result<String, ConfigError> {
    let text = match given {
        Some(None) => {
            return Err(
                problem("is YAML's null (`NULL`, `null` and `~` all are), not text").with_hint(
                    "quote the text, e.g. `null: \"NULL\"`, or leave `null` out for empty fields",
                ),
            );
        }
        Some(Some(text)) => text.clone(),
        None => String::new(),
    };
    if text
        .bytes()
        .any(|b| matches!(b, b'\n' | b'\r') || b == delimiter || b == quote)
    {
        return Err(problem(format!(
            "`{}` would not read back: it holds the delimiter, the quote character or a line \
             break",
            text.escape_debug()
        ))
        .with_hint("use text such as `NA` or `\\N`"));
    }
    Ok(text)
}

/// Whether `format` is a strftime format for a date, or for a datetime (which may show a
/// time zone: whether the column has one is only known when the data is written).
fn check_strftime(format: &str, datetime: bool) -> Result<(), ConfigError> {
    use std::fmt::Write;

    use chrono::format::{Item, StrftimeItems};

    if format.is_empty() {
        return Err(problem("is empty").with_hint("give a strftime format such as `%Y-%m-%d`"));
    }
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(
            problem(format!("`{format}` is not a strftime format")).with_hint(
                "see https://docs.rs/chrono/latest/chrono/format/strftime/ (e.g. `%Y-%m-%d %H:%M`)",
            ),
        );
    }
    let mut out = String::new();
    let formatted = if datetime {
        let sample = chrono::DateTime::<chrono::Utc>::default().fixed_offset();
        write!(out, "{}", sample.format(format))
    } else {
        write!(out, "{}", chrono::NaiveDate::default().format(format))
    };
    match formatted {
        Ok(()) => Ok(()),
        Err(_) if datetime => Err(problem(format!("`{format}` cannot format a date and time"))),
        Err(_) => Err(problem(format!(
            "`{format}` cannot format a date: it asks for a time of day or a time zone, which \
             dates do not have"
        ))
        .with_hint("use `datetime_format` for datetime columns")),
    }
}

impl CsvOptions {
    /// The options that differ from the defaults: key and value as shown.
    pub(crate) fn describe(&self) -> Vec<(&'static str, String)> {
        let d = Self::default();
        let byte = |b: u8| format!("`{}`", char::from(b).escape_debug());
        let text = |t: &str| format!("`{}`", t.escape_debug());
        [
            (self.delimiter != d.delimiter).then(|| ("delimiter", byte(self.delimiter))),
            (self.header != d.header).then(|| ("header", self.header.to_string())),
            (self.quote_style != d.quote_style)
                .then(|| ("quote_style", self.quote_style.name().to_owned())),
            (self.quote_char != d.quote_char).then(|| ("quote_char", byte(self.quote_char))),
            (self.null != d.null).then(|| ("null", text(&self.null))),
            self.float_precision
                .map(|n| ("float_precision", n.to_string())),
            self.date_format
                .as_deref()
                .map(|f| ("date_format", text(f))),
            self.datetime_format
                .as_deref()
                .map(|f| ("datetime_format", text(f))),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub(crate) fn write(
        &self,
        df: &mut DataFrame,
        sink: &str,
        out: &mut impl Write,
    ) -> Result<(), Error> {
        let mut encoded = nested_as_json(df, sink)?;
        let df = encoded.as_mut().unwrap_or(df);
        CsvWriter::new(out)
            .include_header(self.header)
            .with_separator(self.delimiter)
            .with_quote_char(self.quote_char)
            .with_quote_style(self.quote_style.polars())
            .with_null_value(self.null.as_str().into())
            .with_float_precision(self.float_precision)
            .with_date_format(self.date_format.as_deref().map(Into::into))
            .with_datetime_format(self.datetime_format.as_deref().map(Into::into))
            .finish(df)
            .map_err(|e| Error::data(sink, e))
    }
}

/// A copy of `df` whose list, array and struct columns are JSON text, or `None` when it has
/// none. The other columns are shared, not copied.
///
/// The nested columns go through the ndjson sink's writer (one object per row) and each value
/// is cut out of its row unchanged, so a cell holds exactly what the ndjson sink would write.
pub(crate) fn nested_as_json(df: &DataFrame, sink: &str) -> Result<Option<DataFrame>, Error> {
    let nested: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| c.dtype().is_nested())
        .map(|c| c.name().clone())
        .collect();
    if nested.is_empty() {
        return Ok(None);
    }
    let mut part = df
        .select(nested.iter().cloned())
        .map_err(|e| Error::data(sink, e))?;
    let mut lines = Vec::new();
    ndjson::write(&mut part, sink, &mut lines)?;
    let mut cells: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(df.height()); nested.len()];
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let row: HashMap<String, &RawValue> = serde_json::from_slice(line).map_err(|e| {
            Error::data(
                sink,
                format!("cannot encode a list or struct column as JSON: {e}"),
            )
        })?;
        for (name, column) in nested.iter().zip(&mut cells) {
            let value = row.get(name.as_str()).map(|v| v.get());
            column.push(value.filter(|v| *v != "null").map(str::to_owned));
        }
    }
    let mut out = df.clone();
    for (name, column) in nested.into_iter().zip(cells) {
        if column.len() != df.height() {
            return Err(Error::data(
                sink,
                format!(
                    "cannot encode column `{name}` as JSON: {} values for {} rows",
                    column.len(),
                    df.height()
                ),
            ));
        }
        let text = Column::new(name.clone(), column);
        out.replace(name.as_str(), text)
            .map_err(|e| Error::data(sink, e))?;
    }
    Ok(Some(out))
}
