#![allow(clippy::unwrap_used)]

//! Sinks writing real files.

use std::path::Path;

use etl_sink::{
    FormatName, IfExists, Location, SinkConfig, SinkSpec, prepare_at, prepare_with_latest, write,
};
use polars::prelude::*;
use serde_json::{Value, json};

mod object;
mod postgres;
mod sqlite;

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

fn sink(format: FormatName, if_exists: IfExists) -> SinkConfig {
    let spec = SinkSpec {
        from: "t".into(),
        format,
        path: Some("out/x".into()),
        url: None,
        table: None,
        mode: None,
        primary_key: None,
        tls: None,
        if_exists,
        allow_outside: false,
        latest: None,
        csv: None,
        parquet: None,
        preview: None,
        keep_last: None,
        s3: None,
        html: None,
    };
    spec.build("report").unwrap()
}

/// A sink from its YAML, as a pipeline file would give it.
fn sink_from(yaml: &str) -> SinkConfig {
    let spec: SinkSpec = serde_yaml::from_str(yaml).unwrap();
    spec.build("report").unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

/// Loads `df` into the table of `sink` as batches of two rows (so that a `merge` meets its
/// keys again across batches), the transaction left open.
fn load_table(
    df: &DataFrame,
    sink: &SinkConfig,
    vars: &etl_sink::RenderVars<'_>,
) -> Result<etl_sink::TableLoad, etl_sink::Error> {
    let batches = (0..df.height().max(1)).step_by(2).map(|at| {
        Ok::<_, std::convert::Infallible>(
            df.slice(i64::try_from(at).expect("a row number fits i64"), 2),
        )
    });
    etl_sink::load(df.schema(), batches, sink, vars).map_err(|e| match e {
        etl_sink::LoadError::Sink(e) => e,
        etl_sink::LoadError::Input(never) => match never {},
    })
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
    let written = write(&mut frame(), &sink(FormatName::Csv, IfExists::Fail), &path).unwrap();
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
    write(
        &mut frame(),
        &sink(FormatName::Parquet, IfExists::Fail),
        &path,
    )
    .unwrap();
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
    let err = write(&mut frame(), &sink(FormatName::Csv, IfExists::Fail), &path).unwrap_err();
    assert!(
        err.to_string()
            .contains("already exists; set `if_exists: overwrite`"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    write(
        &mut frame(),
        &sink(FormatName::Ndjson, IfExists::Overwrite),
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
    // `%z` passes the check (a datetime may have a time zone), but this column has none: the
    // writer fails after the temporary file exists.
    let sink =
        sink_from("{ from: t, format: csv, path: x.csv, csv: { datetime_format: '%Y-%m-%d %z' } }");
    let mut naive = df!("at" => [0i64]).unwrap();
    naive
        .apply("at", |c| {
            c.cast(&DataType::Datetime(TimeUnit::Microseconds, None))
                .unwrap()
        })
        .unwrap();
    let err = write(&mut naive, &sink, &path).unwrap_err();
    assert!(err.to_string().contains("sink `report`"), "{err}");
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn a_prepared_file_appears_only_on_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/r.csv");
    let prepared =
        etl_sink::prepare(&mut frame(), &sink(FormatName::Csv, IfExists::Fail), &path).unwrap();
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
        etl_sink::prepare(&mut frame(), &sink(FormatName::Csv, IfExists::Fail), &path).unwrap();
    let written = prepared.commit().unwrap();
    assert_eq!(
        (written.rows, files_in(&dir.path().join("out"))),
        (4, vec!["r.csv".to_owned()])
    );
}

fn dates_and_nulls() -> DataFrame {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let days = day
        .signed_duration_since(chrono::NaiveDate::default())
        .num_days() as i32;
    let micros = day
        .and_hms_opt(2, 3, 4)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let mut df = df!(
        "id" => [1i64, 2],
        "name" => [Some("a;b"), None],
        "avg" => [Some(1.0f64 / 3.0), None],
        "day" => [Some(days), None],
        "at" => [Some(micros), None],
    )
    .unwrap();
    df.apply("day", |c| c.cast(&DataType::Date).unwrap())
        .unwrap();
    df.apply("at", |c| {
        c.cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .unwrap()
    })
    .unwrap();
    df
}

fn write_csv(df: &mut DataFrame, csv_options: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let sink = sink_from(&format!(
        "{{ from: t, format: csv, path: r.csv, csv: {csv_options} }}"
    ));
    write(df, &sink, &path).unwrap();
    std::fs::read_to_string(&path).unwrap()
}

#[test]
fn csv_defaults_are_iso_dates_shortest_floats_and_empty_nulls() {
    assert_eq!(
        write_csv(&mut dates_and_nulls(), "{}"),
        "id,name,avg,day,at\n\
         1,a;b,0.3333333333333333,2026-11-26,2026-11-26T02:03:04.000000\n\
         2,,,,\n"
    );
}

#[test]
fn csv_options_shape_every_field() {
    let text = write_csv(
        &mut dates_and_nulls(),
        "{ delimiter: ';', quote_style: non_numeric, quote_char: \"'\", null: NA, \
         float_precision: 2, date_format: '%d/%m/%Y', datetime_format: '%Y-%m-%d %H:%M' }",
    );
    assert_eq!(
        text,
        "'id';'name';'avg';'day';'at'\n\
         1;'a;b';0.33;'26/11/2026';'2026-11-26 02:03'\n\
         2;NA;NA;NA;NA\n"
    );
    let text = write_csv(
        &mut dates_and_nulls(),
        "{ quote_style: always, null: 'NULL' }",
    );
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "\"id\",\"name\",\"avg\",\"day\",\"at\"",
            "\"1\",\"a;b\",\"0.3333333333333333\",\"2026-11-26\",\"2026-11-26T02:03:04.000000\"",
            // `always` quotes the null text too.
            "\"2\",\"NULL\",\"NULL\",\"NULL\",\"NULL\""
        ]
    );
    let mut tricky = df!("t" => ["x,y", "plain"]).unwrap();
    assert_eq!(
        write_csv(&mut tricky, "{ quote_style: never }"),
        "t\nx,y\nplain\n",
        "never quotes, even where needed"
    );
    assert_eq!(
        write_csv(&mut tricky, "{ quote_style: necessary }"),
        "t\n\"x,y\"\nplain\n"
    );
}

/// Lists (with nulls inside, nested, empty, missing) and structs, as polars builds them.
fn nested() -> DataFrame {
    let ints = |v: &[Option<i64>]| Series::new("".into(), v);
    let tags: ListChunked = [
        Some(Series::new("".into(), ["a", "b \"quoted\", too"])),
        Some(Series::new("".into(), [Some("李"), None])),
        None,
    ]
    .into_iter()
    .collect();
    let counts: ListChunked = [
        Some(ints(&[Some(1), Some(2)])),
        Some(ints(&[])),
        Some(ints(&[None])),
    ]
    .into_iter()
    .collect();
    let inner = |rows: &[&[i64]]| {
        rows.iter()
            .map(|r| Some(Series::new("".into(), *r)))
            .collect::<ListChunked>()
            .into_series()
            .cast(&DataType::List(Box::new(DataType::Int64)))
            .unwrap()
    };
    let grid: ListChunked = [
        Some(inner(&[&[1, 2], &[3]])),
        Some(inner(&[])),
        Some(inner(&[&[]])),
    ]
    .into_iter()
    .collect();
    let point = StructChunked::from_series(
        "point".into(),
        3,
        [
            Series::new("k".into(), [Some(1i64), None, Some(3)]),
            Series::new("s".into(), ["x", "y", "z"]),
        ]
        .iter(),
    )
    .unwrap();
    DataFrame::new_infer_height(vec![
        Column::new("id".into(), [1i64, 2, 3]),
        tags.into_series().with_name("tags".into()).into_column(),
        counts
            .into_series()
            .with_name("counts".into())
            .into_column(),
        grid.into_series().with_name("grid".into()).into_column(),
        point.into_series().into_column(),
        Column::new("avg".into(), [0.1f64, 2.5, 1e-7]),
    ])
    .unwrap()
}

#[test]
fn csv_writes_list_and_struct_columns_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    write(&mut nested(), &sink(FormatName::Csv, IfExists::Fail), &path).unwrap();
    let back = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.clone()))
        .unwrap()
        .finish()
        .unwrap();
    let cells = |name: &str| -> Vec<Option<Value>> {
        back.column(name)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(|v| serde_json::from_str(v).unwrap()))
            .collect()
    };
    assert_eq!(
        cells("tags"),
        [
            Some(json!(["a", "b \"quoted\", too"])),
            Some(json!(["李", null])),
            None
        ]
    );
    assert_eq!(
        cells("counts"),
        [Some(json!([1, 2])), Some(json!([])), Some(json!([null]))]
    );
    assert_eq!(
        cells("grid"),
        [
            Some(json!([[1, 2], [3]])),
            Some(json!([])),
            Some(json!([[]]))
        ]
    );
    assert_eq!(
        cells("point"),
        [
            Some(json!({"k": 1, "s": "x"})),
            Some(json!({"k": null, "s": "y"})),
            Some(json!({"k": 3, "s": "z"}))
        ]
    );
    // The other columns are written as they always were.
    let text = std::fs::read_to_string(&path).unwrap();
    let first: Vec<&str> = text.lines().take(2).collect();
    assert_eq!(
        first,
        [
            "id,tags,counts,grid,point,avg",
            r#"1,"[""a"",""b \""quoted\"", too""]","[1,2]","[[1,2],[3]]","{""k"":1,""s"":""x""}",0.1"#
        ]
    );
    assert!(text.ends_with(",1e-7\n"), "{text}");

    let path = dir.path().join("empty.csv");
    write(
        &mut nested().head(Some(0)),
        &sink(FormatName::Csv, IfExists::Fail),
        &path,
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "id,tags,counts,grid,point,avg\n"
    );
}

#[test]
fn list_and_struct_columns_round_trip_in_ndjson_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("r.ndjson");
    write(
        &mut nested(),
        &sink(FormatName::Ndjson, IfExists::Fail),
        &ndjson,
    )
    .unwrap();
    let back = JsonReader::new(std::fs::File::open(&ndjson).unwrap())
        .with_json_format(JsonFormat::JsonLines)
        .finish()
        .unwrap();
    assert_eq!(back.schema(), nested().schema());
    assert!(back.equals_missing(&nested()), "{back}");

    let parquet = dir.path().join("r.parquet");
    write(
        &mut nested(),
        &sink(FormatName::Parquet, IfExists::Fail),
        &parquet,
    )
    .unwrap();
    let back = ParquetReader::new(std::fs::File::open(&parquet).unwrap())
        .finish()
        .unwrap();
    assert!(back.equals_missing(&nested()), "{back}");
}

#[test]
fn parquet_options_reach_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut df = df!(
        "id" => (0..1000i64).collect::<Vec<_>>(),
        "name" => (0..1000).map(|i| format!("n{i}")).collect::<Vec<_>>(),
    )
    .unwrap();
    let metadata = |path: &Path| {
        ParquetReader::new(std::fs::File::open(path).unwrap())
            .get_metadata()
            .unwrap()
            .clone()
    };

    let path = dir.path().join("a.parquet");
    let gzip = sink_from(
        "{ from: t, format: parquet, path: x, parquet: { compression: gzip, compression_level: 9, \
         row_group_size: 100, statistics: false } }",
    );
    write(&mut df, &gzip, &path).unwrap();
    let meta = metadata(&path);
    assert_eq!(meta.row_groups.len(), 10);
    assert!(meta.row_groups.iter().all(|g| g.num_rows() == 100));
    let column = &meta.row_groups[0].parquet_columns()[0];
    assert_eq!(format!("{:?}", column.compression()), "Gzip");
    assert!(column.statistics(&meta.footer_buf).is_none());
    let back = ParquetReader::new(std::fs::File::open(&path).unwrap())
        .finish()
        .unwrap();
    assert!(back.equals(&df));

    let path = dir.path().join("d.parquet");
    let groups_of_300 =
        sink_from("{ from: t, format: parquet, path: x, parquet: { row_group_size: 300 } }");
    write(&mut df, &groups_of_300, &path).unwrap();
    let mut sizes = Vec::new();
    for group in &metadata(&path).row_groups {
        sizes.push(group.num_rows());
    }
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert!(sizes.iter().all(|n| (300..400).contains(n)), "{sizes:?}");

    // Defaults: zstd, one row group for a small frame, statistics.
    let path = dir.path().join("b.parquet");
    write(&mut df, &sink(FormatName::Parquet, IfExists::Fail), &path).unwrap();
    let meta = metadata(&path);
    assert_eq!(meta.row_groups.len(), 1);
    let column = &meta.row_groups[0].parquet_columns()[0];
    assert_eq!(format!("{:?}", column.compression()), "Zstd");
    let stats = column.statistics(&meta.footer_buf).unwrap().unwrap();
    assert!(format!("{stats:?}").contains("999"), "{stats:?}");

    let path = dir.path().join("c.parquet");
    let zstd =
        sink_from("{ from: t, format: parquet, path: x, parquet: { compression_level: 19 } }");
    write(&mut df, &zstd, &path).unwrap();
    let meta = metadata(&path);
    let column = &meta.row_groups[0].parquet_columns()[0];
    assert_eq!(format!("{:?}", column.compression()), "Zstd");
}

fn latest_sink() -> SinkConfig {
    sink_from(
        "{ from: t, format: csv, path: 'reports/{pipeline}_{timestamp}.csv', \
         latest: 'current/{pipeline}_latest.csv', if_exists: overwrite }",
    )
}

#[test]
fn latest_is_a_copy_replaced_on_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let sink = latest_sink();
    let dated = dir.path().join("reports/engagement_20261126_020000.csv");
    let latest = dir.path().join("current/engagement_latest.csv");

    let prepared = prepare_with_latest(&mut frame(), &sink, &dated, Some(&latest)).unwrap();
    assert_eq!(
        prepared.latest().and_then(Location::as_local),
        Some(latest.as_path())
    );
    assert!(
        !dated.exists() && !latest.exists(),
        "nothing in place before commit"
    );
    assert_eq!(
        files_in(&dir.path().join("current")).len(),
        1,
        "the copy's temporary file"
    );
    let written = prepared.commit().unwrap();
    assert_eq!(
        written.latest.as_ref().and_then(Location::as_local),
        Some(latest.as_path())
    );
    assert_eq!(
        std::fs::read(&latest).unwrap(),
        std::fs::read(&dated).unwrap()
    );
    assert_eq!(written.bytes, std::fs::metadata(&latest).unwrap().len());

    let mut second = frame().head(Some(1));
    let dated2 = dir.path().join("reports/engagement_20261127_020000.csv");
    prepare_with_latest(&mut second, &sink, &dated2, Some(&latest))
        .unwrap()
        .commit()
        .unwrap();
    assert_eq!(
        std::fs::read(&latest).unwrap(),
        std::fs::read(&dated2).unwrap()
    );
    assert_ne!(
        std::fs::read(&latest).unwrap(),
        std::fs::read(&dated).unwrap()
    );
    assert_eq!(
        files_in(&dir.path().join("current")),
        ["engagement_latest.csv"]
    );
    assert_eq!(files_in(&dir.path().join("reports")).len(), 2);
}

#[test]
fn latest_replaces_its_copy_even_with_if_exists_fail() {
    let dir = tempfile::tempdir().unwrap();
    let sink = sink_from(
        "{ from: t, format: ndjson, path: 'r_{run_id}.ndjson', latest: r_latest.ndjson }",
    );
    let latest = dir.path().join("r_latest.ndjson");
    std::fs::write(&latest, "old").unwrap();
    let dated = dir.path().join("r_1.ndjson");
    let written = prepare_with_latest(&mut frame(), &sink, &dated, Some(&latest))
        .unwrap()
        .commit()
        .unwrap();
    assert_eq!(
        std::fs::read(&latest).unwrap(),
        std::fs::read(&dated).unwrap()
    );
    assert_eq!(written.latest, Some(Location::Local(latest)));
}

#[test]
fn an_uncommitted_latest_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = latest_sink();
    let dated = dir
        .path()
        .join("new/reports/engagement_20261126_020000.csv");
    let latest = dir.path().join("new/current/deeper/engagement_latest.csv");
    let prepared = prepare_with_latest(&mut frame(), &sink, &dated, Some(&latest)).unwrap();
    assert_eq!(files_in(&dir.path().join("new")), ["current", "reports"]);
    drop(prepared);
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );

    // An existing copy stays as it was.
    std::fs::create_dir(dir.path().join("current")).unwrap();
    let latest = dir.path().join("current/engagement_latest.csv");
    std::fs::write(&latest, "previous").unwrap();
    drop(prepare_with_latest(&mut frame(), &sink, &dated, Some(&latest)).unwrap());
    assert_eq!(
        files_in(&dir.path().join("current")),
        ["engagement_latest.csv"]
    );
    assert_eq!(std::fs::read_to_string(&latest).unwrap(), "previous");
    assert_eq!(files_in(dir.path()), ["current"]);
}

#[test]
fn latest_must_be_given_and_differ_from_path() {
    let dir = tempfile::tempdir().unwrap();
    let sink = latest_sink();
    let dated = dir.path().join("r.csv");
    let err = etl_sink::prepare(&mut frame(), &sink, &dated).unwrap_err();
    assert!(
        err.to_string().starts_with("`sinks.report.latest`: "),
        "{err}"
    );
    let err = prepare_with_latest(&mut frame(), &sink, &dated, Some(&dated)).unwrap_err();
    assert!(
        err.to_string()
            .contains("the file `path` writes; name another file"),
        "{err}"
    );
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn keep_last_never_prunes_the_latest_copy() {
    let dir = tempfile::tempdir().unwrap();
    let template = format!("{}/{{pipeline}}_{{timestamp}}.csv", dir.path().display());
    let sink = sink_from(&format!(
        "{{ from: t, format: csv, path: '{template}', latest: '{}/{{pipeline}}_latest.csv', \
         allow_outside: true, keep_last: 1 }}",
        dir.path().display()
    ));
    let mut last = None;
    for timestamp in ["20261124_020000", "20261125_020000", "20261126_020000"] {
        let vars = etl_sink::RenderVars {
            pipeline: "engagement",
            sink: "report",
            date: "2026-11-26",
            timestamp,
            run_id: "20261126_020000-0a1f",
        };
        let file = sink.file().unwrap();
        let path = file.path.render(&vars);
        let latest = sink.render_latest(&vars);
        let written = prepare_at(&mut frame(), &sink, &path, latest.as_ref())
            .unwrap()
            .commit()
            .unwrap();
        file.path.prune(&written.location, &vars, 1).unwrap();
        last = Some(written);
    }
    assert_eq!(
        files_in(dir.path()),
        ["engagement_20261126_020000.csv", "engagement_latest.csv"]
    );
    let last = last.unwrap();
    assert_eq!(
        std::fs::read(last.latest.unwrap().as_local().unwrap()).unwrap(),
        std::fs::read(last.location.as_local().unwrap()).unwrap()
    );
}

#[test]
fn a_latest_that_cannot_be_replaced_leaves_the_file_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let sink = latest_sink();
    let dated = dir.path().join("r.csv");
    // A folder where the copy should go: the rename over it fails.
    let latest = dir.path().join("latest.csv");
    std::fs::create_dir_all(latest.join("inside")).unwrap();
    let prepared = prepare_with_latest(&mut frame(), &sink, &dated, Some(&latest)).unwrap();
    let err = prepared.commit().unwrap_err();
    assert!(matches!(err, etl_sink::Error::Latest { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "sink `report`: wrote `{}`, but cannot replace `{}` with a copy of it: ",
            dated.display(),
            latest.display()
        )),
        "{err}"
    );
    assert_eq!(files_in(dir.path()), ["latest.csv", "r.csv"]);
    assert_eq!(files_in(&latest), ["inside"]);
}
