//! `format: sqlite`: a table of an SQLite database file, loaded in one transaction.
//!
//! [`load`] opens (or creates) the file in WAL mode, takes the write lock (`BEGIN IMMEDIATE`),
//! creates or widens the table, and inserts the rows with one prepared statement; the
//! transaction stays open until [`Load::commit`]. Dropping a [`Load`] rolls it back, and
//! removes the file and folders the load created, so a failed run leaves the disk as it was.
//! [`check`] makes the same checks before a run fetches anything, and changes nothing.
//!
//! A column is declared from the frame's polars type, so that the next run can tell whether
//! its values still fit ([`Kind`]). Values are stored as SQLite's own types: integers as
//! INTEGER, floats as REAL, booleans as INTEGER 0/1, everything else as TEXT: dates
//! `YYYY-MM-DD`, datetimes ISO 8601 (`2024-05-01T12:30:00.000000`, with a zone converted to
//! UTC and marked `Z`), decimals with their exact digits (`12.50`), and list, array and
//! struct cells as the JSON the ndjson sink writes for them. A float NaN is stored as NULL
//! (SQLite has no NaN). `merge` keeps the last row of each key, deletes the table's rows with
//! those keys and inserts the rest; a table etl creates for `merge` declares the key as its
//! PRIMARY KEY.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime};
use etl_config::{ConfigError, quote_list};
use polars::prelude::*;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Statement};
use tracing::{debug, warn};

use crate::error::{Error, problem};
use crate::table::{Mode, TableName, TableOutput};

/// How long to wait for another writer of the file to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The temporary table (of this connection only) holding the keys of a `merge`.
const MERGE_KEYS: &str = "etl_merge_keys";

/// Checks `table` of a sqlite sink: an SQLite file has one schema, `main`.
pub(crate) fn check_table_name(table: &TableName) -> Result<(), ConfigError> {
    match &table.schema {
        Some(schema) if !schema.eq_ignore_ascii_case("main") => Err(problem(format!(
            "`{table}` names schema `{schema}`, but an SQLite file has one schema, `main`"
        ))
        .with_hint(format!("write `table: {}`", table.name))),
        _ => Ok(()),
    }
}

/// The table's name inside the file (`main.x` is `x`).
fn table_in_file<'a>(out: &'a TableOutput, sink: &str) -> Result<&'a str, Error> {
    check_table_name(&out.table).map_err(|e| Error::data(sink, e))?;
    Ok(&out.table.name)
}

/// Before a run fetches anything: the folder of `path` exists or can be created, and the
/// file, if it exists, is an SQLite database that this process can lock for writing, whose
/// table (if any) can be read. Creates nothing and changes nothing.
pub(crate) fn check(path: &Path, out: &TableOutput, sink: &str) -> Result<(), Error> {
    let table = table_in_file(out, sink)?;
    check_folder(path, sink)?;
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(sink, "read", path, e)),
        Ok(meta) if meta.is_dir() => {
            return Err(connect_error(
                sink,
                path,
                "it is a folder; point `path` at a database file",
            ));
        }
        Ok(_) => {}
    }
    let conn = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE, sink)?;
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| open_error(sink, path, &e))?;
    let columns =
        table_columns(&conn, table).map_err(|e| load_error(sink, table, "cannot read", &e));
    if let Err(e) = conn.execute_batch("ROLLBACK") {
        warn!(sink, path = %path.display(), error = %e, "Cannot roll back the check's transaction.");
    }
    let columns = columns?.map_err(|message| Error::Load {
        sink: sink.to_owned(),
        table: table.to_owned(),
        message,
    })?;
    debug!(sink, path = %path.display(), table, exists = columns.is_some(), "Checked the SQLite database.");
    Ok(())
}

/// The folder of `path`, or its nearest existing parent, is a folder in which this process
/// can create a file (SQLite creates `-wal` and `-shm` files beside the database). The probe
/// file is removed at once.
fn check_folder(path: &Path, sink: &str) -> Result<(), Error> {
    let folder = folder_of(path);
    let mut existing = folder;
    loop {
        match fs::metadata(existing) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => {
                return Err(io_error(
                    sink,
                    "create the folder",
                    folder,
                    io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("`{}` is a file, not a folder", existing.display()),
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match existing.parent() {
                Some(parent) if non_empty(parent) != existing => existing = non_empty(parent),
                _ => return Err(io_error(sink, "create the folder", folder, e)),
            },
            Err(e) => return Err(io_error(sink, "read", existing, e)),
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let probe = existing.join(format!(".etl-check-{}-{nanos}", std::process::id()));
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| io_error(sink, "create a file in", existing, e))?;
    fs::remove_file(&probe).map_err(|e| io_error(sink, "remove", &probe, e))
}

/// The folder holding `path` (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    non_empty(path.parent().unwrap_or(Path::new(".")))
}

fn non_empty(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

/// Opens the database at `path` and reads its header (a file that is not a database fails
/// here, not at the first write).
fn open(path: &Path, flags: OpenFlags, sink: &str) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| open_error(sink, path, &e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| open_error(sink, path, &e))?;
    conn.query_row("SELECT count(*) FROM main.sqlite_master", [], |_| Ok(()))
        .map_err(|e| open_error(sink, path, &e))?;
    Ok(conn)
}

/// A column of an existing table.
#[derive(Debug)]
struct TableColumn {
    name: String,
    /// The declared type, as written (may be empty).
    declared: String,
}

/// The columns of `table`, or `None` when there is no such table; a view is an error.
fn table_columns(
    conn: &Connection,
    table: &str,
) -> rusqlite::Result<Result<Option<Vec<TableColumn>>, String>> {
    let kind: Option<String> = conn
        .query_row(
            "SELECT type FROM main.sqlite_master WHERE name = ?1 COLLATE NOCASE \
             AND type IN ('table', 'view')",
            [table],
            |row| row.get(0),
        )
        .optional()?;
    match kind.as_deref() {
        None => return Ok(Ok(None)),
        Some("table") => {}
        Some(other) => return Ok(Err(format!("`{table}` is a {other}, not a table"))),
    }
    let mut stmt =
        conn.prepare("SELECT name, type FROM pragma_table_info(?1, 'main') ORDER BY cid")?;
    let columns = stmt
        .query_map([table], |row| {
            Ok(TableColumn {
                name: row.get(0)?,
                declared: row.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Ok(Some(columns)))
}

/// Rows loaded into their table inside a transaction that is not committed yet. Dropped
/// without [`Load::commit`], it rolls back, and removes the database file and the folders
/// the load created.
#[derive(Debug)]
pub(crate) struct Load {
    conn: Option<Connection>,
    sink: String,
    table: String,
    path: PathBuf,
    /// The load created the database file.
    new_file: bool,
    /// Folders the load created, outermost first.
    new_folders: Vec<PathBuf>,
    committed: bool,
}

/// Loads the output, batch after batch (each with the columns of `schema`), into the table
/// of `out` in the database at `path` (created with its folders when missing), inside a
/// transaction left open for [`Load::commit`]. Returns the rows of this run.
pub(crate) fn load(
    schema: &Schema,
    frames: &mut dyn Iterator<Item = DataFrame>,
    path: &Path,
    out: &TableOutput,
    sink: &str,
) -> Result<(Load, u64), Error> {
    let table = table_in_file(out, sink)?;
    // The columns and their kinds, from the schema: the table is shaped before any batch.
    let shape = Rows::new(&DataFrame::empty_with_schema(schema), &out.mode, sink)?;
    let load = Load::begin(path, sink, table)?;
    let Some(conn) = load.conn.as_ref() else {
        unreachable!("`Load::begin` returns a connected load")
    };
    let existing = table_columns(conn, table)
        .map_err(|e| load_error(sink, table, "cannot read", &e))?
        .map_err(|message| Error::Load {
            sink: sink.to_owned(),
            table: table.to_owned(),
            message,
        })?;
    let existed = existing.is_some();
    let declared = shape_table(conn, table, existing, &shape, &out.mode, sink)?;
    let fail = |what: &str, e: &rusqlite::Error| load_error(sink, table, what, e);
    if let (Mode::Replace, true) = (&out.mode, existed) {
        conn.execute(&format!("DELETE FROM main.{}", quote(table)), [])
            .map_err(|e| fail("cannot empty", &e))?;
    }
    let names: Vec<&str> = shape.columns.iter().map(|c| c.name.as_str()).collect();
    let sql = format!(
        "INSERT INTO main.{} ({}) VALUES ({})",
        quote(table),
        quote_all(&names),
        placeholders(names.len())
    );
    let mut stmt = conn
        .prepare(&sql)
        .map_err(|e| fail("cannot insert into", &e))?;
    let (mut loaded, mut sent) = (0usize, 0u64);
    for (batch, df) in frames.enumerate() {
        sent += df.height() as u64;
        let rows = Rows::new(&df, &out.mode, sink)?;
        // `merge`: this batch's keys replace the table's rows and an earlier batch's.
        if let Mode::Merge { primary_key } = &out.mode
            && (existed || batch > 0)
        {
            let removed = delete_keys(conn, table, &rows, primary_key, &declared)
                .map_err(|e| fail("cannot remove the rows of this run's keys from", &e))?;
            debug!(
                sink,
                table, removed, "Removed the rows this batch replaces."
            );
        }
        let cells: Vec<&Cells> = rows.columns.iter().map(|c| &c.cells).collect();
        insert(&mut stmt, &cells, rows.height).map_err(|(row, e)| {
            load_error(
                sink,
                table,
                &format!("cannot insert row {} into", loaded + row),
                &e,
            )
        })?;
        loaded += rows.height;
    }
    drop(stmt);
    debug!(
        sink,
        table,
        rows = sent,
        mode = out.mode.name(),
        "Loaded rows into SQLite."
    );
    Ok((load, sent))
}

impl Load {
    /// Creates the folders and the file as needed, switches the file to WAL and takes the
    /// write lock.
    fn begin(path: &Path, sink: &str, table: &str) -> Result<Load, Error> {
        let folder = folder_of(path);
        let mut new_folders: Vec<PathBuf> = folder
            .ancestors()
            .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
            .map(Path::to_path_buf)
            .collect();
        new_folders.reverse();
        let mut load = Load {
            conn: None,
            sink: sink.to_owned(),
            table: table.to_owned(),
            path: path.to_path_buf(),
            new_file: false,
            new_folders,
            committed: false,
        };
        fs::create_dir_all(folder).map_err(|e| io_error(sink, "create the folder", folder, e))?;
        load.new_file = !path.exists();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let conn = open(path, flags, sink)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| open_error(sink, path, &e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            warn!(sink, path = %path.display(), mode, "SQLite cannot use WAL on this file; readers wait for the load.");
        }
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| open_error(sink, path, &e))?;
        load.conn = Some(conn);
        Ok(load)
    }

    /// Commits the transaction: readers see the new rows, all at once.
    pub(crate) fn commit(mut self) -> Result<(), Error> {
        let Some(conn) = self.conn.as_ref() else {
            unreachable!("a `Load` holds its connection until it is committed or dropped")
        };
        conn.execute_batch("COMMIT")
            .map_err(|e| load_error(&self.sink, &self.table, "cannot commit", &e))?;
        self.committed = true;
        if let Some(conn) = self.conn.take()
            && let Err((_, e)) = conn.close()
        {
            warn!(sink = %self.sink, path = %self.path.display(), error = %e, "Cannot close the SQLite database after the commit.");
        }
        debug!(sink = %self.sink, table = %self.table, "Committed the SQLite load.");
        Ok(())
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !conn.is_autocommit()
                && let Err(e) = conn.execute_batch("ROLLBACK")
            {
                warn!(sink = %self.sink, path = %self.path.display(), error = %e, "Cannot roll back the SQLite load; closing the connection rolls it back.");
            }
            drop(conn);
        }
        if self.committed {
            return;
        }
        if self.new_file {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut file = self.path.clone().into_os_string();
                file.push(suffix);
                let _ = fs::remove_file(file);
            }
        }
        for folder in self.new_folders.iter().rev() {
            let _ = fs::remove_dir(folder);
        }
        debug!(sink = %self.sink, table = %self.table, "Rolled back the SQLite load.");
    }
}

/// Creates the table, or adds the frame's new columns to it after checking that the
/// frame's values fit the columns it has. Returns each frame column's declared type.
fn shape_table(
    conn: &Connection,
    table: &str,
    existing: Option<Vec<TableColumn>>,
    rows: &Rows,
    mode: &Mode,
    sink: &str,
) -> Result<Vec<String>, Error> {
    let fail = |e: rusqlite::Error, what: &str| load_error(sink, table, what, &e);
    let Some(existing) = existing else {
        let mut defs: Vec<String> = rows
            .columns
            .iter()
            .map(|c| format!("{} {}", quote(&c.name), c.kind.declared()))
            .collect();
        if let Mode::Merge { primary_key } = mode {
            for (def, column) in defs.iter_mut().zip(&rows.columns) {
                if primary_key.contains(&column.name) {
                    def.push_str(" NOT NULL");
                }
            }
            let key: Vec<&str> = primary_key.iter().map(String::as_str).collect();
            defs.push(format!("PRIMARY KEY ({})", quote_all(&key)));
        }
        let sql = format!("CREATE TABLE main.{} ({})", quote(table), defs.join(", "));
        conn.execute(&sql, [])
            .map_err(|e| fail(e, "cannot create"))?;
        debug!(sink, table, "Created the table.");
        return Ok(rows
            .columns
            .iter()
            .map(|c| c.kind.declared().to_owned())
            .collect());
    };
    let mut declared = Vec::with_capacity(rows.columns.len());
    let mut added = Vec::new();
    for column in &rows.columns {
        match existing
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(&column.name))
        {
            Some(t) if column.kind.fits(&t.declared) => declared.push(t.declared.clone()),
            Some(t) => {
                return Err(Error::ColumnType {
                    sink: sink.to_owned(),
                    table: table.to_owned(),
                    column: t.name.clone(),
                    existing: if t.declared.is_empty() {
                        "(no type)".to_owned()
                    } else {
                        t.declared.clone()
                    },
                    incoming: column.label.clone(),
                });
            }
            None => {
                added.push(column);
                declared.push(column.kind.declared().to_owned());
            }
        }
    }
    for column in added {
        let sql = format!(
            "ALTER TABLE main.{} ADD COLUMN {} {}",
            quote(table),
            quote(&column.name),
            column.kind.declared()
        );
        conn.execute(&sql, [])
            .map_err(|e| fail(e, &format!("cannot add column `{}` to", column.name)))?;
        debug!(sink, table, column = %column.name, "Added a column.");
    }
    Ok(declared)
}

/// `merge` into an existing table: deletes its rows whose key is one of this run's (the
/// keys go through a temporary table, so the table is read once whether or not it has an
/// index on the key). Returns how many rows were deleted.
fn delete_keys(
    conn: &Connection,
    table: &str,
    rows: &Rows,
    primary_key: &[String],
    declared: &[String],
) -> rusqlite::Result<usize> {
    let key: Vec<usize> = primary_key
        .iter()
        .filter_map(|k| rows.columns.iter().position(|c| c.name == *k))
        .collect();
    let names: Vec<&str> = key.iter().map(|&i| rows.columns[i].name.as_str()).collect();
    let defs: Vec<String> = key
        .iter()
        .map(|&i| format!("{} {}", quote(&rows.columns[i].name), declared[i]))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE {} ({})",
        quote(MERGE_KEYS),
        defs.join(", ")
    ))?;
    let sql = format!(
        "INSERT INTO temp.{} VALUES ({})",
        quote(MERGE_KEYS),
        placeholders(key.len())
    );
    let mut stmt = conn.prepare(&sql)?;
    let cells: Vec<&Cells> = key.iter().map(|&i| &rows.columns[i].cells).collect();
    insert(&mut stmt, &cells, rows.height).map_err(|(_, e)| e)?;
    drop(stmt);
    let columns = quote_all(&names);
    let removed = conn.execute(
        &format!(
            "DELETE FROM main.{} WHERE ({columns}) IN (SELECT {columns} FROM temp.{})",
            quote(table),
            quote(MERGE_KEYS)
        ),
        [],
    )?;
    conn.execute_batch(&format!("DROP TABLE temp.{}", quote(MERGE_KEYS)))?;
    Ok(removed)
}

/// Runs `stmt` once per row, with the row's cells bound in order. On failure, the row
/// (1-based) and the cause.
fn insert(
    stmt: &mut Statement<'_>,
    cells: &[&Cells],
    height: usize,
) -> Result<(), (usize, rusqlite::Error)> {
    let mut text = String::new();
    for row in 0..height {
        let run = |stmt: &mut Statement<'_>, text: &mut String| {
            for (at, column) in cells.iter().enumerate() {
                column.bind(stmt, at + 1, row, text)?;
            }
            stmt.raw_execute()
        };
        run(stmt, &mut text).map_err(|e| (row + 1, e))?;
    }
    Ok(())
}

/// What a column of the frame holds, and so how it is declared when etl creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Real,
    Text,
    Boolean,
    Date,
    /// A datetime without a time zone.
    Timestamp,
    /// A datetime with a time zone, stored in UTC.
    TimestampTz,
    Time,
    Decimal,
    /// A list, array or struct, stored as JSON text.
    Json,
    Blob,
    /// Only missing values: fits any column.
    Null,
}

impl Kind {
    fn of(dtype: &DataType) -> Option<Kind> {
        use DataType as D;
        Some(match dtype {
            D::Int8
            | D::Int16
            | D::Int32
            | D::Int64
            | D::Int128
            | D::UInt8
            | D::UInt16
            | D::UInt32
            | D::UInt64 => Kind::Integer,
            D::Float32 | D::Float64 => Kind::Real,
            D::String | D::Categorical(..) | D::Enum(..) => Kind::Text,
            D::Boolean => Kind::Boolean,
            D::Date => Kind::Date,
            D::Datetime(_, None) => Kind::Timestamp,
            D::Datetime(_, Some(_)) => Kind::TimestampTz,
            D::Time => Kind::Time,
            D::Decimal(..) => Kind::Decimal,
            D::List(_) | D::Array(..) | D::Struct(_) => Kind::Json,
            D::Binary => Kind::Blob,
            D::Null => Kind::Null,
            _ => return None,
        })
    }

    /// The type etl declares for a new column. Each has the affinity of the values stored
    /// (BOOLEAN, DATE, TIMESTAMP, TIMESTAMPTZ, TIME and JSON have NUMERIC affinity, which
    /// keeps 0/1 as integers and their texts as text), and names the kind for readers such
    /// as DuckDB, Metabase or Grafana. Decimals are TEXT: NUMERIC affinity would turn
    /// `12.50` into the float 12.5.
    fn declared(self) -> &'static str {
        match self {
            Kind::Integer => "INTEGER",
            Kind::Real => "REAL",
            Kind::Text | Kind::Decimal | Kind::Null => "TEXT",
            Kind::Boolean => "BOOLEAN",
            Kind::Date => "DATE",
            Kind::Timestamp => "TIMESTAMP",
            Kind::TimestampTz => "TIMESTAMPTZ",
            Kind::Time => "TIME",
            Kind::Json => "JSON",
            Kind::Blob => "BLOB",
        }
    }

    /// Whether values of this kind fit a column declared `declared`: the types etl declares
    /// by their meaning, any other by its SQLite affinity. A TEXT column takes any value
    /// but bytes (as text); an untyped column takes anything.
    fn fits(self, declared: &str) -> bool {
        if self == Kind::Null {
            return true;
        }
        let upper = declared.trim().to_ascii_uppercase();
        let base = upper.split('(').next().unwrap_or_default().trim();
        let named = match base {
            "BOOLEAN" | "BOOL" => Some(Kind::Boolean),
            "DATE" => Some(Kind::Date),
            "TIMESTAMP" | "DATETIME" => Some(Kind::Timestamp),
            "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => Some(Kind::TimestampTz),
            "TIME" => Some(Kind::Time),
            "JSON" | "JSONB" => Some(Kind::Json),
            _ => None,
        };
        if let Some(named) = named {
            return self == named;
        }
        if upper.contains("INT") {
            matches!(self, Kind::Integer | Kind::Boolean)
        } else if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") {
            self != Kind::Blob
        } else if upper.contains("BLOB") {
            self == Kind::Blob
        } else if upper.is_empty() {
            true
        } else if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") {
            matches!(self, Kind::Integer | Kind::Real)
        } else {
            matches!(
                self,
                Kind::Integer | Kind::Real | Kind::Boolean | Kind::Decimal
            )
        }
    }
}

/// The frame's columns, ready to bind: for `merge`, the last row of each key only.
struct Rows {
    columns: Vec<RowColumn>,
    height: usize,
}

struct RowColumn {
    name: String,
    kind: Kind,
    /// The values' type, for an error message: `INTEGER`, `DECIMAL(10,2)`, ...
    label: String,
    cells: Cells,
}

impl Rows {
    fn new(df: &DataFrame, mode: &Mode, sink: &str) -> Result<Rows, Error> {
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(ToString::to_string)
            .collect();
        if names.is_empty() {
            return Err(Error::data(
                sink,
                "the output has no columns; an SQLite table needs one",
            ));
        }
        for (i, name) in names.iter().enumerate() {
            if let Some(other) = names[..i].iter().find(|n| n.eq_ignore_ascii_case(name)) {
                return Err(Error::data(
                    sink,
                    format!(
                        "columns `{other}` and `{name}` would be the same SQLite column \
                         (names ignore case there); rename one in a transform"
                    ),
                ));
            }
        }
        let mut kinds = Vec::with_capacity(names.len());
        for column in df.columns() {
            let dtype = column.dtype();
            let kind = Kind::of(dtype).ok_or_else(|| {
                Error::data(
                    sink,
                    format!(
                        "column `{}` is `{dtype}`, which etl does not write to SQLite; cast \
                         it in a transform (e.g. a duration to seconds)",
                        column.name()
                    ),
                )
            })?;
            let label = match dtype {
                DataType::Decimal(precision, scale) => format!("DECIMAL({precision},{scale})"),
                _ => kind.declared().to_owned(),
            };
            kinds.push((kind, label));
        }
        let mut df = match mode {
            Mode::Merge { primary_key } => last_of_each_key(df, primary_key, &names, sink)?,
            _ => df.clone(),
        };
        if let Some(json) = crate::csv::nested_as_json(&df, sink)? {
            df = json;
        }
        let height = df.height();
        let columns = df
            .columns()
            .iter()
            .zip(kinds)
            .map(|(column, (kind, label))| {
                Ok(RowColumn {
                    name: column.name().to_string(),
                    kind,
                    label,
                    cells: Cells::new(column, sink)?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Rows { columns, height })
    }
}

/// The last row of each key, in the order of those rows; every key column present and
/// never missing.
fn last_of_each_key(
    df: &DataFrame,
    primary_key: &[String],
    names: &[String],
    sink: &str,
) -> Result<DataFrame, Error> {
    for key in primary_key {
        let Some(column) = df.column(key).ok() else {
            return Err(Error::data(
                sink,
                format!(
                    "`primary_key` column `{key}` is not a column of the output; it has {}",
                    quote_list(names)
                ),
            ));
        };
        let missing = column.null_count();
        if missing > 0 {
            return Err(Error::data(
                sink,
                format!(
                    "`primary_key` column `{key}` is missing in {missing} row(s); `mode: merge` \
                     needs a key on every row"
                ),
            ));
        }
    }
    df.unique_stable(Some(primary_key), UniqueKeepStrategy::Last, None)
        .map_err(|e| Error::data(sink, format!("cannot find the last row of each key: {e}")))
}

/// One column's values, in the form they are bound in.
enum Cells {
    Null,
    Int(Int64Chunked),
    Real(Float64Chunked),
    Bool(BooleanChunked),
    Text(StringChunked),
    Blob(BinaryChunked),
    /// Days since 1970-01-01.
    Date(Int32Chunked),
    /// Since 1970-01-01T00:00:00 (UTC when `utc`).
    Datetime {
        values: Int64Chunked,
        unit: TimeUnit,
        utc: bool,
    },
    /// Nanoseconds since midnight.
    Time(Int64Chunked),
    Decimal {
        values: Int128Chunked,
        scale: usize,
    },
}

impl Cells {
    /// `column` after `nested_as_json` (lists and structs are text by then).
    fn new(column: &Column, sink: &str) -> Result<Cells, Error> {
        let name = column.name();
        let series = column.as_materialized_series().rechunk();
        let fail = |e: PolarsError| Error::data(sink, format!("column `{name}`: {e}"));
        Ok(match series.dtype() {
            DataType::Null => Cells::Null,
            DataType::Boolean => Cells::Bool(series.bool().map_err(fail)?.clone()),
            DataType::Float64 => Cells::Real(series.f64().map_err(fail)?.clone()),
            // The float a person reads (`0.1`), not the nearest f64 to the f32 (`0.100000001`).
            DataType::Float32 => Cells::Real(
                series
                    .f32()
                    .map_err(fail)?
                    .iter()
                    .map(|x| x.map(|x| x.to_string().parse().unwrap_or(f64::from(x))))
                    .collect(),
            ),
            DataType::String => Cells::Text(series.str().map_err(fail)?.clone()),
            DataType::Categorical(..) | DataType::Enum(..) => {
                let text = series.cast(&DataType::String).map_err(fail)?;
                Cells::Text(text.str().map_err(fail)?.clone())
            }
            DataType::Binary => Cells::Blob(series.binary().map_err(fail)?.clone()),
            DataType::Date => Cells::Date(series.date().map_err(fail)?.physical().clone()),
            DataType::Datetime(unit, zone) => Cells::Datetime {
                values: series.datetime().map_err(fail)?.physical().clone(),
                unit: *unit,
                utc: zone.is_some(),
            },
            DataType::Time => Cells::Time(series.time().map_err(fail)?.physical().clone()),
            DataType::Decimal(_, scale) => Cells::Decimal {
                values: series.decimal().map_err(fail)?.physical().clone(),
                scale: *scale,
            },
            _ => {
                let ints = series.strict_cast(&DataType::Int64).map_err(|_| {
                    Error::data(
                        sink,
                        format!(
                            "column `{name}` has values beyond SQLite's 64-bit INTEGER; cast it \
                             in a transform (e.g. to a float or a string)"
                        ),
                    )
                })?;
                Cells::Int(ints.i64().map_err(fail)?.clone())
            }
        })
    }

    /// Binds the value of `row` to parameter `at` (1-based); `text` is a buffer for the
    /// values written as text.
    fn bind(
        &self,
        stmt: &mut Statement<'_>,
        at: usize,
        row: usize,
        text: &mut String,
    ) -> rusqlite::Result<()> {
        let formatted = match self {
            Cells::Null => return stmt.raw_bind_parameter(at, rusqlite::types::Null),
            Cells::Int(values) => return stmt.raw_bind_parameter(at, values.get(row)),
            Cells::Real(values) => return stmt.raw_bind_parameter(at, values.get(row)),
            Cells::Bool(values) => {
                return stmt.raw_bind_parameter(at, values.get(row).map(i64::from));
            }
            Cells::Text(values) => return stmt.raw_bind_parameter(at, values.get(row)),
            Cells::Blob(values) => return stmt.raw_bind_parameter(at, values.get(row)),
            Cells::Date(values) => values.get(row).map(|days| write_date(text, days)),
            Cells::Datetime { values, unit, utc } => values
                .get(row)
                .map(|v| write_datetime(text, v, *unit, *utc)),
            Cells::Time(values) => values.get(row).map(|ns| write_time(text, ns)),
            Cells::Decimal { values, scale } => values.get(row).map(|v| {
                write_decimal(text, v, *scale);
                true
            }),
        };
        match formatted {
            None => stmt.raw_bind_parameter(at, rusqlite::types::Null),
            Some(true) => stmt.raw_bind_parameter(at, text.as_str()),
            Some(false) => Err(rusqlite::Error::ToSqlConversionFailure(
                format!("`{text}` is outside the dates SQLite text can hold").into(),
            )),
        }
    }
}

/// `YYYY-MM-DD`; `false` (with the raw value in `text`) when out of range.
fn write_date(text: &mut String, days: i32) -> bool {
    text.clear();
    // 719_163: days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
    match days
        .checked_add(719_163)
        .and_then(NaiveDate::from_num_days_from_ce_opt)
    {
        Some(date) => {
            let _ = write!(text, "{}", date.format("%Y-%m-%d"));
            true
        }
        None => {
            let _ = write!(text, "{days} days since 1970-01-01");
            false
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff`, `Z` appended for UTC: microseconds always (one width per
/// column, so text order is time order), nanoseconds when the value has them.
fn write_datetime(text: &mut String, value: i64, unit: TimeUnit, utc: bool) -> bool {
    text.clear();
    let per_second: i64 = match unit {
        TimeUnit::Nanoseconds => 1_000_000_000,
        TimeUnit::Microseconds => 1_000_000,
        TimeUnit::Milliseconds => 1_000,
    };
    let seconds = value.div_euclid(per_second);
    // Below 1e9, so the cast cannot truncate.
    let nanos = (value.rem_euclid(per_second) * (1_000_000_000 / per_second)).unsigned_abs() as u32;
    match DateTime::from_timestamp(seconds, nanos) {
        Some(at) => {
            let _ = write!(text, "{}", at.naive_utc().format("%Y-%m-%dT%H:%M:%S"));
            write_fraction(text, nanos);
            if utc {
                text.push('Z');
            }
            true
        }
        None => {
            let _ = write!(text, "{value} {unit} since 1970-01-01");
            false
        }
    }
}

/// `HH:MM:SS.ffffff`.
fn write_time(text: &mut String, nanos_since_midnight: i64) -> bool {
    text.clear();
    let seconds = u32::try_from(nanos_since_midnight.div_euclid(1_000_000_000)).ok();
    let nanos = nanos_since_midnight
        .rem_euclid(1_000_000_000)
        .unsigned_abs() as u32;
    match seconds.and_then(|s| NaiveTime::from_num_seconds_from_midnight_opt(s, nanos)) {
        Some(time) => {
            let _ = write!(text, "{}", time.format("%H:%M:%S"));
            write_fraction(text, nanos);
            true
        }
        None => {
            let _ = write!(text, "{nanos_since_midnight} ns since midnight");
            false
        }
    }
}

fn write_fraction(text: &mut String, nanos: u32) {
    if nanos % 1000 == 0 {
        let _ = write!(text, ".{:06}", nanos / 1000);
    } else {
        let _ = write!(text, ".{nanos:09}");
    }
}

/// The exact digits of `value` / 10^`scale`: `12.50`, `-0.05`, `7`.
fn write_decimal(text: &mut String, value: i128, scale: usize) {
    text.clear();
    let digits = value.unsigned_abs().to_string();
    if value < 0 {
        text.push('-');
    }
    if scale == 0 {
        text.push_str(&digits);
        return;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    text.push_str(whole);
    text.push('.');
    text.push_str(fraction);
}

/// `"name"`, with `"` doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_all(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| quote(n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn io_error(sink: &str, action: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        sink: sink.to_owned(),
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn connect_error(sink: &str, path: &Path, message: impl Into<String>) -> Error {
    Error::Connect {
        sink: sink.to_owned(),
        target: format!("SQLite database `{}`", path.display()),
        message: message.into(),
    }
}

/// The database cannot be opened, read or locked for writing.
fn open_error(sink: &str, path: &Path, e: &rusqlite::Error) -> Error {
    let message = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "the file is not an SQLite database; point `path` at an SQLite file, or at a file \
             that does not exist yet"
                .to_owned()
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
            "another process is writing to it (still locked after {} s): {e}",
            BUSY_TIMEOUT.as_secs()
        ),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            format!("cannot open it for writing: {e}")
        }
        _ => e.to_string(),
    };
    connect_error(sink, path, message)
}

fn load_error(sink: &str, table: &str, what: &str, e: &rusqlite::Error) -> Error {
    Error::Load {
        sink: sink.to_owned(),
        table: table.to_owned(),
        message: format!("{what} the table: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_digits() {
        let mut text = String::new();
        for (value, scale, expected) in [
            (1250, 2, "12.50"),
            (-5, 2, "-0.05"),
            (7, 0, "7"),
            (0, 3, "0.000"),
            (i128::MIN, 0, "-170141183460469231731687303715884105728"),
        ] {
            write_decimal(&mut text, value, scale);
            assert_eq!(text, expected);
        }
    }

    #[test]
    fn datetimes_are_iso_8601_with_one_width() {
        let mut text = String::new();
        assert!(write_datetime(
            &mut text,
            1_714_566_600_000,
            TimeUnit::Milliseconds,
            false
        ));
        assert_eq!(text, "2024-05-01T12:30:00.000000");
        assert!(write_datetime(&mut text, -1, TimeUnit::Microseconds, true));
        assert_eq!(text, "1969-12-31T23:59:59.999999Z");
        assert!(write_datetime(
            &mut text,
            1_500,
            TimeUnit::Nanoseconds,
            true
        ));
        assert_eq!(text, "1970-01-01T00:00:00.000001500Z");
        assert!(write_date(&mut text, 19_844));
        assert_eq!(text, "2024-05-01");
        assert!(write_time(&mut text, 45_000_000_000_123));
        assert_eq!(text, "12:30:00.000000123");
    }

    #[test]
    fn kinds_fit_columns_by_meaning_then_affinity() {
        assert!(Kind::Integer.fits("INTEGER"));
        assert!(Kind::Integer.fits("bigint"));
        assert!(Kind::Integer.fits("REAL"));
        assert!(Kind::Boolean.fits("INTEGER"));
        assert!(Kind::Decimal.fits("NUMERIC(10,2)"));
        assert!(Kind::Date.fits("TEXT"));
        assert!(Kind::Integer.fits(""));
        assert!(Kind::Null.fits("INTEGER"));
        assert!(!Kind::Text.fits("INTEGER"));
        assert!(!Kind::Real.fits("INTEGER"));
        assert!(!Kind::Text.fits("DATE"));
        assert!(!Kind::Timestamp.fits("TIMESTAMPTZ"));
        assert!(!Kind::Integer.fits("BOOLEAN"));
        assert!(!Kind::Text.fits("BLOB"));
    }
}
