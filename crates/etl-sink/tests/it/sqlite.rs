//! `format: sqlite`: loads read back by opening the file independently.

use std::path::{Path, PathBuf};

use etl_sink::{Error, Loaded, RenderVars, SinkConfig, SinkSpec};
use polars::prelude::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags};

use super::{TRICKY, files_in};

const VARS: RenderVars<'static> = RenderVars {
    pipeline: "engagement",
    sink: "report",
    date: "2026-11-26",
    timestamp: "20261126_020000",
    run_id: "20261126_020000-0a1f",
};

/// An sqlite sink writing `table` of `path`, with more keys (`mode: merge, ...`).
fn sink(path: &Path, more: &str) -> SinkConfig {
    let yaml = format!(
        "{{ from: t, format: sqlite, path: '{}', allow_outside: true, table: report{more} }}",
        path.display()
    );
    let spec: SinkSpec = serde_yaml::from_str(&yaml).unwrap();
    spec.build("report").unwrap_or_else(|e| panic!("{e:?}"))
}

fn run(df: &DataFrame, sink: &SinkConfig) -> Result<Loaded, Error> {
    super::load_table(df, sink, &VARS)?.commit()
}

/// Every row of `sql`, read by a connection of its own (read-write, as the last connection
/// of a WAL database to close removes its `-wal` and `-shm` files; a read-only one leaves
/// them).
fn rows(path: &Path, sql: &str) -> Vec<Vec<Sql>> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let width = stmt.column_count();
    stmt.query_map([], |row| (0..width).map(|i| row.get::<_, Sql>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The whole table, ordered, and its definition: what a reader would see.
fn everything(path: &Path) -> (Vec<Vec<Sql>>, Vec<Vec<Sql>>) {
    (
        rows(path, "SELECT * FROM report ORDER BY 1, 2, 3"),
        rows(
            path,
            "SELECT type, name, sql FROM sqlite_master ORDER BY name",
        ),
    )
}

fn int(v: i64) -> Sql {
    Sql::Integer(v)
}

fn text(v: &str) -> Sql {
    Sql::Text(v.to_owned())
}

fn people(ids: &[i64], names: &[&str], scores: &[i64]) -> DataFrame {
    df!("id" => ids, "name" => names, "score" => scores).unwrap()
}

fn every_type() -> DataFrame {
    let day =
        Int32Chunked::from_slice_options("day".into(), &[Some(19_844), Some(-1), None, Some(0)])
            .into_date()
            .into_series();
    // 2024-05-01T12:30:00.250 and the epoch; the zoned ones are the same instants in Paris.
    let instants = [Some(1_714_566_600_250_000), Some(0), None, Some(-1)];
    let at = Int64Chunked::from_slice_options("at".into(), &instants)
        .into_datetime(TimeUnit::Microseconds, None)
        .into_series();
    let paris = TimeZone::opt_try_new(Some("Europe/Paris")).unwrap();
    let at_paris = Int64Chunked::from_slice_options("at_paris".into(), &instants)
        .into_datetime(TimeUnit::Microseconds, paris)
        .into_series();
    let amount = Int128Chunked::from_slice_options(
        "amount".into(),
        &[
            Some(1250),
            Some(-5),
            None,
            Some(123_456_789_012_345_678_901_234_567),
        ],
    )
    .into_decimal(38, 2)
    .unwrap()
    .into_series();
    let tags = ListChunked::from_iter([
        Some(Series::new("".into(), ["a", "b \"q\""])),
        Some(Series::new("".into(), Vec::<&str>::new())),
        None,
        Some(Series::new("".into(), ["李"])),
    ])
    .into_series()
    .with_name("tags".into());
    let point = StructChunked::from_series(
        "point".into(),
        4,
        [
            Series::new("x".into(), [Some(1i64), None, Some(3), Some(4)]),
            Series::new("y".into(), ["n", "o", "p", "q"]),
        ]
        .iter(),
    )
    .unwrap()
    .into_series();
    let mut df = df!(
        "id" => [1i64, 2, 3, 4],
        "small" => [Some(-7i32), None, Some(i32::MAX), Some(0)],
        "big" => [u64::from(u32::MAX), 0, 1, 2],
        "avg" => [Some(5.85f64), Some(-1.5e300), None, Some(0.1)],
        "ratio" => [0.1f32, 2.5, -0.0, 1e-3],
        "name" => TRICKY,
        "flag" => [Some(true), Some(false), None, Some(true)],
    )
    .unwrap();
    for column in [day, at, at_paris, amount, tags, point] {
        df.with_column(column.into_column()).unwrap();
    }
    df.with_column(Column::full_null("nothing".into(), 4, &DataType::Null))
        .unwrap();
    df
}

#[test]
fn sqlite_round_trips_every_type_value_for_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reports/engagement.sqlite");
    let loaded = run(&every_type(), &sink(&path, "")).unwrap();
    assert_eq!(
        (loaded.format, loaded.rows, loaded.mode),
        ("sqlite", 4, "replace")
    );
    assert_eq!(loaded.database, path.display().to_string());

    let declared = rows(&path, "SELECT name, type FROM pragma_table_info('report')");
    let declared: Vec<String> = declared
        .iter()
        .map(|r| match (&r[0], &r[1]) {
            (Sql::Text(n), Sql::Text(t)) => format!("{n} {t}"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        declared,
        [
            "id INTEGER",
            "small INTEGER",
            "big INTEGER",
            "avg REAL",
            "ratio REAL",
            "name TEXT",
            "flag BOOLEAN",
            "day DATE",
            "at TIMESTAMP",
            "at_paris TIMESTAMPTZ",
            "amount TEXT",
            "tags JSON",
            "point JSON",
            "nothing TEXT",
        ]
    );
    let n = Sql::Null;
    assert_eq!(
        rows(&path, "SELECT * FROM report ORDER BY id"),
        [
            vec![
                int(1),
                int(-7),
                int(i64::from(u32::MAX)),
                Sql::Real(5.85),
                Sql::Real(0.1),
                text(TRICKY[0]),
                int(1),
                text("2024-05-01"),
                text("2024-05-01T12:30:00.250000"),
                text("2024-05-01T12:30:00.250000Z"),
                text("12.50"),
                text(r#"["a","b \"q\""]"#),
                text(r#"{"x":1,"y":"n"}"#),
                n.clone(),
            ],
            vec![
                int(2),
                n.clone(),
                int(0),
                Sql::Real(-1.5e300),
                Sql::Real(2.5),
                text(TRICKY[1]),
                int(0),
                text("1969-12-31"),
                text("1970-01-01T00:00:00.000000"),
                text("1970-01-01T00:00:00.000000Z"),
                text("-0.05"),
                text("[]"),
                text(r#"{"x":null,"y":"o"}"#),
                n.clone(),
            ],
            vec![
                int(3),
                int(i64::from(i32::MAX)),
                int(1),
                n.clone(),
                Sql::Real(-0.0),
                text(TRICKY[2]),
                n.clone(),
                n.clone(),
                n.clone(),
                n.clone(),
                n.clone(),
                n.clone(),
                text(r#"{"x":3,"y":"p"}"#),
                n.clone(),
            ],
            vec![
                int(4),
                int(0),
                int(2),
                Sql::Real(0.1),
                Sql::Real(0.001),
                text(TRICKY[3]),
                int(1),
                text("1970-01-01"),
                text("1969-12-31T23:59:59.999999"),
                text("1969-12-31T23:59:59.999999Z"),
                text("1234567890123456789012345.67"),
                text(r#"["李"]"#),
                text(r#"{"x":4,"y":"q"}"#),
                n,
            ],
        ]
    );
    // Text is stored as text, byte for byte (the emoji and RTL included).
    let names = rows(&path, "SELECT typeof(name), name FROM report ORDER BY id");
    for (row, expected) in names.iter().zip(TRICKY) {
        assert_eq!(row, &[text("text"), text(expected)]);
    }
    assert_eq!(rows(&path, "PRAGMA journal_mode"), [[text("wal")]]);
}

#[test]
fn sqlite_json_cells_are_the_csv_sinks_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let mut df = every_type().select(["id", "tags", "point"]).unwrap();
    run(&df, &sink(&path, "")).unwrap();
    let csv = dir.path().join("r.csv");
    let csv_sink: SinkSpec = serde_yaml::from_str(&format!(
        "{{ from: t, format: csv, path: '{}', allow_outside: true }}",
        csv.display()
    ))
    .unwrap();
    etl_sink::write(&mut df, &csv_sink.build("r").unwrap(), &csv).unwrap();
    let from_csv = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv))
        .unwrap()
        .finish()
        .unwrap();
    let stored = rows(&path, "SELECT tags, point FROM report ORDER BY id");
    for (i, row) in stored.iter().enumerate() {
        for (j, name) in ["tags", "point"].into_iter().enumerate() {
            let csv_cell = from_csv.column(name).unwrap().str().unwrap().get(i);
            let sqlite_cell = match &row[j] {
                Sql::Text(t) => Some(t.as_str()),
                Sql::Null => None,
                other => panic!("{other:?}"),
            };
            assert_eq!(sqlite_cell, csv_cell, "row {i}, column {name}");
        }
    }
}

#[test]
fn sqlite_replace_twice_keeps_the_last_run_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let sink = sink(&path, ", mode: replace");
    run(&people(&[1, 2, 3], &["a", "b", "c"], &[10, 20, 30]), &sink).unwrap();
    run(&people(&[4, 2], &["d", "b2"], &[40, 21]), &sink).unwrap();
    assert_eq!(
        rows(&path, "SELECT * FROM report ORDER BY id"),
        [[int(2), text("b2"), int(21)], [int(4), text("d"), int(40)]]
    );
}

#[test]
fn sqlite_append_adds_the_runs_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let sink = sink(&path, ", mode: append");
    run(&people(&[1, 2], &["a", "b"], &[10, 20]), &sink).unwrap();
    run(&people(&[2, 3], &["b", "c"], &[20, 30]), &sink).unwrap();
    assert_eq!(
        rows(&path, "SELECT * FROM report ORDER BY id, name"),
        [
            [int(1), text("a"), int(10)],
            [int(2), text("b"), int(20)],
            [int(2), text("b"), int(20)],
            [int(3), text("c"), int(30)]
        ]
    );
}

#[test]
fn sqlite_merge_twice_leaves_exactly_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let sink = sink(&path, ", mode: merge, primary_key: id");
    // Within a run, the last row of a key wins.
    run(
        &people(
            &[1, 2, 3, 2],
            &["a", "b", "c", "b-later"],
            &[10, 20, 30, 21],
        ),
        &sink,
    )
    .unwrap();
    let truth_1 = [
        [int(1), text("a"), int(10)],
        [int(2), text("b-later"), int(21)],
        [int(3), text("c"), int(30)],
    ];
    assert_eq!(rows(&path, "SELECT * FROM report ORDER BY id"), truth_1);
    let ddl = rows(&path, "SELECT sql FROM sqlite_master WHERE name = 'report'");
    assert_eq!(
        ddl,
        [[text(
            r#"CREATE TABLE "report" ("id" INTEGER NOT NULL, "name" TEXT, "score" INTEGER, PRIMARY KEY ("id"))"#
        )]]
    );
    // Orders updated in between: 3 changed, 4 new (twice), 1 and 2 untouched.
    let loaded = run(
        &people(&[3, 4, 4], &["c2", "d", "d2"], &[31, 40, 41]),
        &sink,
    )
    .unwrap();
    assert_eq!((loaded.rows, loaded.mode), (3, "merge"));
    let truth_2 = [
        [int(1), text("a"), int(10)],
        [int(2), text("b-later"), int(21)],
        [int(3), text("c2"), int(31)],
        [int(4), text("d2"), int(41)],
    ];
    assert_eq!(rows(&path, "SELECT * FROM report ORDER BY id"), truth_2);
    // The same run again changes nothing.
    run(
        &people(&[3, 4, 4], &["c2", "d", "d2"], &[31, 40, 41]),
        &sink,
    )
    .unwrap();
    assert_eq!(rows(&path, "SELECT * FROM report ORDER BY id"), truth_2);
}

#[test]
fn sqlite_merge_on_a_composite_key_into_a_table_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let day = |d: &[&str], store: &[i64], sales: &[f64]| {
        df!("day" => d, "store" => store, "sales" => sales).unwrap()
    };
    // Created by an append: no primary key.
    run(
        &day(
            &["2024-05-01", "2024-05-01", "2024-05-02"],
            &[1, 2, 1],
            &[1.0, 2.0, 3.0],
        ),
        &sink(&path, ", mode: append"),
    )
    .unwrap();
    let merge = sink(&path, ", mode: merge, primary_key: [day, store]");
    run(
        &day(
            &["2024-05-02", "2024-05-03", "2024-05-02"],
            &[1, 1, 1],
            &[3.5, 4.0, 3.75],
        ),
        &merge,
    )
    .unwrap();
    assert_eq!(
        rows(&path, "SELECT * FROM report ORDER BY day, store"),
        [
            [text("2024-05-01"), int(1), Sql::Real(1.0)],
            [text("2024-05-01"), int(2), Sql::Real(2.0)],
            [text("2024-05-02"), int(1), Sql::Real(3.75)],
            [text("2024-05-03"), int(1), Sql::Real(4.0)],
        ]
    );
}

#[test]
fn sqlite_merge_needs_a_key_on_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let df = df!("id" => [Some(1i64), None], "name" => ["a", "b"]).unwrap();
    let err = run(&df, &sink(&path, ", mode: merge, primary_key: id")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sink `report`: `primary_key` column `id` is missing in 1 row(s); `mode: merge` needs \
         a key on every row"
    );
    let err = run(&df, &sink(&path, ", mode: merge, primary_key: key")).unwrap_err();
    assert!(
        err.to_string()
            .contains("`key` is not a column of the output; it has `id`, `name`"),
        "{err}"
    );
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn sqlite_new_column_is_added_and_older_rows_hold_null() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let sink = sink(&path, ", mode: append");
    run(&people(&[1], &["a"], &[10]), &sink).unwrap();
    // `score` is missing from this run, `city` is new.
    let df = df!("id" => [2i64], "name" => ["b"], "city" => ["Oslo"]).unwrap();
    run(&df, &sink).unwrap();
    assert_eq!(
        rows(
            &path,
            "SELECT id, name, score, city FROM report ORDER BY id"
        ),
        [
            [int(1), text("a"), int(10), Sql::Null],
            [int(2), text("b"), Sql::Null, text("Oslo")]
        ]
    );
    assert_eq!(
        rows(
            &path,
            "SELECT type FROM pragma_table_info('report') WHERE name = 'city'"
        ),
        [[text("TEXT")]]
    );
}

#[test]
fn sqlite_a_type_that_no_longer_fits_names_the_column_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let sink = sink(&path, ", mode: replace");
    run(&people(&[1, 2], &["a", "b"], &[10, 20]), &sink).unwrap();
    let before = everything(&path);
    // `score` became text; `city` is new, and must not be added either.
    let df = df!(
        "id" => [3i64],
        "name" => ["c"],
        "score" => ["thirty"],
        "city" => ["Oslo"],
    )
    .unwrap();
    let err = run(&df, &sink).unwrap_err();
    assert!(
        matches!(&err, Error::ColumnType { column, .. } if column == "score"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "sink `report`: column `score` of table `report` is `INTEGER`, but this run's values \
         are `TEXT`; change the column (or `mode: replace` into a new table), or cast the \
         values in a transform"
    );
    assert_eq!(everything(&path), before);
    // Floats do not fit an INTEGER column either; integers fit a REAL one.
    let df = df!("id" => [1.5f64]).unwrap();
    let err = run(&df, &sink).unwrap_err();
    assert!(
        matches!(&err, Error::ColumnType { column, .. } if column == "id"),
        "{err:?}"
    );
    assert_eq!(everything(&path), before);
}

#[test]
fn sqlite_load_dropped_without_commit_leaves_the_table_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let sink = sink(&path, ", mode: replace");
    run(&people(&[1, 2], &["a", "b"], &[10, 20]), &sink).unwrap();
    let before = everything(&path);
    let pending = super::load_table(
        &df!("id" => [9i64], "name" => ["z"], "score" => [90i64], "new" => [true]).unwrap(),
        &sink,
        &VARS,
    )
    .unwrap();
    // A reader meanwhile sees the previous rows (WAL: it is not blocked either).
    assert_eq!(everything(&path), before);
    drop(pending);
    assert_eq!(everything(&path), before);
    assert_eq!(files_in(dir.path()), ["r.sqlite"]);
}

#[test]
fn sqlite_a_failed_load_into_a_new_file_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/deeper/r.sqlite");
    let pending = super::load_table(&people(&[1], &["a"], &[1]), &sink(&path, ""), &VARS).unwrap();
    assert!(path.exists());
    drop(pending);
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn sqlite_check_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let sink = sink(&path, "");
    // A file that does not exist yet, in a folder that does not either.
    etl_sink::check(&sink, &VARS).unwrap();
    let nested = self::sink(&dir.path().join("a/b/r.sqlite"), "");
    etl_sink::check(&nested, &VARS).unwrap();
    assert!(files_in(dir.path()).is_empty());
    // An existing database with the table.
    run(&people(&[1], &["a"], &[1]), &sink).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    etl_sink::check(&sink, &VARS).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(files_in(dir.path()), ["r.sqlite"]);
}

/// A folder this process cannot create a file in: read-only, or `/sys` for root.
fn unwritable_folder(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let folder = dir.join("read-only");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(folder.join("probe"), b"").is_err() {
        return folder;
    }
    std::fs::remove_file(folder.join("probe")).unwrap();
    std::fs::remove_dir(&folder).unwrap();
    PathBuf::from("/sys")
}

#[test]
fn sqlite_check_reports_an_unwritable_folder_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let folder = unwritable_folder(dir.path());
    let before = files_in(&folder);
    let sink = sink(&folder.join("reports/r.sqlite"), "");
    let err = etl_sink::check(&sink, &VARS).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "sink `report`: cannot create a file in `{}`: ",
            folder.display()
        )),
        "{message}"
    );
    assert_eq!(files_in(&folder), before);
    // And `load` fails the same way, before anything is written.
    assert!(super::load_table(&people(&[1], &["a"], &[1]), &sink, &VARS).is_err());
    assert_eq!(files_in(&folder), before);
}

#[test]
fn sqlite_check_reports_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let bytes = b"id,name\n1,a\n".repeat(100);
    std::fs::write(&path, &bytes).unwrap();
    let sink = sink(&path, "");
    let err = etl_sink::check(&sink, &VARS).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "sink `report`: cannot connect to SQLite database `{}`: the file is not an SQLite \
             database; point `path` at an SQLite file, or at a file that does not exist yet",
            path.display()
        )
    );
    let err = super::load_table(&people(&[1], &["a"], &[1]), &sink, &VARS).unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(files_in(dir.path()), ["r.sqlite"]);
    // A folder in the way of `path`'s folder.
    let sink = self::sink(&path.join("r.sqlite"), "");
    let err = etl_sink::check(&sink, &VARS).unwrap_err();
    assert!(err.to_string().contains("is a file, not a folder"), "{err}");
}

#[test]
fn sqlite_tables_live_in_schema_main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let yaml = format!(
        "{{ from: t, format: sqlite, path: '{}', allow_outside: true, table: reports.x }}",
        path.display()
    );
    let spec: SinkSpec = serde_yaml::from_str(&yaml).unwrap();
    let errors = spec.build("report").unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "`sinks.report.table`: `reports.x` names schema `reports`, but an SQLite file has one \
         schema, `main`; write `table: x`"
    );
    let yaml = yaml.replace("reports.x", "main.x");
    let spec: SinkSpec = serde_yaml::from_str(&yaml).unwrap();
    run(&people(&[1], &["a"], &[1]), &spec.build("report").unwrap()).unwrap();
    assert_eq!(rows(&path, "SELECT id FROM x"), [[int(1)]]);
}

#[test]
fn sqlite_an_output_that_fails_part_way_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    run(
        &people(&[1, 2], &["a", "b"], &[10, 20]),
        &sink(&path, ", mode: replace"),
    )
    .unwrap();
    let before = everything(&path);
    for more in [
        ", mode: replace",
        ", mode: append",
        ", mode: merge, primary_key: id",
    ] {
        let batches = [
            Ok(people(&[3, 4], &["c", "d"], &[30, 40])),
            Err("the transform failed on its second batch"),
        ];
        let schema = people(&[3], &["c"], &[30]).schema().clone();
        match etl_sink::load(&schema, batches, &sink(&path, more), &VARS) {
            Err(etl_sink::LoadError::Input(e)) => {
                assert_eq!(e, "the transform failed on its second batch");
            }
            other => panic!("{more}: {other:?}"),
        }
        assert_eq!(everything(&path), before, "{more}");
    }
}

#[test]
fn sqlite_merge_keeps_the_last_row_of_a_key_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let sink = sink(&path, ", mode: merge, primary_key: id");
    // Batches of two rows: key 1 comes again in the third batch, key 2 in the second.
    let df = people(
        &[1, 2, 3, 2, 4, 1],
        &["a", "b", "c", "b2", "d", "a2"],
        &[1, 2, 3, 4, 5, 6],
    );
    run(&df, &sink).unwrap();
    let rows = rows(&path, "SELECT id, name, score FROM report ORDER BY id");
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows.iter()
            .map(|r| format!("{:?}", r[1]))
            .collect::<Vec<_>>(),
        ["Text(\"a2\")", "Text(\"b2\")", "Text(\"c\")", "Text(\"d\")"]
    );
}
