use std::path::PathBuf;

use serde::Deserialize;

use crate::Error;
use crate::path::{PathTemplate, RenderVars};

/// One entry of `sinks`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SinkSpec {
    /// The transform or source to write.
    pub from: String,
    /// `csv`, `parquet` or `ndjson`.
    pub format: Format,
    /// Where to write, relative to the working directory; may use `{pipeline}`, `{sink}`,
    /// `{date}`, `{timestamp}` and `{run_id}`.
    pub path: String,
    /// What to do when the file exists: `fail` (default) or `overwrite`.
    #[serde(default)]
    pub if_exists: IfExists,
    /// Allow a path outside the working directory. Default `false`.
    #[serde(default)]
    pub allow_outside: bool,
    /// A copy of each file written, replaced atomically on every run: a stable path such as
    /// `reports/{pipeline}_latest.csv` for readers that want the newest report. Same
    /// placeholders and `allow_outside` rule as `path`, and it must differ from `path`.
    /// `if_exists` does not apply: the copy is always replaced. Default: none.
    pub latest: Option<String>,
    /// CSV options.
    pub csv: Option<CsvSpec>,
    /// Parquet options.
    pub parquet: Option<ParquetSpec>,
    /// Rows printed after the run.
    pub preview: Option<PreviewSpec>,
    /// After a successful run, keep only this many files of this sink (the newest), removing
    /// older ones. Needs the placeholders in the file name, not in folders.
    pub keep_last: Option<usize>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Parquet,
    Ndjson,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Ndjson => "ndjson",
        }
    }
}

/// `if_exists`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IfExists {
    /// Fail the run (default): a report is never replaced by accident.
    #[default]
    Fail,
    /// Replace the file atomically.
    Overwrite,
}

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

/// `parquet: { compression, compression_level, row_group_size, statistics }`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ParquetSpec {
    /// `zstd` (default), `snappy`, `gzip`, `lz4` or `uncompressed`.
    pub compression: Option<Compression>,
    /// How hard to compress: 1 to 22 for `zstd` (default 3), 0 to 9 for `gzip` (default 6);
    /// the other codecs take no level.
    pub compression_level: Option<i64>,
    /// About this many rows per row group (default 262144, polars' default): polars splits
    /// the rows into as many equal groups of at least this many as fit, so 1000 rows with 300
    /// give 3 groups of about 333.
    pub row_group_size: Option<usize>,
    /// Write min, max and null-count statistics per column chunk, which lets readers skip row
    /// groups (default `true`).
    pub statistics: Option<bool>,
}

/// Parquet compression codec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Zstd,
    Snappy,
    Gzip,
    Lz4,
    Uncompressed,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
            Compression::Uncompressed => "uncompressed",
        }
    }

    /// The levels this codec accepts, if it takes one.
    pub fn levels(self) -> Option<std::ops::RangeInclusive<u8>> {
        match self {
            Compression::Zstd => Some(1..=22),
            Compression::Gzip => Some(0..=9),
            Compression::Snappy | Compression::Lz4 | Compression::Uncompressed => None,
        }
    }
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
}

/// `preview: { sort_by, descending, rows }`: rows printed after the run.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PreviewSpec {
    /// Column to sort by (default: the file's order).
    pub sort_by: Option<String>,
    /// Sort largest first (default `false`).
    #[serde(default)]
    pub descending: bool,
    /// Rows shown (default 5).
    #[serde(default = "five")]
    pub rows: usize,
}

fn five() -> usize {
    5
}

/// A key that is present, even with a null value: `Some(None)`.
#[expect(
    clippy::option_option,
    reason = "absent, YAML null or text: serde's idiom"
)]
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The largest `csv.float_precision`: beyond it digits are noise for an `f64`.
pub(crate) const MAX_FLOAT_PRECISION: usize = 30;

/// A sink, checked.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub name: String,
    pub from: String,
    pub format: Format,
    pub path: PathTemplate,
    /// `latest`: where the copy of each file goes.
    pub latest: Option<PathTemplate>,
    pub if_exists: IfExists,
    pub delimiter: u8,
    pub header: bool,
    pub quote_style: QuoteStyle,
    pub quote_char: u8,
    /// `csv.null`: text written for a missing value.
    pub null: String,
    pub float_precision: Option<usize>,
    pub date_format: Option<String>,
    pub datetime_format: Option<String>,
    pub compression: Compression,
    /// `parquet.compression_level`, in the range of [`Compression::levels`].
    pub compression_level: Option<u8>,
    pub row_group_size: Option<usize>,
    /// `parquet.statistics`.
    pub statistics: bool,
    pub preview: Option<PreviewSpec>,
    pub keep_last: Option<usize>,
}

impl SinkConfig {
    /// Where the `latest` copy goes in one run, if the sink has one.
    pub fn render_latest(&self, vars: &RenderVars<'_>) -> Option<PathBuf> {
        self.latest.as_ref().map(|t| t.render(vars))
    }
}

/// Collects the problems of one sink, each under its key path.
struct Problems {
    at: String,
    errors: Vec<Error>,
}

impl Problems {
    fn push(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(Error::Config {
            key: format!("{}.{key}", self.at),
            message: message.into(),
        });
    }
}

impl SinkSpec {
    /// Checks the sink without touching the disk; every problem is reported.
    pub fn build(&self, name: &str) -> Result<SinkConfig, Vec<Error>> {
        let mut problems = Problems {
            at: format!("sinks.{name}"),
            errors: Vec::new(),
        };
        let p = &mut problems;
        let path = PathTemplate::parse(&self.path, self.allow_outside)
            .map_err(|message| p.push("path", message))
            .ok();
        let latest = self.latest.as_deref().and_then(|latest| {
            let template = PathTemplate::parse(latest, self.allow_outside)
                .map_err(|message| p.push("latest", message))
                .ok()?;
            if latest == self.path {
                p.push(
                    "latest",
                    format!(
                        "`{latest}` is `path` itself; name another file, e.g. \
                         `reports/{{pipeline}}_latest.csv`"
                    ),
                );
                return None;
            }
            Some(template)
        });
        if self.csv.is_some() && self.format != Format::Csv {
            p.push(
                "csv",
                format!(
                    "applies to `format: csv`, but this sink writes {}",
                    self.format.name()
                ),
            );
        }
        if self.parquet.is_some() && self.format != Format::Parquet {
            p.push(
                "parquet",
                format!(
                    "applies to `format: parquet`, but this sink writes {}",
                    self.format.name()
                ),
            );
        }
        let csv = build_csv(self.csv.as_ref().unwrap_or(&CsvSpec::default()), p);
        let parquet = build_parquet(self.parquet.as_ref().unwrap_or(&ParquetSpec::default()), p);
        if let (Some(n), Some(path)) = (self.keep_last, &path) {
            if n == 0 {
                p.push("keep_last", "must be at least 1 (the file just written)");
            } else if !path.varies_in_file_name_only() {
                p.push(
                    "keep_last",
                    "needs `path` to vary in its file name only (`reports/{pipeline}_{timestamp}.csv`), so that the files of this sink can be found",
                );
            }
        }
        if self.preview.as_ref().is_some_and(|v| v.rows == 0) {
            p.push("preview.rows", "must be at least 1");
        }
        match (path, csv, parquet) {
            (Some(path), Some(csv), Some(parquet)) if problems.errors.is_empty() => {
                Ok(SinkConfig {
                    name: name.to_owned(),
                    from: self.from.clone(),
                    format: self.format,
                    path,
                    latest,
                    if_exists: self.if_exists,
                    delimiter: csv.delimiter,
                    header: csv.header,
                    quote_style: csv.quote_style,
                    quote_char: csv.quote_char,
                    null: csv.null,
                    float_precision: csv.float_precision,
                    date_format: csv.date_format,
                    datetime_format: csv.datetime_format,
                    compression: parquet.compression,
                    compression_level: parquet.compression_level,
                    row_group_size: parquet.row_group_size,
                    statistics: parquet.statistics,
                    preview: self.preview.clone(),
                    keep_last: self.keep_last,
                })
            }
            _ => Err(problems.errors),
        }
    }
}

/// `csv:` checked.
struct Csv {
    delimiter: u8,
    header: bool,
    quote_style: QuoteStyle,
    quote_char: u8,
    null: String,
    float_precision: Option<usize>,
    date_format: Option<String>,
    datetime_format: Option<String>,
}

fn build_csv(spec: &CsvSpec, p: &mut Problems) -> Option<Csv> {
    let before = p.errors.len();
    let mut delimiter = b',';
    if let Some(d) = spec.delimiter.as_deref() {
        let d = if d == "\\t" { "\t" } else { d };
        match d.as_bytes() {
            [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => delimiter = *b,
            _ => p.push(
                "csv.delimiter",
                format!(
                    "`{d}` must be one ASCII character other than `\"` or a newline, e.g. `;` or \
                     `\\t`"
                ),
            ),
        }
    }
    let mut quote_style = QuoteStyle::default();
    if let Some(style) = spec.quote_style.as_deref() {
        match QuoteStyle::from_name(style) {
            Some(s) => quote_style = s,
            None => p.push(
                "csv.quote_style",
                format!(
                    "`{style}` is not accepted; use one of {}",
                    backticked(&QuoteStyle::NAMES)
                ),
            ),
        }
    }
    let mut quote_char = b'"';
    if let Some(q) = spec.quote_char.as_deref() {
        match q.as_bytes() {
            [b] if b.is_ascii_graphic() && *b != delimiter => quote_char = *b,
            _ => p.push(
                "csv.quote_char",
                format!(
                    "`{}` must be one visible ASCII character other than the delimiter, e.g. \
                     `\"` or `'`",
                    q.escape_debug()
                ),
            ),
        }
    }
    let null = match &spec.null {
        Some(None) => {
            p.push(
                "csv.null",
                "is YAML's null (`NULL`, `null` and `~` all are), not text; quote the text, \
                 e.g. `null: \"NULL\"`, or leave `null` out for empty fields",
            );
            String::new()
        }
        Some(Some(text)) => text.clone(),
        None => String::new(),
    };
    if null
        .bytes()
        .any(|b| matches!(b, b'\n' | b'\r') || b == delimiter || b == quote_char)
    {
        p.push(
            "csv.null",
            format!(
                "`{}` would not read back: it holds the delimiter, the quote character or a line \
                 break; use text such as `NA` or `\\N`",
                null.escape_debug()
            ),
        );
    }
    if let Some(n) = spec.float_precision.filter(|n| *n > MAX_FLOAT_PRECISION) {
        p.push(
            "csv.float_precision",
            format!("`{n}` is too many digits; use 0 to {MAX_FLOAT_PRECISION}"),
        );
    }
    if let Some(f) = &spec.date_format {
        if let Err(message) = check_strftime(f, false) {
            p.push("csv.date_format", message);
        }
    }
    if let Some(f) = &spec.datetime_format {
        if let Err(message) = check_strftime(f, true) {
            p.push("csv.datetime_format", message);
        }
    }
    (p.errors.len() == before).then(|| Csv {
        delimiter,
        header: spec.header.unwrap_or(true),
        quote_style,
        quote_char,
        null,
        float_precision: spec.float_precision,
        date_format: spec.date_format.clone(),
        datetime_format: spec.datetime_format.clone(),
    })
}

/// Whether `format` is a strftime format for a date, or for a datetime (which may show a
/// time zone: whether the column has one is only known when the data is written).
fn check_strftime(format: &str, datetime: bool) -> Result<(), String> {
    use std::fmt::Write;

    use chrono::format::{Item, StrftimeItems};

    if format.is_empty() {
        return Err("is empty; give a strftime format such as `%Y-%m-%d`".into());
    }
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!(
            "`{format}` is not a strftime format; see \
             https://docs.rs/chrono/latest/chrono/format/strftime/ (e.g. `%Y-%m-%d %H:%M`)"
        ));
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
        Err(_) if datetime => Err(format!("`{format}` cannot format a date and time")),
        Err(_) => Err(format!(
            "`{format}` cannot format a date: it asks for a time of day or a time zone, which \
             dates do not have; use `datetime_format` for datetime columns"
        )),
    }
}

/// `parquet:` checked.
struct Parquet {
    compression: Compression,
    compression_level: Option<u8>,
    row_group_size: Option<usize>,
    statistics: bool,
}

fn build_parquet(spec: &ParquetSpec, p: &mut Problems) -> Option<Parquet> {
    let before = p.errors.len();
    let compression = spec.compression.unwrap_or_default();
    let mut compression_level = None;
    if let Some(level) = spec.compression_level {
        match compression.levels() {
            None => p.push(
                "parquet.compression_level",
                format!(
                    "`{}` takes no level; use `zstd` (1 to 22) or `gzip` (0 to 9), or leave \
                     `compression_level` out",
                    compression.name()
                ),
            ),
            Some(levels) => match u8::try_from(level).ok().filter(|l| levels.contains(l)) {
                Some(l) => compression_level = Some(l),
                None => p.push(
                    "parquet.compression_level",
                    format!(
                        "`{level}` is not a `{}` level; use {} to {}",
                        compression.name(),
                        levels.start(),
                        levels.end()
                    ),
                ),
            },
        }
    }
    if spec.row_group_size == Some(0) {
        p.push("parquet.row_group_size", "must be at least 1 row");
    }
    (p.errors.len() == before).then(|| Parquet {
        compression,
        compression_level,
        row_group_size: spec.row_group_size,
        statistics: spec.statistics.unwrap_or(true),
    })
}

fn backticked(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages `build` gives for a sink written in YAML, as the user reads them.
    fn errors(yaml: &str) -> Vec<String> {
        let spec: SinkSpec = serde_yaml::from_str(yaml).unwrap();
        match spec.build("report") {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn built(yaml: &str) -> SinkConfig {
        let spec: SinkSpec = serde_yaml::from_str(yaml).unwrap();
        spec.build("report").unwrap()
    }

    #[test]
    fn csv_defaults() {
        let s = built("{ from: t, format: csv, path: r.csv }");
        assert_eq!(
            (
                s.delimiter,
                s.header,
                s.quote_style,
                s.quote_char,
                s.null.as_str()
            ),
            (b',', true, QuoteStyle::Necessary, b'"', "")
        );
        assert_eq!(
            (s.float_precision, s.date_format, s.datetime_format),
            (None, None, None)
        );
        assert!(s.latest.is_none());
    }

    #[test]
    fn every_bad_csv_option_is_reported_at_once_under_its_key() {
        let found = errors(
            "{ from: t, format: csv, path: r.csv, csv: { delimiter: ';', quote_style: sometimes, \
             quote_char: ';', null: 'a;b', float_precision: 31, date_format: '%Y-%m-%d %H', \
             datetime_format: '%Y %Q' } }",
        );
        assert_eq!(
            found,
            [
                "`sinks.report.csv.quote_style`: `sometimes` is not accepted; use one of \
                 `necessary`, `always`, `non_numeric`, `never`",
                "`sinks.report.csv.quote_char`: `;` must be one visible ASCII character other \
                 than the delimiter, e.g. `\"` or `'`",
                "`sinks.report.csv.null`: `a;b` would not read back: it holds the delimiter, the \
                 quote character or a line break; use text such as `NA` or `\\N`",
                "`sinks.report.csv.float_precision`: `31` is too many digits; use 0 to 30",
                "`sinks.report.csv.date_format`: `%Y-%m-%d %H` cannot format a date: it asks for \
                 a time of day or a time zone, which dates do not have; use `datetime_format` \
                 for datetime columns",
                "`sinks.report.csv.datetime_format`: `%Y %Q` is not a strftime format; see \
                 https://docs.rs/chrono/latest/chrono/format/strftime/ (e.g. `%Y-%m-%d %H:%M`)",
            ]
        );
        assert_eq!(
            errors("{ from: t, format: csv, path: r.csv, csv: { quote_char: '' } }"),
            [
                "`sinks.report.csv.quote_char`: `` must be one visible ASCII character other than \
              the delimiter, e.g. `\"` or `'`"
            ]
        );
        assert_eq!(
            errors("{ from: t, format: csv, path: r.csv, csv: { datetime_format: '' } }"),
            [
                "`sinks.report.csv.datetime_format`: is empty; give a strftime format such as \
              `%Y-%m-%d`"
            ]
        );
    }

    #[test]
    fn an_unquoted_null_text_is_refused_not_left_empty() {
        for yaml_null in ["NULL", "null", "~"] {
            assert_eq!(
                errors(&format!(
                    "{{ from: t, format: csv, path: r.csv, csv: {{ null: {yaml_null} }} }}"
                )),
                [
                    "`sinks.report.csv.null`: is YAML's null (`NULL`, `null` and `~` all are), not \
                  text; quote the text, e.g. `null: \"NULL\"`, or leave `null` out for empty \
                  fields"
                ]
            );
        }
        let s = built("{ from: t, format: csv, path: r.csv, csv: { null: 'NULL' } }");
        assert_eq!(s.null, "NULL");
        let s = built("{ from: t, format: csv, path: r.csv, csv: { header: false } }");
        assert_eq!(s.null, "");
    }

    #[test]
    fn good_csv_options_are_kept() {
        let s = built(
            "{ from: t, format: csv, path: r.csv, csv: { delimiter: '\\t', quote_style: \
             non_numeric, quote_char: \"'\", null: NA, float_precision: 0, date_format: '%d.%m.%Y', \
             datetime_format: '%Y-%m-%dT%H:%M:%S%z' } }",
        );
        assert_eq!(
            (s.delimiter, s.quote_style, s.quote_char, s.null.as_str()),
            (b'\t', QuoteStyle::NonNumeric, b'\'', "NA")
        );
        assert_eq!(s.float_precision, Some(0));
        assert_eq!(s.date_format.as_deref(), Some("%d.%m.%Y"));
        assert_eq!(s.datetime_format.as_deref(), Some("%Y-%m-%dT%H:%M:%S%z"));
        for name in QuoteStyle::NAMES {
            assert_eq!(
                QuoteStyle::from_name(name).map(QuoteStyle::name),
                Some(name)
            );
        }
    }

    #[test]
    fn options_of_another_format_are_refused() {
        assert_eq!(
            errors("{ from: t, format: parquet, path: r, csv: { quote_style: always } }"),
            ["`sinks.report.csv`: applies to `format: csv`, but this sink writes parquet"]
        );
        assert_eq!(
            errors("{ from: t, format: csv, path: r, parquet: { statistics: false } }"),
            ["`sinks.report.parquet`: applies to `format: parquet`, but this sink writes csv"]
        );
    }

    #[test]
    fn parquet_levels_and_row_groups_are_checked() {
        let cases = [
            (
                "{ compression_level: 23 }",
                "`sinks.report.parquet.compression_level`: `23` is not a `zstd` level; use 1 to 22",
            ),
            (
                "{ compression: zstd, compression_level: 0 }",
                "`sinks.report.parquet.compression_level`: `0` is not a `zstd` level; use 1 to 22",
            ),
            (
                "{ compression: gzip, compression_level: 10 }",
                "`sinks.report.parquet.compression_level`: `10` is not a `gzip` level; use 0 to 9",
            ),
            (
                "{ compression: gzip, compression_level: -1 }",
                "`sinks.report.parquet.compression_level`: `-1` is not a `gzip` level; use 0 to 9",
            ),
            (
                "{ compression: snappy, compression_level: 3 }",
                "`sinks.report.parquet.compression_level`: `snappy` takes no level; use `zstd` \
                 (1 to 22) or `gzip` (0 to 9), or leave `compression_level` out",
            ),
            (
                "{ row_group_size: 0 }",
                "`sinks.report.parquet.row_group_size`: must be at least 1 row",
            ),
        ];
        for (parquet, message) in cases {
            assert_eq!(
                errors(&format!(
                    "{{ from: t, format: parquet, path: r, parquet: {parquet} }}"
                )),
                [message],
                "{parquet}"
            );
        }
        let s = built(
            "{ from: t, format: parquet, path: r, parquet: { compression: gzip, \
             compression_level: 0, row_group_size: 1000, statistics: false } }",
        );
        assert_eq!(
            (
                s.compression,
                s.compression_level,
                s.row_group_size,
                s.statistics
            ),
            (Compression::Gzip, Some(0), Some(1000), false)
        );
        let s = built("{ from: t, format: parquet, path: r }");
        assert_eq!(
            (
                s.compression,
                s.compression_level,
                s.row_group_size,
                s.statistics
            ),
            (Compression::Zstd, None, None, true)
        );
    }

    #[test]
    fn latest_follows_the_rules_of_path() {
        let s = built(
            "{ from: t, format: csv, path: 'reports/{pipeline}_{date}.csv', \
             latest: 'reports/{pipeline}_latest.csv' }",
        );
        let vars = RenderVars {
            pipeline: "engagement",
            sink: "report",
            date: "2026-11-26",
            timestamp: "20261126_020000",
            run_id: "20261126_020000-0a1f",
        };
        assert_eq!(
            s.render_latest(&vars),
            Some(PathBuf::from("reports/engagement_latest.csv"))
        );
        assert_eq!(
            errors("{ from: t, format: csv, path: 'r/{sink}.csv', latest: 'r/{sink}.csv' }"),
            [
                "`sinks.report.latest`: `r/{sink}.csv` is `path` itself; name another file, e.g. \
              `reports/{pipeline}_latest.csv`"
            ]
        );
        assert_eq!(
            errors("{ from: t, format: csv, path: r.csv, latest: /tmp/latest.csv }"),
            [
                "`sinks.report.latest`: `/tmp/latest.csv` leaves the working directory; use a \
              relative path inside it, or set `allow_outside: true` on the sink"
            ]
        );
        assert_eq!(
            errors("{ from: t, format: csv, path: r.csv, latest: 'r/{day}.csv' }"),
            [
                "`sinks.report.latest`: `{day}` is not a placeholder; use `{pipeline}`, `{sink}`, \
              `{date}`, `{timestamp}`, `{run_id}`"
            ]
        );
        assert!(
            errors(
                "{ from: t, format: csv, path: r.csv, latest: /tmp/latest.csv, \
                 allow_outside: true }"
            )
            .is_empty()
        );
    }
}
