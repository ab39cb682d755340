//! `format: postgres` against a real server: `scripts/services.sh` starts one and sets
//! `ETL_TEST_POSTGRES_URL`. Without it these tests fail: they never skip.
//!
//! Each test works in a schema of its own (`it_<test>`), dropped when it starts.

use etl_sink::{Error, RenderVars, SinkConfig, SinkSpec, TableLoad};
use polars::prelude::*;
use postgres::{Client, NoTls};

const VARS: RenderVars<'static> = RenderVars {
    pipeline: "engagement",
    sink: "report",
    date: "2026-11-26",
    timestamp: "20261126_020000",
    run_id: "20261126_020000-0a1f",
};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need a PostgreSQL server; run them through \
             scripts/services.sh / make test (`./scripts/services.sh cargo test -p etl-sink`)"
        )
    })
}

fn url() -> String {
    env("ETL_TEST_POSTGRES_URL")
}

/// The password of the test role, never to appear in a message.
fn password() -> String {
    let url = url();
    let user = url.split("://").nth(1).unwrap().split('@').next().unwrap();
    user.split_once(':').unwrap().1.to_owned()
}

/// A connection of our own, to look at the tables as a reader does.
fn client() -> Client {
    let mut c = Client::connect(&url(), NoTls).unwrap();
    c.batch_execute("SET TimeZone = 'UTC'").unwrap();
    c
}

/// A fresh schema for one test.
fn schema(name: &str) -> String {
    let schema = format!("it_{name}");
    client()
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    schema
}

/// A `postgres` sink as a pipeline file gives it; `extra` holds more keys.
fn sink(table: &str, mode: &str, extra: &str) -> SinkConfig {
    sink_at(&url(), table, mode, extra)
}

fn sink_at(url: &str, table: &str, mode: &str, extra: &str) -> SinkConfig {
    super::sink_from(&format!(
        "from: t\nformat: postgres\nurl: '{url}'\ntable: {table}\nmode: {mode}\n{extra}"
    ))
}

fn load(df: &DataFrame, sink: &SinkConfig) -> Result<TableLoad, Error> {
    super::load_table(df, sink, &VARS)
}

fn load_and_commit(df: &DataFrame, sink: &SinkConfig) {
    let loaded = load(df, sink).unwrap().commit().unwrap();
    assert_eq!(loaded.rows, df.height() as u64);
}

/// Every row of `table`, each as PostgreSQL writes the row as text, in order.
fn dump(table: &str) -> Vec<String> {
    client()
        .query(&format!("SELECT t::text FROM {table} AS t ORDER BY 1"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// `name type` of each column of `table`, in order.
fn columns(table: &str) -> Vec<String> {
    let (schema, name) = table.split_once('.').unwrap();
    client()
        .query(
            "SELECT column_name::text || ' ' || data_type::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&schema, &name],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn tz_utc(values: &[Option<i64>], unit: TimeUnit, zone: Option<TimeZone>) -> Column {
    Series::new("at".into(), values)
        .cast(&DataType::Datetime(unit, zone))
        .unwrap()
        .into()
}

/// An engagement-like report: every type a report has, nulls, and text that breaks naive
/// writers.
fn report() -> DataFrame {
    let day = Series::new("day".into(), [Some(20_783i32), None, Some(0), Some(-1)])
        .cast(&DataType::Date)
        .unwrap();
    let at = tz_utc(
        &[Some(1_795_658_400_123_456_789), Some(0), None, Some(-1_000)],
        TimeUnit::Nanoseconds,
        Some(TimeZone::UTC),
    );
    let local = tz_utc(
        &[Some(1_795_658_400_000_001), None, Some(0), Some(1)],
        TimeUnit::Microseconds,
        None,
    )
    .with_name("local".into());
    let amount: Int128Chunked = [Some(1230i128), Some(-5), None, Some(99_999_999)]
        .into_iter()
        .collect();
    let amount = amount
        .with_name("amount".into())
        .into_decimal(10, 2)
        .unwrap()
        .into_series();
    let tags: ListChunked = [
        Some(Series::new("".into(), ["a", "b \"quoted\""])),
        Some(Series::new("".into(), Vec::<&str>::new())),
        None,
        Some(Series::new("".into(), ["ü"])),
    ]
    .into_iter()
    .collect();
    let mut df = df!(
        "id" => [1i64, 2, 3, 4],
        "user_id" => [Some(7i32), None, Some(-3), Some(i32::MAX)],
        "name" => [Some("Smith, John \"Jack\""), Some("李小龙 🚀"), Some("Fjord\nLogistics\t'x'"), None],
        "score" => [Some(5.85f64), Some(f64::NAN), None, Some(f64::INFINITY)],
        "active" => [Some(true), Some(false), None, Some(true)],
        "nothing" => [None::<i64>, None, None, None],
    )
    .unwrap();
    let nothing = Series::full_null("nothing".into(), 4, &DataType::Null);
    df.replace("nothing", nothing.into()).unwrap();
    df.with_column(day.into()).unwrap();
    df.with_column(at).unwrap();
    df.with_column(local).unwrap();
    df.with_column(amount.into()).unwrap();
    df.with_column(tags.with_name("tags".into()).into_series().into())
        .unwrap();
    df
}

#[test]
fn a_report_reads_back_value_for_value() {
    let schema = schema("values");
    let table = format!("{schema}.report");
    let sink = sink(&table, "replace", "");
    etl_sink::check(&sink, &VARS).unwrap();
    load_and_commit(&report(), &sink);

    assert_eq!(
        columns(&table),
        [
            "id bigint",
            "user_id bigint",
            "name text",
            "score double precision",
            "active boolean",
            "nothing text",
            "day date",
            "at timestamp with time zone",
            "local timestamp without time zone",
            "amount numeric",
            "tags jsonb",
        ]
    );
    let rows = client()
        .query(
            &format!(
                "SELECT id::text, user_id::text, name, score::text, active::text, nothing, \
                 day::text, at::text, local::text, amount::text, tags::text \
                 FROM {table} ORDER BY id"
            ),
            &[],
        )
        .unwrap();
    let got: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
        .collect();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        got,
        [
            vec![
                s("1"),
                s("7"),
                s("Smith, John \"Jack\""),
                s("5.85"),
                s("true"),
                None,
                s("2026-11-26"),
                s("2026-11-26 02:00:00.123456+00"),
                s("2026-11-26 02:00:00.000001"),
                s("12.30"),
                s(r#"["a", "b \"quoted\""]"#),
            ],
            vec![
                s("2"),
                None,
                s("李小龙 🚀"),
                s("NaN"),
                s("false"),
                None,
                None,
                s("1970-01-01 00:00:00+00"),
                None,
                s("-0.05"),
                s("[]"),
            ],
            vec![
                s("3"),
                s("-3"),
                s("Fjord\nLogistics\t'x'"),
                None,
                None,
                None,
                s("1970-01-01"),
                None,
                s("1970-01-01 00:00:00"),
                None,
                None,
            ],
            vec![
                s("4"),
                s("2147483647"),
                None,
                s("Infinity"),
                s("true"),
                None,
                s("1969-12-31"),
                s("1969-12-31 23:59:59.999999+00"),
                s("1970-01-01 00:00:00.000001"),
                s("999999.99"),
                s(r#"["ü"]"#),
            ],
        ]
    );
    // The declared precision and scale, not only the values.
    let amount: String = client()
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = $1::text::regclass AND attname = 'amount'",
            &[&table],
        )
        .unwrap()
        .get(0);
    assert_eq!(amount, "numeric(10,2)");
}

#[test]
fn decimals_of_every_scale_read_back_exactly() {
    let schema = schema("decimals");
    let values = [
        0i128,
        1,
        -1,
        9_999,
        10_000,
        123_456_789_012_345_678,
        -100_000_000,
        10i128.pow(37) + 7,
    ];
    for scale in [0usize, 1, 3, 4, 5, 8, 9] {
        let df = Int128Chunked::from_slice("v".into(), &values)
            .into_decimal(38, scale)
            .unwrap()
            .into_series()
            .into_frame();
        // A table per scale: a column made `numeric(38,0)` does not take decimals.
        let table = format!("{schema}.d{scale}");
        load_and_commit(&df, &sink(&table, "replace", ""));
        let got: Vec<String> = client()
            .query(&format!("SELECT v::text FROM {table}"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let expected: Vec<String> = values
            .iter()
            .map(|v| {
                let digits = format!("{:0>width$}", v.unsigned_abs(), width = scale + 1);
                let (int, frac) = digits.split_at(digits.len() - scale);
                let sign = if *v < 0 { "-" } else { "" };
                if scale == 0 {
                    format!("{sign}{int}")
                } else {
                    format!("{sign}{int}.{frac}")
                }
            })
            .collect();
        assert_eq!(got, expected, "scale {scale}");
    }
}

fn people(ids: &[i64], names: &[&str]) -> DataFrame {
    df!("id" => ids, "name" => names).unwrap()
}

#[test]
fn replace_twice_holds_the_second_run_only() {
    let schema = schema("replace");
    let table = format!("{schema}.people");
    let sink = sink(&table, "replace", "");
    load_and_commit(&people(&[1, 2, 3], &["a", "b", "c"]), &sink);
    load_and_commit(&people(&[3, 4], &["c2", "d"]), &sink);
    assert_eq!(dump(&table), ["(3,c2)", "(4,d)"]);
}

#[test]
fn append_adds_the_rows_to_the_table() {
    let schema = schema("append");
    let table = format!("{schema}.people");
    let sink = sink(&table, "append", "");
    load_and_commit(&people(&[1, 2], &["a", "b"]), &sink);
    load_and_commit(&people(&[2, 3], &["b", "c"]), &sink);
    assert_eq!(dump(&table), ["(1,a)", "(2,b)", "(2,b)", "(3,c)"]);
}

#[test]
fn merge_twice_with_changed_and_new_rows_leaves_exactly_the_truth() {
    let schema = schema("merge");
    let table = format!("{schema}.sales");
    let sink = sink(&table, "merge", "primary_key: [day, store]");
    let sales = |days: &[&str], stores: &[i64], totals: &[f64]| {
        let mut df = df!("day" => days, "store" => stores, "total" => totals).unwrap();
        let day = df.column("day").unwrap().cast(&DataType::Date).unwrap();
        df.replace("day", day).unwrap();
        df
    };
    // The first run has a key twice: its last row wins.
    load_and_commit(
        &sales(
            &["2026-11-01", "2026-11-01", "2026-11-02", "2026-11-01"],
            &[1, 2, 1, 1],
            &[10.0, 20.0, 30.0, 11.0],
        ),
        &sink,
    );
    assert_eq!(
        dump(&table),
        [
            "(2026-11-01,1,11)",
            "(2026-11-01,2,20)",
            "(2026-11-02,1,30)"
        ]
    );
    // Orders updated in between: a changed row, a new day, a row not in this run kept.
    load_and_commit(
        &sales(
            &["2026-11-02", "2026-11-03", "2026-11-02"],
            &[1, 1, 1],
            &[31.0, 5.0, 32.5],
        ),
        &sink,
    );
    assert_eq!(
        dump(&table),
        [
            "(2026-11-01,1,11)",
            "(2026-11-01,2,20)",
            "(2026-11-02,1,32.5)",
            "(2026-11-03,1,5)"
        ]
    );
    // The table etl created has the key as its primary key.
    let key: String = client()
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = $1::text::regclass AND contype = 'p'",
            &[&table],
        )
        .unwrap()
        .get(0);
    assert_eq!(key, "PRIMARY KEY (day, store)");
}

#[test]
fn merge_refuses_null_keys_naming_the_column() {
    let schema = schema("merge_null");
    let sink = sink(&format!("{schema}.t"), "merge", "primary_key: id");
    let df = df!("id" => [Some(1i64), None], "v" => ["a", "b"]).unwrap();
    let e = load(&df, &sink).unwrap_err().to_string();
    assert!(
        e.contains("`primary_key` column `id` is null in 1 row(s)"),
        "{e}"
    );
}

#[test]
fn a_new_column_is_added_and_old_rows_have_no_value_in_it() {
    let schema = schema("new_column");
    let table = format!("{schema}.people");
    let sink = sink(&table, "append", "");
    load_and_commit(&people(&[1], &["a"]), &sink);
    let df = df!("id" => [2i64], "name" => ["b"], "visits" => [5i32]).unwrap();
    load_and_commit(&df, &sink);
    assert_eq!(columns(&table), ["id bigint", "name text", "visits bigint"]);
    assert_eq!(dump(&table), ["(1,a,)", "(2,b,5)"]);
    // A column of the table the run lacks is left null.
    load_and_commit(&people(&[3], &["c"]), &sink);
    assert_eq!(dump(&table), ["(1,a,)", "(2,b,5)", "(3,c,)"]);
}

#[test]
fn a_type_that_no_longer_fits_fails_naming_the_column_and_changes_nothing() {
    let schema = schema("type_change");
    let table = format!("{schema}.people");
    let sink = sink(&table, "replace", "");
    load_and_commit(&people(&[1, 2], &["a", "b"]), &sink);
    let before = (dump(&table), columns(&table));
    // `id` was bigint; now text. `extra` would be added, were the load to go on.
    let df = df!("id" => ["x1"], "name" => ["b"], "extra" => [1i64]).unwrap();
    match load(&df, &sink) {
        Err(Error::ColumnType {
            column,
            existing,
            incoming,
            ..
        }) => {
            assert_eq!(
                (column.as_str(), existing.as_str(), incoming.as_str()),
                ("id", "bigint", "text")
            );
        }
        other => panic!("expected a column type error, got {other:?}"),
    }
    assert_eq!((dump(&table), columns(&table)), before);
    // Wider values into the same type still fit; a value past `integer` does not.
    client()
        .batch_execute(&format!("ALTER TABLE {table} ALTER COLUMN id TYPE integer"))
        .unwrap();
    load_and_commit(&people(&[5], &["e"]), &sink);
    let e = load(&people(&[5_000_000_000], &["f"]), &sink)
        .unwrap_err()
        .to_string();
    assert!(e.contains("column `id`") && e.contains("`integer`"), "{e}");
    assert_eq!(dump(&table), ["(5,e)"]);
}

#[test]
fn a_load_dropped_without_commit_leaves_the_table_as_it_was() {
    let schema = schema("rollback");
    let table = format!("{schema}.people");
    load_and_commit(&people(&[1, 2], &["a", "b"]), &sink(&table, "replace", ""));
    let before = dump(&table);
    // Readers see nothing of a load before its commit.
    let pending = load(&people(&[3, 4], &["c", "d"]), &sink(&table, "append", "")).unwrap();
    assert_eq!(dump(&table), before);
    drop(pending);
    assert_eq!(dump(&table), before);
    // The same for replace, and for merge, once the connection is gone.
    let df = df!("id" => [1i64, 9], "name" => ["z", "y"], "new" => [true, false]).unwrap();
    drop(load(&df, &sink(&table, "replace", "")).unwrap());
    drop(load(&df, &sink(&table, "merge", "primary_key: id")).unwrap());
    assert_eq!(dump(&table), before);
    assert_eq!(columns(&table), ["id bigint", "name text"]);
}

#[test]
fn text_with_a_nul_character_is_refused_naming_the_column() {
    let schema = schema("nul");
    let sink = sink(&format!("{schema}.t"), "replace", "");
    let df = df!("id" => [1i64, 2], "note" => ["fine", "bad\0byte"]).unwrap();
    let e = load(&df, &sink).unwrap_err().to_string();
    assert!(e.contains("column `note`") && e.contains("NUL"), "{e}");
}

#[test]
fn unsigned_values_past_bigint_are_refused_naming_the_column() {
    let schema = schema("uint");
    let sink = sink(&format!("{schema}.t"), "replace", "");
    let ok = df!("n" => [1u64, i64::MAX as u64]).unwrap();
    load_and_commit(&ok, &sink);
    let df = df!("n" => [1u64, u64::MAX]).unwrap();
    let e = load(&df, &sink).unwrap_err().to_string();
    assert!(
        e.contains("column `n`") && e.contains("18446744073709551615"),
        "{e}"
    );
}

fn connect_error(sink: &SinkConfig) -> String {
    match etl_sink::check(sink, &VARS) {
        Err(e @ Error::Connect { .. }) => e.to_string(),
        other => panic!("expected a connection error, got {other:?}"),
    }
}

#[test]
fn a_wrong_password_fails_the_check_without_showing_a_password() {
    let url = url();
    let right = password();
    let wrong = format!("{right}-not-it");
    let sink = sink_at(&url.replace(&right, &wrong), "t", "replace", "");
    let e = connect_error(&sink);
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(e.contains("etl:***@127.0.0.1"), "{e}");
    assert!(!e.contains(&right) && !e.contains(&wrong), "{e}");
}

#[test]
fn an_unreachable_server_fails_the_check_quickly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = url();
    let right = password();
    let host = url.split('@').nth(1).unwrap().split('/').next().unwrap();
    let sink = sink_at(
        &url.replace(host, &format!("127.0.0.1:{port}")),
        "t",
        "replace",
        "",
    );
    let started = std::time::Instant::now();
    let e = connect_error(&sink);
    assert!(started.elapsed().as_secs() < 10, "{e}");
    assert!(e.contains("error connecting to server"), "{e}");
    assert!(!e.contains(&right), "{e}");
}

#[test]
fn check_reports_missing_privileges_and_changes_nothing() {
    let schema = schema("privileges");
    let table = format!("{schema}.people");
    let reader = env("ETL_TEST_POSTGRES_READER_URL");
    // A missing table the role may not create.
    let e = etl_sink::check(&sink_at(&reader, "people", "replace", ""), &VARS)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("may not create tables in schema `public`"),
        "{e}"
    );
    assert!(e.contains("GRANT USAGE, CREATE ON SCHEMA"), "{e}");
    // A missing schema the role may not create.
    let e = etl_sink::check(&sink_at(&reader, &table, "replace", ""), &VARS)
        .unwrap_err()
        .to_string();
    assert!(e.contains("create the schema `it_privileges`"), "{e}");
    // An existing table it may read, not write.
    load_and_commit(&people(&[1], &["a"]), &sink(&table, "replace", ""));
    client()
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA {schema} TO etl_reader; GRANT SELECT ON {table} TO etl_reader"
        ))
        .unwrap();
    let e = etl_sink::check(&sink_at(&reader, &table, "merge", "primary_key: id"), &VARS)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("may not insert, delete the table (`mode: merge` needs INSERT, SELECT, DELETE)"),
        "{e}"
    );
    // The owner may; nothing changed.
    etl_sink::check(&sink(&table, "merge", "primary_key: id"), &VARS).unwrap();
    etl_sink::check(&sink(&format!("{schema}.missing"), "append", ""), &VARS).unwrap();
    etl_sink::check(&sink("it_not_there.t", "append", ""), &VARS).unwrap();
    assert_eq!(dump(&table), ["(1,a)"]);
    let schemas: i64 = client()
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'it_not_there'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(schemas, 0);
}

#[test]
fn bad_urls_are_config_errors_without_the_password() {
    for (url, expected) in [
        (
            "postgres://etl:s3cr3t@db/r?sslmode=sometimes",
            "`sslmode=sometimes` is not a mode",
        ),
        (
            "mysql://etl:s3cr3t@db/r",
            "`mysql://` is not a PostgreSQL URL",
        ),
        (
            "postgres://etl:s3cr3t@db:port/r",
            "postgres://etl:***@db:port/r",
        ),
    ] {
        let spec: SinkSpec = serde_yaml::from_str(&format!(
            "from: t\nformat: postgres\nurl: '{url}'\ntable: t"
        ))
        .unwrap();
        let errors = spec.build("report").unwrap_err();
        let text = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("sinks.report.url"), "{text}");
        assert!(text.contains(expected), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}

#[test]
fn tls_is_checked_as_sslmode_says() {
    let schema = schema("tls");
    let table = format!("{schema}.people");
    let ca = env("ETL_TEST_POSTGRES_CA");
    let with = |mode: &str, host: &str| {
        format!(
            "{}?sslmode={mode}",
            url().replace("@127.0.0.1:", &format!("@{host}:"))
        )
    };
    let ca_file = format!("tls:\n  ca_file: '{ca}'");
    // The private CA verifies the server's certificate, by address and by name.
    let verified = sink_at(
        &with("verify-full", "127.0.0.1"),
        &table,
        "replace",
        &ca_file,
    );
    etl_sink::check(&verified, &VARS).unwrap();
    load_and_commit(&people(&[1], &["a"]), &verified);
    etl_sink::check(
        &sink_at(
            &with("verify-full", "localhost"),
            &table,
            "replace",
            &ca_file,
        ),
        &VARS,
    )
    .unwrap();
    // No sslmode with a CA: verify-full.
    etl_sink::check(&sink_at(&url(), &table, "replace", &ca_file), &VARS).unwrap();
    // Without the CA the certificate is not trusted...
    let e = connect_error(&sink_at(
        &with("verify-full", "127.0.0.1"),
        &table,
        "replace",
        "",
    ));
    assert!(e.contains("UnknownIssuer") || e.contains("issuer"), "{e}");
    let e = connect_error(&sink_at(
        &with("verify-ca", "127.0.0.1"),
        &table,
        "replace",
        "",
    ));
    assert!(e.contains("UnknownIssuer") || e.contains("issuer"), "{e}");
    // ... but `require` only encrypts, as in libpq.
    etl_sink::check(
        &sink_at(&with("require", "127.0.0.1"), &table, "replace", ""),
        &VARS,
    )
    .unwrap();
    // A CA file that is not one is named.
    let e = connect_error(&sink_at(
        &with("verify-full", "127.0.0.1"),
        &table,
        "replace",
        "tls:\n  ca_file: Cargo.toml",
    ));
    assert!(
        e.contains("Cargo.toml") && e.contains("no PEM certificate"),
        "{e}"
    );
    assert_eq!(dump(&table), ["(1,a)"]);
}

#[test]
fn an_output_that_fails_part_way_loads_nothing() {
    let schema = schema("input_fails");
    let table = format!("{schema}.people");
    load_and_commit(&people(&[1, 2], &["a", "b"]), &sink(&table, "replace", ""));
    let before = dump(&table);
    for mode in ["replace", "append", "merge"] {
        let extra = if mode == "merge" {
            "primary_key: id"
        } else {
            ""
        };
        let batches = [
            Ok(people(&[3, 4], &["c", "d"])),
            Err("the transform failed on its second batch"),
        ];
        let df = people(&[3], &["c"]);
        match etl_sink::load(df.schema(), batches, &sink(&table, mode, extra), &VARS) {
            Err(etl_sink::LoadError::Input(e)) => {
                assert_eq!(e, "the transform failed on its second batch");
            }
            other => panic!("{mode}: {other:?}"),
        }
        assert_eq!(dump(&table), before, "{mode}");
    }
}

#[test]
fn merge_keeps_the_last_row_of_a_key_across_batches() {
    let schema = schema("merge_batches");
    let table = format!("{schema}.people");
    // Batches of two rows: key 1 comes again in the third batch, key 2 in the second.
    let df = people(&[1, 2, 3, 2, 4, 1], &["a", "b", "c", "b2", "d", "a2"]);
    load_and_commit(&df, &sink(&table, "merge", "primary_key: id"));
    assert_eq!(dump(&table), ["(1,a2)", "(2,b2)", "(3,c)", "(4,d)"]);
}
