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

use polars::prelude::DataFrame;
use postgres::Client;
use tracing::debug;

use crate::error::{Error, problem};
use crate::table::{DatabaseUrl, Mode, PostgresTarget, TableOutput};
use encode::{Cell, PgType, Prepared};

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

/// Loads `df` into the table inside a transaction left open (see [`Load`]).
pub(crate) fn load(
    df: &DataFrame,
    target: &PostgresTarget,
    out: &TableOutput,
    sink: &str,
) -> Result<Load, Error> {
    let ctx = Ctx { sink, out };
    let columns = columns(df, ctx)?;
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
    // Each column with the type of the table's column (created now, or as it is).
    let existing = match located.table {
        Some((oid, _)) => existing_columns(&mut client, oid, ctx)?,
        None => {
            create_table(&mut client, &located, &columns, &keys, ctx)?;
            Vec::new()
        }
    };
    let target_types = reconcile(&mut client, table, &columns, &existing, ctx)?;
    let row_column = stage(&mut client, &columns, &target_types, &keys, ctx)?;
    let list = columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let cast = columns
        .iter()
        .zip(&target_types)
        .map(|(c, t)| format!("CAST({} AS {t}) AS {}", ident(&c.name), ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ");
    let statements = match &out.mode {
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
                ident(&row_column)
            )
        }
    };
    client
        .batch_execute(&statements)
        .map_err(ctx.sql(match out.mode {
            Mode::Replace => "replace the table's rows",
            Mode::Append => "append the rows",
            Mode::Merge { .. } => "merge the rows",
        }))?;
    debug!(sink, table = %out.table, rows = df.height(), mode = out.mode.name(), "Loaded the rows; the transaction waits for the commit.");
    Ok(Load {
        client,
        sink: sink.to_owned(),
        table: out.table.to_string(),
    })
}

/// The frame's columns with their PostgreSQL types; nested ones as JSON text.
fn columns(df: &DataFrame, ctx: Ctx<'_>) -> Result<Vec<Prepared>, Error> {
    let data = |message: String| ctx.load(message);
    if df.width() == 0 {
        return Err(data("the output has no columns".into()));
    }
    for name in df.get_column_names() {
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(data(format!(
                "column `{name}`: a PostgreSQL column name has 1 to {MAX_NAME} bytes; rename \
                 it in a transform"
            )));
        }
    }
    let json = crate::csv::nested_as_json(df, ctx.sink)?;
    let mut columns = encode::prepare(&without_nested(df))
        .map_err(data)?
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect::<std::collections::HashMap<_, _>>();
    df.columns()
        .iter()
        .map(|c| {
            let name = c.name().as_str();
            if c.dtype().is_nested() {
                let text = json
                    .as_ref()
                    .and_then(|j| j.column(name).ok())
                    .ok_or_else(|| data(format!("column `{name}`: cannot encode it as JSON")))?;
                encode::json_column(name, text.as_materialized_series()).map_err(data)
            } else {
                columns
                    .remove(name)
                    .ok_or_else(|| data(format!("column `{name}` appears twice")))
            }
        })
        .collect()
}

/// `df` without its list, array and struct columns (encoded separately as JSON).
fn without_nested(df: &DataFrame) -> DataFrame {
    let mut plain = df.clone();
    let nested: Vec<_> = df
        .columns()
        .iter()
        .filter(|c| c.dtype().is_nested())
        .map(|c| c.name().clone())
        .collect();
    for name in nested {
        let _ = plain.drop_in_place(name.as_str());
    }
    plain
}

/// The `primary_key` columns of `merge`: in the frame, never null.
fn merge_keys(keys: &[String], columns: &[Prepared], ctx: Ctx<'_>) -> Result<Vec<String>, Error> {
    for key in keys {
        let Some(column) = columns.iter().find(|c| &c.name == key) else {
            return Err(ctx.load(format!(
                "`primary_key` names `{key}`, which is not a column of the output; it has {}",
                etl_config::quote_list(&columns.iter().map(|c| &c.name).collect::<Vec<_>>())
            )));
        };
        let nulls = column.values.null_count();
        if nulls > 0 {
            return Err(ctx.load(format!(
                "`primary_key` column `{key}` is null in {nulls} row(s); a key identifies a \
                 row, so it needs a value in every row"
            )));
        }
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
    columns: &[Prepared],
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
    columns: &[Prepared],
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

/// Creates the staging table `etl_stage` and sends the rows into it with binary `COPY`.
/// For `merge`, a column numbers the rows (the last of a key wins): its name is returned.
fn stage(
    client: &mut Client,
    columns: &[Prepared],
    target_types: &[String],
    keys: &[String],
    ctx: Ctx<'_>,
) -> Result<String, Error> {
    let mut row_column = String::from("etl_row");
    while columns.iter().any(|c| c.name == row_column) {
        row_column.push('_');
    }
    let numbered = !keys.is_empty();
    let mut definition = Vec::with_capacity(columns.len() + 1);
    for (c, target) in columns.iter().zip(target_types) {
        // A column of nulls only is staged in the table's type: a null is a null in any.
        let staged = if c.pg == PgType::Null {
            target.clone()
        } else {
            c.pg.sql()
        };
        definition.push(format!("{} {staged}", ident(&c.name)));
    }
    if numbered {
        definition.push(format!("{} bigint", ident(&row_column)));
    }
    client
        .batch_execute(&format!(
            "CREATE TEMPORARY TABLE etl_stage ({}) ON COMMIT DROP",
            definition.join(", ")
        ))
        .map_err(ctx.sql("create the staging table"))?;
    let mut readers = columns
        .iter()
        .map(encode::reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| ctx.load(m))?;
    let height = columns.first().map_or(0, |c| c.values.len());
    let fields = i16::try_from(definition.len())
        .map_err(|_| ctx.load("the output has more columns than PostgreSQL allows (1600)"))?;
    // The binary COPY format, framed here and sent in 64 KiB writes. (The driver's
    // `BinaryCopyInWriter` enters its runtime once per row: 2.5 s for a million rows of five
    // columns, against 1 s like this.)
    let mut copy = client
        .copy_in("COPY etl_stage FROM STDIN (FORMAT binary)")
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
    for i in 0..height {
        buf.extend_from_slice(&fields.to_be_bytes());
        for reader in &mut readers {
            reader.next().unwrap_or(Cell::Null).put(&mut buf);
        }
        if numbered {
            Cell::Int(i64::try_from(i).unwrap_or(i64::MAX)).put(&mut buf);
        }
        if buf.len() >= CHUNK {
            sent(&mut copy, &mut buf)?;
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    sent(&mut copy, &mut buf)?;
    let sent = copy.finish().map_err(ctx.sql("send the rows (COPY)"))?;
    debug!(sink = ctx.sink, table = %ctx.out.table, rows = sent, "Staged the rows.");
    Ok(row_column)
}
