#![allow(clippy::unwrap_used)]

//! Sinks writing real files.

use std::path::Path;

use etl_sink::{Format, IfExists, SinkConfig, SinkSpec, write};
use polars::prelude::*;

const TRICKY: [&str; 4] = [
    "Smith, John \"Jack\"",
    "李小龙 🚀",
    "Fjord\nLogistics",
    "سارة",
];

fn frame() -> DataFrame {
    df!(
        "id" => [1i64, 2, 3, 4],
        "name" => TRICKY,
        "avg" => [5.85f64, 3.733_333_333_333_333_4, 0.0, 1.5],
    )
    .unwrap()
}

fn sink(format: Format, if_exists: IfExists) -> SinkConfig {
    let spec = SinkSpec {
        from: "t".into(),
        format,
        path: "out/x".into(),
        if_exists,
        allow_outside: false,
        csv: None,
        parquet: None,
        preview: None,
        keep_last: None,
    };
    spec.build("report").unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn csv_round_trips_text_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reports/r.csv");
    let written = write(&mut frame(), &sink(Format::Csv, IfExists::Fail), &path).unwrap();
    assert_eq!(written.rows, 4);
    let back = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(path.clone()))
        .unwrap()
        .finish()
        .unwrap();
    let names: Vec<&str> = back
        .column("name")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(names, TRICKY);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"Smith, John \"\"Jack\"\"\""), "{text}");
    assert_eq!(files_in(&dir.path().join("reports")), ["r.csv"]);
}

#[test]
fn parquet_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.parquet");
    write(&mut frame(), &sink(Format::Parquet, IfExists::Fail), &path).unwrap();
    let back = ParquetReader::new(std::fs::File::open(&path).unwrap())
        .finish()
        .unwrap();
    assert!(back.equals(&frame()));
}

#[test]
fn an_existing_file_is_kept_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    std::fs::write(&path, "precious").unwrap();
    let err = write(&mut frame(), &sink(Format::Csv, IfExists::Fail), &path).unwrap_err();
    assert!(
        err.to_string()
            .contains("already exists; set `if_exists: overwrite`"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    write(
        &mut frame(),
        &sink(Format::Ndjson, IfExists::Overwrite),
        &path,
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert_eq!(files_in(dir.path()), ["r.csv"]);
}

#[test]
fn a_failed_write_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/deeper/r.csv");
    let mut lists = df!("tags" => [Series::new("".into(), ["a", "b"])]).unwrap();
    let err = write(&mut lists, &sink(Format::Csv, IfExists::Fail), &path).unwrap_err();
    assert!(err.to_string().contains("column `tags`"), "{err}");
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn a_prepared_file_appears_only_on_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/r.csv");
    let prepared =
        etl_sink::prepare(&mut frame(), &sink(Format::Csv, IfExists::Fail), &path).unwrap();
    assert!(!path.exists());
    assert_eq!(
        files_in(&dir.path().join("out")).len(),
        1,
        "the temporary file"
    );
    drop(prepared);
    assert!(
        files_in(dir.path()).is_empty(),
        "dropping it removes the file and the folder"
    );
    let prepared =
        etl_sink::prepare(&mut frame(), &sink(Format::Csv, IfExists::Fail), &path).unwrap();
    let written = prepared.commit().unwrap();
    assert_eq!(
        (written.rows, files_in(&dir.path().join("out"))),
        (4, vec!["r.csv".to_owned()])
    );
}
