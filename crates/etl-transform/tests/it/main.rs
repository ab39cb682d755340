#![allow(clippy::unwrap_used)]

//! Transforms over real staged files.

mod steps;

use std::io::Write;

use etl_transform::{ColumnType, Table, Transform, TransformSpec, Transformer};
use polars::prelude::*;

/// A transform written as SQL, built.
fn sql(name: &str, query: &str) -> Transform {
    etl_transform::build(name, &TransformSpec::from_sql(query)).unwrap()
}

fn staged(
    dir: &std::path::Path,
    name: &str,
    lines: &[&str],
    columns: &[(&str, ColumnType)],
) -> Table {
    let mut table = Table {
        name: name.into(),
        paths: vec![dir.join(format!("{name}.parquet"))],
        rows: lines.len() as u64,
        columns: columns
            .iter()
            .map(|(n, t)| ((*n).to_owned(), t.clone()))
            .collect(),
    };
    // Staged as etl stages: a Parquet part of the table's columns.
    let mut text = Vec::new();
    for l in lines {
        writeln!(text, "{l}").unwrap();
    }
    let schema = table.schema();
    let mut frame = if lines.is_empty() {
        DataFrame::empty_with_schema(&schema)
    } else {
        JsonReader::new(std::io::Cursor::new(text))
            .with_json_format(JsonFormat::JsonLines)
            .with_schema(std::sync::Arc::new(schema))
            .finish()
            .unwrap()
    };
    etl_transform::write_parquet(&mut frame, &table.paths[0]).unwrap();
    table.rows = frame.height() as u64;
    table
}

/// A part as staging writes it: its columns, and the row marker.
fn part(
    dir: &std::path::Path,
    name: &str,
    columns: Vec<Column>,
    rows: usize,
) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut columns = columns;
    columns.push(Column::new("\u{0}rows".into(), vec![false; rows]));
    let mut frame = DataFrame::new(rows, columns).unwrap();
    etl_transform::write_parquet(&mut frame, &path).unwrap();
    path
}

#[test]
fn a_part_without_the_kept_columns_still_has_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let a = part(
        dir.path(),
        "a.parquet",
        vec![Column::new("id".into(), [1i64, 2])],
        2,
    );
    let b = part(dir.path(), "b.parquet", vec![], 3);
    let table = Table {
        name: "t".into(),
        paths: vec![a.clone(), b.clone()],
        rows: 5,
        columns: vec![("id".to_owned(), ColumnType::Int)],
    };
    let mut t = Transformer::new();
    t.add_table(&table).unwrap();
    let df = t.collect("t").unwrap();
    let id = df.column("id").unwrap().i64().unwrap();
    let ids: Vec<Option<i64>> = (0..df.height()).map(|i| id.get(i)).collect();
    assert_eq!(ids, [Some(1), Some(2), None, None, None]);
    t.run(&sql("n0", "SELECT COUNT(*) AS n FROM t")).unwrap();
    // No column kept at all (the query reads none): the rows are still there to count.
    let table = Table {
        columns: Vec::new(),
        ..table
    };
    let mut t = Transformer::new();
    t.add_table(&table).unwrap();
    assert_eq!(t.collect("t").unwrap().height(), 5);
    t.run(&sql("n", "SELECT COUNT(*) AS n FROM t")).unwrap();
    let n = t.collect("n").unwrap();
    assert_eq!(
        n.column("n")
            .unwrap()
            .cast(&DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .get(0),
        Some(5)
    );
}

#[test]
fn a_table_in_parts_reads_as_one_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let columns = [("id", ColumnType::Int), ("late", ColumnType::String)];
    let a = staged(
        dir.path(),
        "a",
        &[r#"{"id": 0}"#, r#"{"id": 1}"#, r#"{"id": 2}"#],
        &columns,
    );
    let b = staged(dir.path(), "b", &[r#"{"id": 3, "late": "x"}"#], &columns);
    let table = Table {
        name: "t".into(),
        paths: vec![a.paths[0].clone(), b.paths[0].clone()],
        rows: 4,
        columns: a.columns.clone(),
    };
    let mut t = Transformer::new();
    t.add_table(&table).unwrap();
    let df = t.collect("t").unwrap();
    let id = df.column("id").unwrap().i64().unwrap();
    let ids: Vec<Option<i64>> = (0..4).map(|i| id.get(i)).collect();
    assert_eq!(ids, [Some(0), Some(1), Some(2), Some(3)]);
    let late = df.column("late").unwrap().str().unwrap();
    assert_eq!((late.null_count(), late.get(3)), (3, Some("x")));
}

#[test]
fn the_given_schema_reads_every_value_however_late() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = (0..300)
        .map(|i| format!(r#"{{"id": {i}, "score": {i}}}"#))
        .collect();
    lines.push(r#"{"id": 300, "score": 2.5, "vip": true, "tags": ["a", "b"]}"#.into());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let table = staged(
        dir.path(),
        "users",
        &refs,
        &[
            ("id", ColumnType::Int),
            ("score", ColumnType::Float),
            ("vip", ColumnType::Bool),
            ("tags", ColumnType::List(Box::new(ColumnType::String))),
        ],
    );
    let mut t = Transformer::new();
    t.add_table(&table).unwrap();
    let df = t.collect("users").unwrap();
    assert_eq!(df.height(), 301);
    let vip = df.column("vip").unwrap().bool().unwrap();
    assert_eq!(vip.get(300), Some(true));
    assert_eq!(vip.null_count(), 300);
    let score = df.column("score").unwrap().f64().unwrap();
    assert_eq!(score.get(299), Some(299.0));
    assert_eq!(score.get(300), Some(2.5));
}

#[test]
fn sql_reads_sources_and_earlier_transforms() {
    let dir = tempfile::tempdir().unwrap();
    let posts = staged(
        dir.path(),
        "posts",
        &[
            r#"{"id": 1, "userId": 1}"#,
            r#"{"id": 2, "userId": 1}"#,
            r#"{"id": 3, "userId": 2}"#,
        ],
        &[("id", ColumnType::Int), ("userId", ColumnType::Int)],
    );
    let mut t = Transformer::new();
    t.add_table(&posts).unwrap();
    let per_user = sql(
        "per_user",
        "SELECT userId, COUNT(*) AS n FROM posts GROUP BY userId",
    );
    t.run(&per_user).unwrap();
    t.run(&sql(
        "top",
        "SELECT * FROM per_user ORDER BY n DESC LIMIT 1",
    ))
    .unwrap();
    let df = t.collect("top").unwrap();
    assert_eq!(df.column("userId").unwrap().i64().unwrap().get(0), Some(1));
}

#[test]
fn a_held_transform_is_read_without_computing_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let posts = staged(
        dir.path(),
        "posts",
        &[r#"{"id": 1, "userId": 1}"#, r#"{"id": 2, "userId": 2}"#],
        &[("id", ColumnType::Int), ("userId", ColumnType::Int)],
    );
    let mut t = Transformer::new();
    t.add_table(&posts).unwrap();
    t.run(&sql("users", "SELECT DISTINCT userId FROM posts"))
        .unwrap();
    assert!(t.hold("users").unwrap());
    assert!(!t.hold("users").unwrap(), "held once");
    // The staged file is gone: only the held result can answer now.
    std::fs::remove_file(&posts.paths[0]).unwrap();
    let checks: etl_transform::ChecksSpec =
        serde_json::from_str(r#"{"min_rows": 2, "unique": ["userId"]}"#).unwrap();
    t.check("users", &checks).unwrap();
    assert_eq!(t.collect("users").unwrap().height(), 2);
    let batches: Vec<_> = t.batches("users", 1).unwrap().collect();
    assert_eq!(batches.len(), 2);
    // Not held: computing it reads the staged file, which is gone.
    assert!(t.collect("posts").is_err());
}

#[test]
fn sql_errors_name_the_transform() {
    let dir = tempfile::tempdir().unwrap();
    let posts = staged(
        dir.path(),
        "posts",
        &[r#"{"id": 1}"#],
        &[("id", ColumnType::Int)],
    );
    let mut t = Transformer::new();
    t.add_table(&posts).unwrap();
    let missing_table = sql("report", "SELECT * FROM postz");
    let err = t.run(&missing_table).unwrap_err().to_string();
    assert!(err.starts_with("transform `report`: "), "{err}");
    assert!(err.contains("postz"), "{err}");
    let missing_column = sql("report", "SELECT nope FROM posts");
    let err = t.run(&missing_column).unwrap_err().to_string();
    assert!(
        err.starts_with("transform `report`: ") && err.contains("nope"),
        "{err}"
    );
}

#[test]
fn an_empty_table_has_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let table = staged(dir.path(), "none", &[], &[("id", ColumnType::Int)]);
    let mut t = Transformer::new();
    t.add_table(&table).unwrap();
    let df = t.collect("none").unwrap();
    assert_eq!(df.height(), 0);
    assert_eq!(df.get_column_names(), vec!["id"]);
}

#[test]
fn merging_keeps_one_newest_row_per_key_and_widens_columns() {
    let dir = tempfile::tempdir().unwrap();
    // The first run: keys 1..3.
    let first = staged(
        dir.path(),
        "orders",
        &[
            r#"{"id": 1, "status": "paid", "total": 10, "_etl_cursor": 1}"#,
            r#"{"id": 2, "status": "paid", "total": 20, "_etl_cursor": 1}"#,
            r#"{"id": 3, "status": "paid", "total": 30, "_etl_cursor": 1}"#,
        ],
        &[
            ("id", ColumnType::Int),
            ("status", ColumnType::String),
            ("total", ColumnType::Int),
            ("_etl_cursor", ColumnType::Int),
        ],
    );
    let key = ["id".to_owned()];
    let mut kept = etl_transform::merge(&etl_transform::Merge {
        staged: &first,
        existing: None,
        primary_key: &key,
        order_column: Some("_etl_cursor"),
    })
    .unwrap();
    assert_eq!(kept.height(), 3);
    assert!(kept.column("_etl_cursor").is_err());
    let path = dir.path().join("orders.parquet");
    etl_transform::write_parquet(&mut kept, &path).unwrap();

    // The second run: key 2 twice (the later cursor wins although it arrived first), key 4
    // new, a float total and a new column.
    let second = staged(
        dir.path(),
        "orders2",
        &[
            r#"{"id": 2, "status": "refunded", "total": 20.5, "_etl_cursor": 9, "note": "x"}"#,
            r#"{"id": 4, "status": "paid", "total": 40, "_etl_cursor": 3}"#,
            r#"{"id": 2, "status": "shipped", "total": 20, "_etl_cursor": 5}"#,
        ],
        &[
            ("id", ColumnType::Int),
            ("status", ColumnType::String),
            ("total", ColumnType::Float),
            ("_etl_cursor", ColumnType::Int),
            ("note", ColumnType::String),
        ],
    );
    let merged = etl_transform::merge(&etl_transform::Merge {
        staged: &second,
        existing: Some(&path),
        primary_key: &key,
        order_column: Some("_etl_cursor"),
    })
    .unwrap();
    let ids: Vec<Option<i64>> = merged.column("id").unwrap().i64().unwrap().iter().collect();
    assert_eq!(ids, vec![Some(1), Some(2), Some(3), Some(4)]);
    let status: Vec<Option<&str>> = merged
        .column("status")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        status,
        vec![Some("paid"), Some("refunded"), Some("paid"), Some("paid")]
    );
    let total = merged.column("total").unwrap().f64().unwrap();
    assert_eq!(total.get(1), Some(20.5));
    assert_eq!(total.get(0), Some(10.0));
    assert_eq!(
        merged.column("note").unwrap().str().unwrap().get(1),
        Some("x")
    );

    let nothing = staged(dir.path(), "none", &[], &[]);
    let e = etl_transform::merge(&etl_transform::Merge {
        staged: &nothing,
        existing: None,
        primary_key: &key,
        order_column: None,
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("there are no records"), "{e}");
    // No new records: the kept table as it was.
    let same = etl_transform::merge(&etl_transform::Merge {
        staged: &nothing,
        existing: Some(&path),
        primary_key: &key,
        order_column: None,
    })
    .unwrap();
    assert_eq!(same.height(), 3);

    let wrong = ["order_id".to_owned()];
    let e = etl_transform::merge(&etl_transform::Merge {
        staged: &second,
        existing: Some(&path),
        primary_key: &wrong,
        order_column: None,
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("`order_id` is not a column"), "{e}");
}
