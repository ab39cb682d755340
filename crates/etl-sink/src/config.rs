//! [`SinkSpec::build`]: a sink as written, checked into a [`SinkConfig`] without touching the
//! disk. The one place where the parts of a sink are checked against each other.

use etl_config::{ConfigError, KeyPath};

use crate::csv::CsvSpec;
use crate::error::{Problems, problem};
use crate::format::{Format, FormatName};
use crate::location::{Location, LocationTemplate};
use crate::object::S3Options;
use crate::parquet::ParquetSpec;
use crate::path::RenderVars;
use crate::spec::{IfExists, PreviewSpec, SinkSpec};
use crate::table::TableOutput;

/// A sink, checked.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub name: String,
    pub from: String,
    /// Where the rows go: a file, or a table of a database.
    pub output: Output,
    pub preview: Option<PreviewSpec>,
}

/// Where a sink's rows go. A file's options and a table's cannot be mixed.
#[derive(Debug, Clone)]
pub enum Output {
    File(FileOutput),
    Table(TableOutput),
}

/// A report file: written whole under a temporary name, then renamed into place (or
/// uploaded, then completed, on `s3://`).
#[derive(Debug, Clone)]
pub struct FileOutput {
    /// The format with its options.
    pub format: Format,
    /// A local path or an `s3://` object (with its `s3` settings).
    pub path: LocationTemplate,
    /// `latest`: where the copy of each file goes.
    pub latest: Option<LocationTemplate>,
    pub if_exists: IfExists,
    pub keep_last: Option<usize>,
}

impl SinkConfig {
    /// The file this sink writes, if it writes one.
    pub fn file(&self) -> Option<&FileOutput> {
        match &self.output {
            Output::File(f) => Some(f),
            Output::Table(_) => None,
        }
    }

    /// `csv`, `parquet`, `ndjson`, `html`, `postgres` or `sqlite`.
    pub fn format_name(&self) -> &'static str {
        match &self.output {
            Output::File(f) => f.format.name(),
            Output::Table(t) => t.database.name(),
        }
    }

    /// Where the rows go, for people: the path template (for an object, with how its bucket
    /// is reached), or the table and its database (credentials masked).
    pub fn describe_target(&self) -> String {
        match &self.output {
            Output::File(f) => match &f.path {
                LocationTemplate::Object(t) => {
                    format!("{} ({})", f.path.as_str(), t.options().describe())
                }
                LocationTemplate::Local(_) => f.path.as_str().to_owned(),
            },
            Output::Table(t) => t.describe(),
        }
    }

    /// Where the `latest` copy goes in one run, if the sink has one.
    pub fn render_latest(&self, vars: &RenderVars<'_>) -> Option<Location> {
        self.file()?.latest.as_ref().map(|t| t.render(vars))
    }
}

impl SinkSpec {
    /// Checks the sink without touching the disk or the network; every problem is reported,
    /// under its key path (`sinks.<name>.csv.delimiter`).
    pub fn build(&self, name: &str) -> Result<SinkConfig, Vec<ConfigError>> {
        let mut p = Problems::new(KeyPath::root().key("sinks").key(name));
        if self.preview.as_ref().is_some_and(|v| v.rows == 0) {
            p.push("preview.rows", problem("must be at least 1"));
        }
        let output = if self.format.is_table() {
            self.refuse_file_keys(&mut p);
            crate::table::build(self, &mut p).map(Output::Table)
        } else {
            self.refuse_table_keys(&mut p);
            self.file_output(&mut p).map(Output::File)
        };
        let built = output.map(|output| SinkConfig {
            name: name.to_owned(),
            from: self.from.clone(),
            output,
            preview: self.preview.clone(),
        });
        p.finish(built)
    }

    /// A file sink's path, copy, format and housekeeping.
    fn file_output(&self, p: &mut Problems) -> Option<FileOutput> {
        let Some(path) = &self.path else {
            p.push(
                "path",
                problem(format!(
                    "is missing: a `{}` sink needs `path`",
                    self.format.name()
                ))
                .with_hint("e.g. `path: reports/{pipeline}_{timestamp}.csv`"),
            );
            return None;
        };
        let s3 = match &self.s3 {
            Some(spec) => spec.build(p).unwrap_or_default(),
            None => S3Options::default(),
        };
        let path = p.keep(
            "path",
            LocationTemplate::parse(path, self.allow_outside, &s3),
        );
        let latest = self
            .latest
            .as_deref()
            .and_then(|latest| p.keep("latest", self.latest(latest, &s3)));
        let on_s3 = path.iter().chain(&latest).any(LocationTemplate::is_object);
        if self.s3.is_some() && !on_s3 && path.is_some() {
            p.push(
                "s3",
                problem("applies to `s3://` locations, but `path` and `latest` are local files")
                    .with_hint("write `path: s3://BUCKET/reports/{pipeline}_{timestamp}.csv`"),
            );
        }
        let format = self.format(p);
        if let (Some(n), Some(path)) = (self.keep_last, &path) {
            p.keep("keep_last", keep_last(n, path));
        }
        Some(FileOutput {
            format: format?,
            path: path?,
            latest,
            if_exists: self.if_exists,
            keep_last: self.keep_last,
        })
    }

    /// Keys of table sinks on a file sink.
    fn refuse_table_keys(&self, p: &mut Problems) {
        let given = [
            ("url", self.url.is_some()),
            ("table", self.table.is_some()),
            ("mode", self.mode.is_some()),
            ("primary_key", self.primary_key.is_some()),
            ("tls", self.tls.is_some()),
        ];
        for (key, _) in given.iter().filter(|(_, given)| *given) {
            p.push(
                key,
                problem(format!(
                    "applies to `format: postgres` or `sqlite`, but this sink writes a {} file",
                    self.format.name()
                )),
            );
        }
    }

    /// Keys of file sinks on a table sink.
    fn refuse_file_keys(&self, p: &mut Problems) {
        let given = [
            ("latest", self.latest.is_some()),
            ("csv", self.csv.is_some()),
            ("parquet", self.parquet.is_some()),
            ("html", self.html.is_some()),
            ("keep_last", self.keep_last.is_some()),
            ("if_exists", self.if_exists != IfExists::Fail),
            ("s3", self.s3.is_some()),
        ];
        for (key, _) in given.iter().filter(|(_, given)| *given) {
            p.push(
                key,
                problem(format!(
                    "applies to file sinks, but this sink writes a `{}` table",
                    self.format.name()
                )),
            );
        }
    }

    /// `latest`: a path (or object) like `path`, but not `path`.
    fn latest(&self, latest: &str, s3: &S3Options) -> Result<LocationTemplate, ConfigError> {
        let template = LocationTemplate::parse(latest, self.allow_outside, s3)?;
        if Some(latest) == self.path.as_deref() {
            return Err(problem(format!("`{latest}` is `path` itself"))
                .with_hint("name another file, e.g. `reports/{pipeline}_latest.csv`"));
        }
        Ok(template)
    }

    /// The format with its options. Both option blocks are checked whatever the format, so
    /// that every problem is reported at once; the block of another format is refused.
    fn format(&self, p: &mut Problems) -> Option<Format> {
        let blocks = [
            ("csv", self.csv.is_some(), FormatName::Csv),
            ("parquet", self.parquet.is_some(), FormatName::Parquet),
            ("html", self.html.is_some(), FormatName::Html),
        ];
        for (key, given, format) in blocks {
            if given && self.format != format {
                let message = format!(
                    "applies to `format: {}`, but this sink writes {}",
                    format.name(),
                    self.format.name()
                );
                p.push(key, problem(message));
            }
        }
        let (no_csv, no_parquet) = (CsvSpec::default(), ParquetSpec::default());
        let csv = self.csv.as_ref().unwrap_or(&no_csv).build(p.key("csv"));
        let parquet = self
            .parquet
            .as_ref()
            .unwrap_or(&no_parquet)
            .build(p.key("parquet"));
        let html = self.html.clone().unwrap_or_default().build(p.key("html"));
        let (csv, parquet, html) = (p.keep_all(csv), p.keep_all(parquet), p.keep_all(html));
        match self.format {
            FormatName::Csv => csv.map(Format::Csv),
            FormatName::Parquet => parquet.map(Format::Parquet),
            FormatName::Ndjson => Some(Format::Ndjson),
            FormatName::Html => html.map(|h| Format::Html(Box::new(h))),
            FormatName::Postgres | FormatName::Sqlite => None,
        }
    }
}

/// `keep_last`: at least the file just written, and files this sink can find again.
fn keep_last(n: usize, path: &LocationTemplate) -> Result<(), ConfigError> {
    if n == 0 {
        return Err(problem("must be at least 1 (the file just written)"));
    }
    if !path.varies_in_file_name_only() {
        return Err(problem(
            "needs `path` to vary in its file name only (`reports/{pipeline}_{timestamp}.csv`), \
             so that the files of this sink can be found",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::{CsvOptions, QuoteStyle};
    use crate::parquet::{Compression, ParquetOptions};

    /// The messages `build` gives for a sink written in YAML, as the user reads them.
    fn errors(yaml: &str) -> Vec<String> {
        let spec: SinkSpec = serde_yaml::from_str(yaml).unwrap();
        match spec.build("report") {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn built(yaml: &str) -> FileOutput {
        let spec: SinkSpec = serde_yaml::from_str(yaml).unwrap();
        match spec.build("report").unwrap().output {
            Output::File(file) => file,
            Output::Table(table) => panic!("{table:?}"),
        }
    }

    fn csv(yaml: &str) -> CsvOptions {
        match built(yaml).format {
            Format::Csv(options) => options,
            other => panic!("{other:?}"),
        }
    }

    fn parquet(yaml: &str) -> ParquetOptions {
        match built(yaml).format {
            Format::Parquet(options) => options,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn csv_defaults() {
        let s = csv("{ from: t, format: csv, path: r.csv }");
        assert_eq!(s, CsvOptions::default());
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
        assert!(
            built("{ from: t, format: csv, path: r.csv }")
                .latest
                .is_none()
        );
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
        let s = csv("{ from: t, format: csv, path: r.csv, csv: { null: 'NULL' } }");
        assert_eq!(s.null, "NULL");
        let s = csv("{ from: t, format: csv, path: r.csv, csv: { header: false } }");
        assert_eq!(s.null, "");
    }

    #[test]
    fn good_csv_options_are_kept() {
        let s = csv(
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
        // The misplaced block is still checked: every problem at once.
        assert_eq!(
            errors("{ from: t, format: ndjson, path: r, parquet: { row_group_size: 0 } }"),
            [
                "`sinks.report.parquet`: applies to `format: parquet`, but this sink writes \
                 ndjson",
                "`sinks.report.parquet.row_group_size`: must be at least 1 row"
            ]
        );
        assert_eq!(
            built("{ from: t, format: ndjson, path: r }").format,
            Format::Ndjson
        );
    }

    #[test]
    fn formats_describe_the_options_they_change() {
        let describe = |yaml: &str| built(yaml).format.describe();
        assert_eq!(describe("{ from: t, format: csv, path: r }"), "csv");
        assert_eq!(describe("{ from: t, format: ndjson, path: r }"), "ndjson");
        assert_eq!(describe("{ from: t, format: parquet, path: r }"), "parquet");
        assert_eq!(
            describe(
                "{ from: t, format: csv, path: r, csv: { delimiter: '\\t', header: false, \
                 quote_style: always, null: NA, date_format: '%d.%m.%Y' } }"
            ),
            "csv (delimiter: `\\t`, header: false, quote_style: always, null: `NA`, \
             date_format: `%d.%m.%Y`)"
        );
        assert_eq!(
            describe(
                "{ from: t, format: parquet, path: r, parquet: { compression: gzip, \
                 compression_level: 9, statistics: false } }"
            ),
            "parquet (compression: gzip, compression_level: 9, statistics: false)"
        );
        assert_eq!(
            built("{ from: t, format: csv, path: r }").format.name(),
            "csv"
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
        let s = parquet(
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
        let s = parquet("{ from: t, format: parquet, path: r }");
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
            s.latest.as_ref().map(|l| l.render(&vars)),
            Some(Location::Local("reports/engagement_latest.csv".into()))
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

    #[test]
    fn s3_locations_take_their_settings_from_the_sink() {
        let s = built(
            "{ from: t, format: parquet, \
             path: 's3://etl-reports/daily/{pipeline}_{timestamp}.parquet', \
             latest: 'reports/{pipeline}_latest.parquet', keep_last: 3, \
             s3: { endpoint: 'http://127.0.0.1:9000', region: eu-west-1, path_style: true, \
             access_key_id: AKID, secret_access_key: hunter2, allow_http: true } }",
        );
        let LocationTemplate::Object(object) = &s.path else {
            panic!("{:?}", s.path)
        };
        assert_eq!(object.bucket(), "etl-reports");
        assert!(format!("{:?}", object.options()).contains("http://127.0.0.1:9000"));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!s.latest.as_ref().unwrap().is_object());
        // `allow_outside` does not matter for a bucket.
        assert!(
            errors("{ from: t, format: csv, path: 's3://b-1/x.csv', allow_outside: true }")
                .is_empty()
        );
    }

    #[test]
    fn s3_settings_belong_to_s3_locations() {
        assert_eq!(
            errors("{ from: t, format: csv, path: r.csv, s3: { region: eu-west-1 } }"),
            [
                "`sinks.report.s3`: applies to `s3://` locations, but `path` and `latest` are \
                 local files; write `path: s3://BUCKET/reports/{pipeline}_{timestamp}.csv`"
            ]
        );
        assert_eq!(
            errors(
                "{ from: t, format: csv, path: 's3://b-1/{date}/x.csv', keep_last: 2, \
                 s3: { region: 'EU' } }"
            ),
            [
                "`sinks.report.s3.region`: `EU` is not a region name; e.g. `eu-west-1`; lowercase \
                 letters, digits and `-`",
                "`sinks.report.keep_last`: needs `path` to vary in its file name only \
                 (`reports/{pipeline}_{timestamp}.csv`), so that the files of this sink can be \
                 found",
            ]
        );
        let table = errors(
            "{ from: t, format: sqlite, path: 's3://b-1/x.sqlite', table: t, s3: { region: x } }",
        );
        assert!(
            table
                .iter()
                .any(|e| e.starts_with("`sinks.report.s3`: applies to file sinks")),
            "{table:?}"
        );
        assert!(
            table
                .iter()
                .any(|e| e.contains("is a `s3://` URL, not a file path")),
            "{table:?}"
        );
    }
}
