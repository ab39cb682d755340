//! Table sinks: `format: postgres` and `format: sqlite`. A sink names a table (created from
//! the frame's types when missing, new columns added) and a `mode`: `replace`, `append` or
//! `merge` on a `primary_key`. Rows are loaded inside one transaction that is committed only
//! when every sink of the run is ready ([`TableLoad::commit`]); dropping a [`TableLoad`]
//! rolls it back, so a failed or killed run leaves the table exactly as it was.

use std::fmt;
use std::path::PathBuf;

use polars::prelude::{DataFrame, Schema};

use crate::config::{Output, SinkConfig};
use crate::error::{Error, Problems, problem};
use crate::format::FormatName;
use crate::path::{PathTemplate, RenderVars};
use crate::spec::{LoadMode, SinkSpec};
use crate::{postgres, sqlite};

/// A table of a database, and how a run loads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOutput {
    pub database: Database,
    pub table: TableName,
    pub mode: Mode,
}

/// How a run's rows go into the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The table holds this run's rows only.
    Replace,
    /// This run's rows are added.
    Append,
    /// Rows whose key matches a row of this run are replaced by it (the run's last row of a
    /// key wins); the others are kept.
    Merge { primary_key: Vec<String> },
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Replace => "replace",
            Mode::Append => "append",
            Mode::Merge { .. } => "merge",
        }
    }
}

/// `name` or `schema.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The database of a table sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Postgres(PostgresTarget),
    Sqlite(SqliteTarget),
}

impl Database {
    pub fn name(&self) -> &'static str {
        match self {
            Database::Postgres(_) => "postgres",
            Database::Sqlite(_) => "sqlite",
        }
    }
}

/// A PostgreSQL server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresTarget {
    pub url: DatabaseUrl,
    /// `tls.ca_file`: a private CA, trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
}

/// An SQLite database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteTarget {
    pub path: PathTemplate,
}

/// A connection URL, a secret: shown (`Display`, `Debug`) with its password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, for the driver only: never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password (in the user part or a `password=` parameter) as `***`.
    pub fn masked(&self) -> String {
        mask_url(&self.0)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.masked())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// `scheme://user:***@host/db?...&password=***`. The user part ends at the last `@`, so a
/// password holding `/`, `?` or `@` without percent-encoding is masked too.
fn mask_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (user, rest) = match rest.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => (format!("{name}:***@"), host),
            None => (format!("{user}@"), host),
        },
        None => (String::new(), rest),
    };
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => rest.to_owned(),
    };
    if scheme.is_empty() {
        format!("{user}{rest}")
    } else {
        format!("{scheme}://{user}{rest}")
    }
}

impl TableOutput {
    /// `table `engagement` in postgres://etl:***@db:5432/reports (replace)`.
    pub fn describe(&self) -> String {
        let database = match &self.database {
            Database::Postgres(pg) => pg.url.masked(),
            Database::Sqlite(sqlite) => sqlite.path.as_str().to_owned(),
        };
        format!(
            "table `{}` in {database} ({})",
            self.table,
            self.mode.name()
        )
    }
}

/// Checks a table sink as written, offline.
pub(crate) fn build(spec: &SinkSpec, p: &mut Problems) -> Option<TableOutput> {
    let database = match spec.format {
        FormatName::Postgres => postgres_target(spec, p).map(Database::Postgres),
        _ => sqlite_target(spec, p).map(Database::Sqlite),
    };
    let table = match &spec.table {
        Some(table) => p.keep(
            "table",
            table_name(table).and_then(|t| match spec.format {
                FormatName::Sqlite => sqlite::check_table_name(&t).map(|()| t),
                _ => Ok(t),
            }),
        ),
        None => {
            p.push(
                "table",
                problem(format!(
                    "is missing: a `{}` sink needs `table`",
                    spec.format.name()
                ))
                .with_hint("e.g. `table: engagement` or `table: reports.engagement`"),
            );
            None
        }
    };
    let primary_key = spec
        .primary_key
        .as_ref()
        .map(crate::spec::KeyColumns::to_vec);
    let mode = match (spec.mode.unwrap_or_default(), primary_key) {
        (LoadMode::Merge, Some(key)) if !key.is_empty() && key.iter().all(|k| !k.is_empty()) => {
            Some(Mode::Merge { primary_key: key })
        }
        (LoadMode::Merge, _) => {
            p.push(
                "primary_key",
                problem("is missing: `mode: merge` needs the column(s) that identify a row")
                    .with_hint("e.g. `primary_key: id` or `primary_key: [day, store]`"),
            );
            None
        }
        (mode, Some(_)) => {
            p.push(
                "primary_key",
                problem(format!(
                    "applies to `mode: merge`, but this sink's mode is `{}`",
                    if mode == LoadMode::Append {
                        "append"
                    } else {
                        "replace"
                    }
                )),
            );
            None
        }
        (LoadMode::Replace, None) => Some(Mode::Replace),
        (LoadMode::Append, None) => Some(Mode::Append),
    };
    Some(TableOutput {
        database: database?,
        table: table?,
        mode: mode?,
    })
}

fn postgres_target(spec: &SinkSpec, p: &mut Problems) -> Option<PostgresTarget> {
    if spec.path.is_some() {
        p.push(
            "path",
            problem("applies to files and `sqlite`; a `postgres` sink names its server in `url`"),
        );
    }
    let Some(url) = &spec.url else {
        p.push(
            "url",
            problem("is missing: a `postgres` sink needs `url`")
                .with_hint("write `url: ${DATABASE_URL}` and set DATABASE_URL to `postgres://USER:PASSWORD@HOST:5432/DB`"),
        );
        return None;
    };
    let url = DatabaseUrl::new(url.as_str());
    if let Err(e) = postgres::check_url(&url) {
        p.push("url", e);
        return None;
    }
    Some(PostgresTarget {
        url,
        ca_file: spec
            .tls
            .as_ref()
            .and_then(|t| t.ca_file.as_ref())
            .map(PathBuf::from),
    })
}

fn sqlite_target(spec: &SinkSpec, p: &mut Problems) -> Option<SqliteTarget> {
    for (key, given) in [("url", spec.url.is_some()), ("tls", spec.tls.is_some())] {
        if given {
            p.push(
                key,
                problem("applies to `format: postgres`; an `sqlite` sink names its file in `path`"),
            );
        }
    }
    let Some(path) = &spec.path else {
        p.push(
            "path",
            problem("is missing: an `sqlite` sink needs `path`, the database file")
                .with_hint("e.g. `path: reports/{pipeline}.sqlite`"),
        );
        return None;
    };
    let path = p.keep("path", PathTemplate::parse(path, spec.allow_outside))?;
    Some(SqliteTarget { path })
}

/// `name` or `schema.name`, each a plain SQL identifier.
fn table_name(text: &str) -> Result<TableName, etl_config::ConfigError> {
    let plain = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let (schema, name) = match text.split_once('.') {
        Some((schema, name)) => (Some(schema), name),
        None => (None, text),
    };
    if !plain(name) || schema.is_some_and(|s| !plain(s)) {
        return Err(problem(format!("`{text}` is not a table name etl writes"))
            .with_hint("use letters, digits and `_`, as `name` or `schema.name`"));
    }
    Ok(TableName {
        schema: schema.map(str::to_owned),
        name: name.to_owned(),
    })
}

/// The table output of `sink`; a file sink has none.
fn table_of(sink: &SinkConfig) -> Option<&TableOutput> {
    match &sink.output {
        Output::Table(t) => Some(t),
        Output::File(_) => None,
    }
}

/// Before a run fetches anything: the database can be reached with the credentials, and the
/// table created or written. Nothing is changed. A file sink has nothing to check.
pub fn check(sink: &SinkConfig, vars: &RenderVars<'_>) -> Result<(), Error> {
    let Some(out) = table_of(sink) else {
        return Ok(());
    };
    match &out.database {
        Database::Postgres(pg) => postgres::check(pg, out, &sink.name),
        Database::Sqlite(db) => sqlite::check(&db.path.render(vars), out, &sink.name),
    }
}

/// Rows loaded into their table inside a transaction that is not committed yet.
#[derive(Debug)]
pub struct TableLoad {
    inner: Pending,
    loaded: Loaded,
}

#[derive(Debug)]
enum Pending {
    Postgres(postgres::Load),
    Sqlite(sqlite::Load),
}

/// What a table sink loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// `postgres` or `sqlite`.
    pub format: &'static str,
    /// The database, credentials masked (an sqlite file's path).
    pub database: String,
    pub table: String,
    pub mode: &'static str,
    /// Rows of this run.
    pub rows: u64,
}

/// Loads the output into the table of `sink` (created or altered as needed) inside a
/// transaction; nothing is visible to readers until [`TableLoad::commit`]. The output comes
/// as batches with the columns of `schema`, consumed one at a time; the first error among
/// them stops the load (rolled back) and is returned as [`LoadError::Input`].
pub fn load<E>(
    schema: &Schema,
    batches: impl IntoIterator<Item = Result<DataFrame, E>>,
    sink: &SinkConfig,
    vars: &RenderVars<'_>,
) -> Result<TableLoad, LoadError<E>> {
    let Some(out) = table_of(sink) else {
        return Err(LoadError::Sink(Error::data(
            &sink.name,
            "writes a file, not a table",
        )));
    };
    let mut failed = None;
    let mut frames = batches.into_iter().map_while(|batch| match batch {
        Ok(df) => Some(df),
        Err(e) => {
            failed = Some(e);
            None
        }
    });
    let loaded = match &out.database {
        Database::Postgres(pg) => postgres::load(schema, &mut frames, pg, out, &sink.name)
            .map(|(load, rows)| (Pending::Postgres(load), pg.url.masked(), rows)),
        Database::Sqlite(db) => {
            let path = db.path.render(vars);
            sqlite::load(schema, &mut frames, &path, out, &sink.name)
                .map(|(load, rows)| (Pending::Sqlite(load), path.display().to_string(), rows))
        }
    };
    drop(frames);
    // An input that failed part way: what was loaded is rolled back as `loaded` drops.
    if let Some(e) = failed {
        return Err(LoadError::Input(e));
    }
    let (inner, database, rows) = loaded.map_err(LoadError::Sink)?;
    Ok(TableLoad {
        inner,
        loaded: Loaded {
            format: out.database.name(),
            database,
            table: out.table.to_string(),
            mode: out.mode.name(),
            rows,
        },
    })
}

/// Why a table load failed: its input (the computation of the output), or the load.
#[derive(Debug)]
pub enum LoadError<E> {
    Input(E),
    Sink(Error),
}

impl<E: fmt::Display> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Input(e) => e.fmt(f),
            LoadError::Sink(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for LoadError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Input(e) => Some(e),
            LoadError::Sink(e) => Some(e),
        }
    }
}

impl TableLoad {
    /// Commits the transaction: readers see the new rows, all at once.
    pub fn commit(self) -> Result<Loaded, Error> {
        match self.inner {
            Pending::Postgres(load) => load.commit()?,
            Pending::Sqlite(load) => load.commit()?,
        }
        Ok(self.loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            mask_url("postgres://etl:s3cr3t@db.example.com:5432/reports?sslmode=require"),
            "postgres://etl:***@db.example.com:5432/reports?sslmode=require"
        );
        assert_eq!(
            mask_url("postgresql://db/reports?user=etl&password=s3cr3t"),
            "postgresql://db/reports?user=etl&password=***"
        );
        assert_eq!(mask_url("postgres://etl@db/r"), "postgres://etl@db/r");
        assert_eq!(
            mask_url("postgres://etl:pa/ss?w@rd@db/r?sslmode=require"),
            "postgres://etl:***@db/r?sslmode=require"
        );
        assert_eq!(
            mask_url("postgres://etl?sslmode=require:s3cr3t@db/r"),
            "postgres://etl?sslmode=require:***@db/r"
        );
        let url = DatabaseUrl::new("postgres://a:pw@h/d");
        assert!(!format!("{url:?} {url}").contains("pw"));
    }

    #[test]
    fn table_names_are_plain_identifiers() {
        assert_eq!(
            table_name("reports.engagement").unwrap(),
            TableName {
                schema: Some("reports".into()),
                name: "engagement".into()
            }
        );
        assert!(table_name("a b").is_err());
        assert!(table_name("a.b.c").is_err());
        assert!(table_name("1x").is_err());
    }
}
