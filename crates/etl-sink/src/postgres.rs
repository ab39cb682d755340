//! `format: postgres`: a table of a PostgreSQL server.
//!
//! [`check`] runs before a run fetches anything: it connects and checks the privileges the
//! load needs, changing nothing. [`load`] does all its work in one transaction: it creates the
//! table from the frame's types when missing (a `PRIMARY KEY` on `primary_key` for `merge`),
//! adds the frame's new columns, refuses a column whose type the values no longer fit, sends
//! the rows with binary `COPY` into a temporary staging table, then moves them into the table:
//! `replace` empties it first (`TRUNCATE`), `append` adds them, `merge` deletes the rows whose
//! key comes again and inserts the run's last row of each key. [`Load::commit`] commits;
//! dropping the [`Load`] closes the connection, and the server rolls everything back.
//!
//! The connection ([`connect`]) reads `sslmode` and `tls.ca_file`; the values are written from
//! the polars arrays by [`encode`].

mod connect;
mod encode;

use std::fmt::Write as _;
use std::io::Write as _;

use polars::prelude::{DataFrame, Schema, Series};
use postgres::Client;
use tracing::debug;

use crate::error::{Error, problem};
use crate::table::{DatabaseUrl, Mode, PostgresTarget, TableOutput};
use encode::{Cell, Column, PgType};

/// PostgreSQL cuts longer names (NAMEDATALEN - 1 bytes).
const MAX_NAME: usize = 63;

/// Bytes of `COPY` data sent at once.
const CHUNK: usize = 64 * 1024;

/// Checks `url` without connecting: scheme, the driver's reading of it, `sslmode`.
pub(crate) fn check_url(url: &DatabaseUrl) -> Result<(), etl_config::ConfigError> {
    connect::settings(url).map(drop).map_err(|message| {
        problem(message).with_hint(
            "write `postgres://USER:PASSWORD@HOST:5432/DB`, optionally with \
             `?sslmode=disable|prefer|require|verify-ca|verify-full`",
        )
    })
}

/// `"name"`, quotes doubled.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The table, found or to be created, in a schema named explicitly.
#[derive(Debug)]
struct Located {
    schema: String,
    schema_exists: bool,
    /// The table's oid and `relkind`, if it exists.
    table: Option<(u32, String)>,
    /// `"schema"."name"`.
    qualified: String,
}

/// The errors of one sink's table.
#[derive(Debug, Clone, Copy)]
struct Ctx<'a> {
    sink: &'a str,
    out: &'a TableOutput,
}

impl Ctx<'_> {
    fn load(&self, message: impl Into<String>) -> Error {
        Error::Load {
            sink: self.sink.to_owned(),
            table: self.out.table.to_string(),
            message: message.into(),
        }
    }

    /// A failed statement: what was being done, and the server's reason.
    fn sql<'e>(&self, doing: &'e str) -> impl Fn(postgres::Error) -> Error + 'e
    where
        Self: 'e,
    {
        let this = *self;
        move |e| this.load(format!("cannot {doing}: {}", connect::chain(&e)))
    }
}

/// Where the table is: its schema (`schema.name`, or the one an unqualified name resolves to,
/// else the first schema of the search path, where `CREATE TABLE` would put it).
fn locate(client: &mut Client, ctx: Ctx<'_>) -> Result<Located, Error> {
    let name = &ctx.out.table.name;
    let schema = if let Some(schema) = &ctx.out.table.schema {
        schema.clone()
    } else {
        let row = client
            .query_one(
                "SELECT coalesce((SELECT n.nspname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid = to_regclass($1::text)), current_schema()::text)",
                &[&ident(name)],
            )
            .map_err(ctx.sql("find the table"))?;
        row.get::<_, Option<String>>(0).ok_or_else(|| {
            ctx.load("the search path names no schema to create it in; write `table: schema.name`")
        })?
    };
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1), \
             (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname = $1 AND c.relname = $2), \
             (SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n \
              ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)",
            &[&schema, name],
        )
        .map_err(ctx.sql("find the table"))?;
    let table = row
        .get::<_, Option<u32>>(1)
        .zip(row.get::<_, Option<String>>(2));
    if let Some((_, kind)) = &table {
        if kind != "r" && kind != "p" {
            let what = match kind.as_str() {
                "v" => "a view",
                "m" => "a materialized view",
                "f" => "a foreign table",
                "S" => "a sequence",
                "i" | "I" => "an index",
                _ => "not a table",
            };
            return Err(ctx.load(format!(
                "`{schema}.{name}` is {what}; name a table, or one that does not exist yet"
            )));
        }
    }
    Ok(Located {
        qualified: format!("{}.{}", ident(&schema), ident(name)),
        schema_exists: row.get(0),
        schema,
        table,
    })
}

/// Before a run fetches anything: connects, and checks that the table can be created or
/// written as `mode` needs. Changes nothing.
pub(crate) fn check(target: &PostgresTarget, out: &TableOutput, sink: &str) -> Result<(), Error> {
    let ctx = Ctx { sink, out };
    let mut client = connect::connect(target, sink)?;
    let row = client
        .query_one(
            "SELECT current_user::text, current_database()::text, \
             current_setting('transaction_read_only') = 'on', \
             has_database_privilege(current_database(), 'TEMP'), \
             has_database_privilege(current_database(), 'CREATE')",
            &[],
        )
        .map_err(ctx.sql("read the session's privileges"))?;
    let (user, database): (String, String) = (row.get(0), row.get(1));
    let denied = |what: &str, grant: String| {
        ctx.load(format!(
            "role `{user}` may not {what}; an administrator can run `{grant}`"
        ))
    };
    if row.get::<_, bool>(2) {
        return Err(ctx.load(
            "the server only reads (a standby, or `default_transaction_read_only`); give the \
             primary's address",
        ));
    }
    if !row.get::<_, bool>(3) {
        return Err(denied(
            "create temporary tables (the load stages its rows in one)",
            format!(
                "GRANT TEMPORARY ON DATABASE {} TO {}",
                ident(&database),
                ident(&user)
            ),
        ));
    }
    let can_create_schema: bool = row.get(4);
    let located = locate(&mut client, ctx)?;
    let schema = &located.schema;
    let Some((oid, _)) = located.table else {
        if !located.schema_exists {
            if can_create_schema {
                return Ok(());
            }
            return Err(denied(
                &format!("create the schema `{schema}`, which does not exist"),
                format!(
                    "GRANT CREATE ON DATABASE {} TO {}",
                    ident(&database),
                    ident(&user)
                ),
            ));
        }
        let row = client
            .query_one(
                "SELECT has_schema_privilege($1, 'USAGE'), has_schema_privilege($1, 'CREATE')",
                &[schema],
            )
            .map_err(ctx.sql("read the schema's privileges"))?;
        if row.get::<_, bool>(0) && row.get::<_, bool>(1) {
            return Ok(());
        }
        return Err(denied(
            &format!("create tables in schema `{schema}`"),
            format!(
                "GRANT USAGE, CREATE ON SCHEMA {} TO {}",
                ident(schema),
                ident(&user)
            ),
        ));
    };
    let needed: &[&str] = match out.mode {
        Mode::Replace => &["INSERT", "TRUNCATE"],
        Mode::Append => &["INSERT"],
        Mode::Merge { .. } => &["INSERT", "SELECT", "DELETE"],
    };
    let row = client
        .query_one(
            "SELECT has_schema_privilege($1, 'USAGE'), \
             array(SELECT p FROM unnest($3::text[]) AS p WHERE NOT has_table_privilege($2::oid, p))",
            &[schema, &oid, &needed],
        )
        .map_err(ctx.sql("read the table's privileges"))?;
    let missing: Vec<String> = row.get(1);
    if !row.get::<_, bool>(0) {
        return Err(denied(
            &format!("use schema `{schema}`"),
            format!(
                "GRANT USAGE ON SCHEMA {} TO {}",
                ident(schema),
                ident(&user)
            ),
        ));
    }
    if !missing.is_empty() {
        return Err(denied(
            &format!(
                "{} the table (`mode: {}` needs {})",
                missing.join(", ").to_lowercase(),
                out.mode.name(),
                needed.join(", ")
            ),
            format!(
                "GRANT {} ON {} TO {}",
                missing.join(", "),
                located.qualified,
                ident(&user)
            ),
        ));
    }
    Ok(())
}

/// Rows loaded in a transaction not committed yet. Dropping it closes the connection: the
/// server rolls the transaction back.
pub(crate) struct Load {
    client: Client,
    sink: String,
    table: String,
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Load")
            .field("sink", &self.sink)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl Load {
    pub(crate) fn commit(mut self) -> Result<(), Error> {
        self.client
            .batch_execute("COMMIT")
            .map_err(|e| Error::Load {
                sink: self.sink.clone(),
                table: self.table.clone(),
                message: format!("cannot commit: {}", connect::chain(&e)),
            })
    }
}

/// A column of the table as it is.
#[derive(Debug)]
struct Existing {
    name: String,
    /// The base type's name (`int8`, `numeric`, ...).
    typname: String,
    typmod: i32,
    /// As SQL (`numeric(10,2)`, `character varying(20)`).
    shown: String,
}

/// Loads the output, batch after batch (each with the columns of `schema`), into the table
/// inside a transaction left open (see [`Load`]). Returns the rows loaded.
///
/// A table created by this load, or appended to when each column has exactly the type etl
/// sends, takes the rows straight from `COPY` (no reader sees them before the commit).
/// Otherwise the rows are staged first, and the table checked and widened knowing every
/// value, then `replace` and `merge` move them in with one short statement each.
pub(crate) fn load(
    schema: &Schema,
    frames: &mut dyn Iterator<Item = DataFrame>,
    target: &PostgresTarget,
    out: &TableOutput,
    sink: &str,
) -> Result<(Load, u64), Error> {
    let ctx = Ctx { sink, out };
    let mut columns = columns(schema, ctx)?;
    let keys = match &out.mode {
        Mode::Merge { primary_key } => merge_keys(primary_key, &columns, ctx)?,
        _ => Vec::new(),
    };
    let mut client = connect::connect(target, sink)?;
    client
        .batch_execute("BEGIN; SET LOCAL TimeZone = 'UTC'")
        .map_err(ctx.sql("start a transaction"))?;
    let located = locate(&mut client, ctx)?;
    let table = &located.qualified;
    let existing = match located.table {
        Some((oid, _)) => Some(existing_columns(&mut client, oid, ctx)?),
        None => None,
    };
    let direct = match (&out.mode, &existing) {
        (Mode::Merge { .. }, _) => false,
        (_, None) => true,
        (Mode::Append, Some(existing)) => columns.iter().all(|c| {
            existing
                .iter()
                .find(|e| e.name == c.name)
                .is_none_or(|e| c.pg.is_exactly(&e.typname, e.typmod))
        }),
        (Mode::Replace, Some(_)) => false,
    };
    let rows = if direct {
        let existing = match existing {
            Some(existing) => existing,
            None => {
                create_table(&mut client, &located, &columns, &keys, ctx)?;
                Vec::new()
            }
        };
        reconcile(&mut client, table, &columns, &existing, ctx)?;
        let list = columns.iter().map(|c| ident(&c.name)).collect::<Vec<_>>();
        let into = format!("{table} ({})", list.join(", "));
        copy_rows(&mut client, &into, &mut columns, frames, false, ctx)?
    } else {
        let (row_column, rows) = stage(&mut client, &mut columns, frames, &keys, ctx)?;
        for key in &keys {
            if let Some(c) = columns.iter().find(|c| &c.name == key)
                && c.nulls > 0
            {
                return Err(ctx.load(format!(
                    "`primary_key` column `{key}` is null in {} row(s); a key identifies a \
                     row, so it needs a value in every row",
                    c.nulls
                )));
            }
        }
        let existing = match existing {
            Some(existing) => existing,
            None => {
                create_table(&mut client, &located, &columns, &keys, ctx)?;
                Vec::new()
            }
        };
        let target_types = reconcile(&mut client, table, &columns, &existing, ctx)?;
        let statement = move_statement(table, &columns, &target_types, &keys, &row_column, out);
        client
            .batch_execute(&statement)
            .map_err(ctx.sql(match out.mode {
                Mode::Replace => "replace the table's rows",
                Mode::Append => "append the rows",
                Mode::Merge { .. } => "merge the rows",
            }))?;
        rows
    };
    debug!(sink, table = %out.table, rows, mode = out.mode.name(), direct, "Loaded the rows; the transaction waits for the commit.");
    let load = Load {
        client,
        sink: sink.to_owned(),
        table: out.table.to_string(),
    };
    Ok((load, rows))
}

/// The statements that move the staged rows into `table`, their values cast to the table's
/// types.
fn move_statement(
    table: &str,
    columns: &[Column],
    target_types: &[String],
    keys: &[String],
    row_column: &str,
    out: &TableOutput,
) -> String {
    let list = columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let cast = columns
        .iter()
        .zip(target_types)
        .map(|(c, t)| format!("CAST({} AS {t}) AS {}", ident(&c.name), ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ");
    match &out.mode {
        Mode::Replace => {
            format!("TRUNCATE {table}; INSERT INTO {table} ({list}) SELECT {cast} FROM etl_stage")
        }
        Mode::Append => format!("INSERT INTO {table} ({list}) SELECT {cast} FROM etl_stage"),
        Mode::Merge { .. } => {
            let key_list = keys.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ");
            let matches = keys
                .iter()
                .map(|k| format!("t.{k} = s.{k}", k = ident(k)))
                .collect::<Vec<_>>()
                .join(" AND ");
            // The run's last row of each key (the values cast to the table's types first, so
            // that keys equal in the table are equal here).
            format!(
                "CREATE TEMPORARY TABLE etl_merge ON COMMIT DROP AS \
                 SELECT DISTINCT ON ({key_list}) {cast} FROM etl_stage \
                 ORDER BY {key_list}, {} DESC; \
                 DELETE FROM {table} AS t USING etl_merge AS s WHERE {matches}; \
                 INSERT INTO {table} ({list}) SELECT {list} FROM etl_merge",
                ident(row_column)
            )
        }
    }
}

/// The output's columns with their PostgreSQL types; nested ones as JSON text.
fn columns(schema: &Schema, ctx: Ctx<'_>) -> Result<Vec<Column>, Error> {
    if schema.is_empty() {
        return Err(ctx.load("the output has no columns"));
    }
    schema
        .iter()
        .map(|(name, dtype)| {
            if name.is_empty() || name.len() > MAX_NAME {
                return Err(ctx.load(format!(
                    "column `{name}`: a PostgreSQL column name has 1 to {MAX_NAME} bytes; \
                     rename it in a transform"
                )));
            }
            Column::of(name, dtype).map_err(|m| ctx.load(m))
        })
        .collect()
}

/// The values of each column of one batch, ready for the encoder.
fn batch_values(df: &DataFrame, columns: &[Column], ctx: Ctx<'_>) -> Result<Vec<Series>, Error> {
    let json = crate::csv::nested_as_json(df, ctx.sink)?;
    let df = json.as_ref().unwrap_or(df);
    columns
        .iter()
        .map(|c| {
            let series = df
                .column(&c.name)
                .map_err(|_| ctx.load(format!("a batch of the output lacks column `{}`", c.name)))?
                .as_materialized_series();
            encode::values(&c.name, &c.pg, series).map_err(|m| ctx.load(m))
        })
        .collect()
}

/// The `primary_key` columns of `merge`: in the frame, never null.
fn merge_keys(keys: &[String], columns: &[Column], ctx: Ctx<'_>) -> Result<Vec<String>, Error> {
    for key in keys {
        let Some(column) = columns.iter().find(|c| &c.name == key) else {
            return Err(ctx.load(format!(
                "`primary_key` names `{key}`, which is not a column of the output; it has {}",
                etl_config::quote_list(&columns.iter().map(|c| &c.name).collect::<Vec<_>>())
            )));
        };
        if column.pg == PgType::Jsonb {
            return Err(ctx.load(format!(
                "`primary_key` column `{key}` is a list or a struct; a key is a plain value"
            )));
        }
    }
    Ok(keys.to_vec())
}

fn existing_columns(client: &mut Client, oid: u32, ctx: Ctx<'_>) -> Result<Vec<Existing>, Error> {
    let rows = client
        .query(
            "SELECT a.attname::text, \
             (SELECT b.typname::text FROM pg_type b WHERE b.oid = \
              CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END), \
             a.atttypmod, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&oid],
        )
        .map_err(ctx.sql("read the table's columns"))?;
    Ok(rows
        .iter()
        .map(|r| Existing {
            name: r.get(0),
            typname: r.get(1),
            typmod: r.get(2),
            shown: r.get(3),
        })
        .collect())
}

fn create_table(
    client: &mut Client,
    located: &Located,
    columns: &[Column],
    keys: &[String],
    ctx: Ctx<'_>,
) -> Result<(), Error> {
    let mut sql = String::new();
    if !located.schema_exists {
        let _ = write!(
            sql,
            "CREATE SCHEMA IF NOT EXISTS {}; ",
            ident(&located.schema)
        );
    }
    let _ = write!(sql, "CREATE TABLE {} (", located.qualified);
    for (i, c) in columns.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(sql, "{sep}{} {}", ident(&c.name), c.pg.sql());
    }
    if !keys.is_empty() {
        let keys = keys.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ");
        let _ = write!(sql, ", PRIMARY KEY ({keys})");
    }
    sql.push(')');
    client
        .batch_execute(&sql)
        .map_err(ctx.sql("create the table"))
}

/// Checks each column of the frame against the table's (adding the new ones) and returns
/// the type of each in the table, as SQL.
fn reconcile(
    client: &mut Client,
    table: &str,
    columns: &[Column],
    existing: &[Existing],
    ctx: Ctx<'_>,
) -> Result<Vec<String>, Error> {
    let mut types = Vec::with_capacity(columns.len());
    let mut added = Vec::new();
    for c in columns {
        let Some(e) = existing.iter().find(|e| e.name == c.name) else {
            if !existing.is_empty() {
                added.push(format!("ADD COLUMN {} {}", ident(&c.name), c.pg.sql()));
            }
            types.push(c.pg.sql());
            continue;
        };
        let in_range = match (e.typname.as_str(), c.range) {
            ("int4", Some((lo, hi))) => i32::try_from(lo).is_ok() && i32::try_from(hi).is_ok(),
            ("int2", Some((lo, hi))) => i16::try_from(lo).is_ok() && i16::try_from(hi).is_ok(),
            _ => true,
        };
        if !(c.all_null || c.pg.fits(&e.typname, e.typmod) && in_range) {
            return Err(Error::ColumnType {
                sink: ctx.sink.to_owned(),
                table: ctx.out.table.to_string(),
                column: c.name.clone(),
                existing: e.shown.clone(),
                incoming: if in_range {
                    c.pg.sql()
                } else {
                    let (lo, hi) = c.range.unwrap_or_default();
                    format!("bigint from {lo} to {hi}")
                },
            });
        }
        types.push(e.shown.clone());
    }
    if !added.is_empty() {
        let names: Vec<_> = columns
            .iter()
            .filter(|c| !existing.iter().any(|e| e.name == c.name))
            .map(|c| c.name.as_str())
            .collect();
        debug!(sink = ctx.sink, table = %ctx.out.table, columns = ?names, "Adding columns.");
        client
            .batch_execute(&format!("ALTER TABLE {table} {}", added.join(", ")))
            .map_err(ctx.sql("add the new columns"))?;
    }
    Ok(types)
}

/// Creates the staging table `etl_stage` and sends the rows into it (see [`copy_rows`]).
/// For `merge`, a column numbers the rows (the last of a key wins). Returns its name and
/// the rows sent.
fn stage(
    client: &mut Client,
    columns: &mut [Column],
    frames: &mut dyn Iterator<Item = DataFrame>,
    keys: &[String],
    ctx: Ctx<'_>,
) -> Result<(String, u64), Error> {
    let mut row_column = String::from("etl_row");
    while columns.iter().any(|c| c.name == row_column) {
        row_column.push('_');
    }
    let numbered = !keys.is_empty();
    // A column of nulls only is staged as text: a null casts to any type of the table.
    let mut definition: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {}", ident(&c.name), c.pg.sql()))
        .collect();
    if numbered {
        definition.push(format!("{} bigint", ident(&row_column)));
    }
    client
        .batch_execute(&format!(
            "CREATE TEMPORARY TABLE etl_stage ({}) ON COMMIT DROP",
            definition.join(", ")
        ))
        .map_err(ctx.sql("create the staging table"))?;
    let rows = copy_rows(client, "etl_stage", columns, frames, numbered, ctx)?;
    Ok((row_column, rows))
}

/// Sends the rows into `into` (a table, and its column list) with binary `COPY`, batch after
/// batch, noting in `columns` what their values hold; `numbered` adds the row's number as a
/// last field. Returns the rows sent.
fn copy_rows(
    client: &mut Client,
    into: &str,
    columns: &mut [Column],
    frames: &mut dyn Iterator<Item = DataFrame>,
    numbered: bool,
    ctx: Ctx<'_>,
) -> Result<u64, Error> {
    let fields = i16::try_from(columns.len() + usize::from(numbered))
        .map_err(|_| ctx.load("the output has more columns than PostgreSQL allows (1600)"))?;
    // The binary COPY format, framed here and sent in 64 KiB writes. (The driver's
    // `BinaryCopyInWriter` enters its runtime once per row: 2.5 s for a million rows of five
    // columns, against 1 s like this.)
    let mut copy = client
        .copy_in(&format!("COPY {into} FROM STDIN (FORMAT binary)"))
        .map_err(ctx.sql("start the COPY"))?;
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&[0; 8]); // flags, header extension length
    let sent = |copy: &mut postgres::CopyInWriter<'_>, buf: &mut Vec<u8>| {
        let written = copy.write_all(buf);
        buf.clear();
        written.map_err(|e| {
            // The server's refusal travels inside the I/O error.
            let reason = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<postgres::Error>())
                .map_or_else(|| e.to_string(), connect::chain);
            ctx.load(format!("cannot send the rows (COPY): {reason}"))
        })
    };
    let mut row: i64 = 0;
    for df in frames {
        let values = batch_values(&df, columns, ctx)?;
        for (c, v) in columns.iter_mut().zip(&values) {
            c.observe(v).map_err(|m| ctx.load(m))?;
        }
        let mut readers = columns
            .iter()
            .zip(&values)
            .map(|(c, v)| encode::reader(&c.name, &c.pg, v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| ctx.load(m))?;
        for _ in 0..df.height() {
            buf.extend_from_slice(&fields.to_be_bytes());
            for reader in &mut readers {
                reader.next().unwrap_or(Cell::Null).put(&mut buf);
            }
            if numbered {
                Cell::Int(row).put(&mut buf);
            }
            row += 1;
            if buf.len() >= CHUNK {
                sent(&mut copy, &mut buf)?;
            }
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    sent(&mut copy, &mut buf)?;
    let sent = copy.finish().map_err(ctx.sql("send the rows (COPY)"))?;
    debug!(sink = ctx.sink, table = %ctx.out.table, rows = sent, into, "Sent the rows.");
    Ok(sent)
}
