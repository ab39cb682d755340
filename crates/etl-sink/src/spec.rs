//! A sink as written in the pipeline file: the serde mirror of `sinks.<name>`, with no
//! behaviour. [`SinkSpec::build`](crate::SinkSpec::build) checks it.

use serde::Deserialize;

use crate::csv::CsvSpec;
use crate::format::FormatName;
use crate::html::HtmlSpec;
use crate::parquet::ParquetSpec;

/// One entry of `sinks`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SinkSpec {
    /// The transform or source to write.
    pub from: String,
    /// `csv`, `parquet`, `ndjson` or `html` (files), `postgres` or `sqlite` (a table).
    pub format: FormatName,
    /// Where to write, relative to the working directory; may use `{pipeline}`, `{sink}`,
    /// `{date}`, `{timestamp}` and `{run_id}`. For `sqlite`, the database file. Not for
    /// `postgres`. A file sink may write to S3 or S3-compatible object storage instead:
    /// `s3://BUCKET/prefix/{pipeline}_{timestamp}.parquet` (placeholders in the key only;
    /// see `s3`).
    pub path: Option<String>,
    /// `postgres`: the connection URL, `postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=...`.
    /// A secret: write it as `${DATABASE_URL}`; it is shown with its password masked.
    pub url: Option<String>,
    /// `postgres` and `sqlite`: the table, `name` or `schema.name` (created when missing).
    pub table: Option<String>,
    /// `postgres` and `sqlite`: `replace` (default: the table holds this run's rows only),
    /// `append` (this run's rows are added) or `merge` (rows with the `primary_key` of a
    /// new row are replaced by it; the newest row wins).
    pub mode: Option<LoadMode>,
    /// `merge`: the column(s) that identify a row.
    pub primary_key: Option<KeyColumns>,
    /// `postgres`: TLS settings, used as `sslmode` in `url` says (`require`, `verify-ca`,
    /// `verify-full`).
    pub tls: Option<DatabaseTlsSpec>,
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
    /// HTML report options: title, number formats, the table, the charts.
    pub html: Option<HtmlSpec>,
    /// Rows printed after the run.
    pub preview: Option<PreviewSpec>,
    /// After a successful run, keep only this many files of this sink (the newest), removing
    /// older ones. Needs the placeholders in the file name, not in folders. On `s3://`, the
    /// objects of the key's prefix.
    pub keep_last: Option<usize>,
    /// Object storage settings for an `s3://` `path` or `latest`. Each key left out is taken
    /// from the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, ...), then from the instance's role; a key given here wins.
    pub s3: Option<S3Spec>,
}

/// `s3` of a file sink writing to `s3://`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct S3Spec {
    /// The server's URL, for S3-compatible storage (MinIO, Ceph, R2, ...), e.g.
    /// `https://minio.internal:9000`. Default: `AWS_ENDPOINT_URL`, else AWS itself.
    pub endpoint: Option<String>,
    /// The bucket's region, e.g. `eu-west-1`. Default: `AWS_REGION` or
    /// `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Address the bucket in the URL's path (`https://host/BUCKET/key`) rather than its host
    /// name (`https://BUCKET.host/key`); most S3-compatible servers need `true`.
    /// Default: `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, else path style.
    pub path_style: Option<bool>,
    /// The access key id. A secret: write it as `${AWS_ACCESS_KEY_ID}` or the like; it is
    /// never shown. Default: `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// The secret access key. A secret: write it as `${...}`; it is never shown. Default:
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// A session token for temporary credentials. A secret: write it as `${...}`; it is
    /// never shown. Default: `AWS_SESSION_TOKEN`.
    pub session_token: Option<String>,
    /// Allow a plain `http://` endpoint (a test server on this machine). Default:
    /// `AWS_ALLOW_HTTP`, else `false`.
    pub allow_http: Option<bool>,
}

/// `mode` of a table sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    /// The table holds this run's rows only (default).
    #[default]
    Replace,
    /// This run's rows are added to the table.
    Append,
    /// Rows whose `primary_key` matches a row of this run are replaced by it; the others are
    /// kept. Within the run, the last row of a key wins.
    Merge,
}

/// One column or a list of columns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum KeyColumns {
    One(String),
    Many(Vec<String>),
}

impl KeyColumns {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            KeyColumns::One(c) => vec![c.clone()],
            KeyColumns::Many(c) => c.clone(),
        }
    }
}

/// `tls` of a `postgres` sink.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct DatabaseTlsSpec {
    /// A PEM file of the certificate authority (or authorities) that signed the server's
    /// certificate, trusted besides the system's roots (a private CA).
    pub ca_file: Option<String>,
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
