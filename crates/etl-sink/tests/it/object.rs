//! File sinks on `s3://`, against a real S3-compatible server: `scripts/s3server.sh`
//! (`start_s3`) starts one and exports `ETL_TEST_S3_*`. Objects are read back with a client
//! of their own.

use std::sync::Arc;

use etl_sink::{Error, RenderVars, SinkConfig, check_object_store, prepare_at, write};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::{frame, sink_from};

/// The test server, from the variables `start_s3` exports.
struct Server {
    endpoint: String,
    bucket: String,
    access_key_id: String,
    secret_access_key: String,
}

fn server() -> Server {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: these tests need the S3 test server; run them with \
                 `make test`, or `source scripts/s3server.sh; start_s3` first"
            )
        })
    };
    Server {
        endpoint: var("ETL_TEST_S3_ENDPOINT"),
        bucket: var("ETL_TEST_S3_BUCKET"),
        access_key_id: var("ETL_TEST_S3_ACCESS_KEY_ID"),
        secret_access_key: var("ETL_TEST_S3_SECRET_ACCESS_KEY"),
    }
}

impl Server {
    /// The sink's `s3:` block.
    fn s3(&self) -> String {
        self.s3_with(&self.secret_access_key)
    }

    fn s3_with(&self, secret: &str) -> String {
        format!(
            "s3: {{ endpoint: '{}', region: us-east-1, path_style: true, access_key_id: '{}', \
             secret_access_key: '{secret}', allow_http: true }}",
            self.endpoint, self.access_key_id
        )
    }

    /// A client of the test's own, to look at the bucket.
    fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_bucket_name(&self.bucket)
                .with_region("us-east-1")
                .with_access_key_id(&self.access_key_id)
                .with_secret_access_key(&self.secret_access_key)
                .with_allow_http(true)
                .build()
                .unwrap(),
        )
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let store = self.store();
        match block_on(async move { store.get(&Key::from(key)).await?.bytes().await }) {
            Ok(bytes) => Some(bytes.to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("GET {key}: {e}"),
        }
    }

    fn put(&self, key: &str, body: &'static [u8]) {
        let store = self.store();
        block_on(async move {
            store
                .put(&Key::from(key), PutPayload::from_static(body))
                .await
        })
        .unwrap();
    }

    /// Every key under `prefix/`, sorted.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let store = self.store();
        let prefix = Key::from(prefix);
        let mut keys: Vec<String> = block_on(async move {
            use futures_util::TryStreamExt;
            store.list(Some(&prefix)).try_collect::<Vec<_>>().await
        })
        .unwrap()
        .into_iter()
        .map(|o| o.location.to_string())
        .collect();
        keys.sort();
        keys
    }

    fn etag(&self, key: &str) -> String {
        let store = self.store();
        let key = Key::from(key);
        block_on(async move { store.head(&key).await })
            .unwrap()
            .e_tag
            .unwrap()
    }
}

/// A prefix of the bucket no other test (or earlier run) uses.
fn unique(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{test}-{}-{nanos}", std::process::id())
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn vars(timestamp: &str) -> RenderVars<'_> {
    RenderVars {
        pipeline: "engagement",
        sink: "report",
        date: "2026-11-26",
        timestamp,
        run_id: "20261126_020000-0a1f",
    }
}

/// `sink_from` with the server's `s3:` block.
fn s3_sink(s: &Server, yaml: &str) -> SinkConfig {
    sink_from(&format!("{{ from: t, {yaml}, {} }}", s.s3()))
}

/// Writes `df` to where `sink` renders for `timestamp`, committed.
fn write_s3(df: &mut DataFrame, sink: &SinkConfig, timestamp: &str) -> etl_sink::Written {
    let file = sink.file().unwrap();
    let location = file.path.render(&vars(timestamp));
    let latest = sink.render_latest(&vars(timestamp));
    prepare_at(df, sink, &location, latest.as_ref())
        .unwrap()
        .commit()
        .unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[test]
fn csv_and_parquet_objects_are_the_bytes_of_the_local_file() {
    let s = server();
    let prefix = unique("bytes");
    let dir = tempfile::tempdir().unwrap();
    for format in ["csv", "parquet"] {
        let local = dir.path().join(format!("engagement.{format}"));
        let local_written = write(
            &mut frame(),
            &sink_from(&format!("{{ from: t, format: {format}, path: x }}")),
            &local,
        )
        .unwrap();
        let sink = s3_sink(
            &s,
            &format!(
                "format: {format}, path: 's3://{}/{prefix}/{{pipeline}}_{{timestamp}}.{format}'",
                s.bucket
            ),
        );
        let written = write_s3(&mut frame(), &sink, "20261126_020000");
        let key = format!("{prefix}/engagement_20261126_020000.{format}");
        assert_eq!(
            written.location.to_string(),
            format!("s3://{}/{key}", s.bucket)
        );
        let object = s.get(&key).expect("the object after commit");
        let file = std::fs::read(&local).unwrap();
        assert_eq!(
            object, file,
            "{format}: the object is the local file, byte for byte"
        );
        assert_eq!(
            (written.rows, written.bytes),
            (4, file.len() as u64),
            "{format}"
        );
        assert_eq!(written.sha256, sha256(&object));
        assert_eq!(local_written.sha256, written.sha256);
    }
    let back = ParquetReader::new(std::io::Cursor::new(
        s.get(&format!("{prefix}/engagement_20261126_020000.parquet"))
            .unwrap(),
    ))
    .finish()
    .unwrap();
    assert!(back.equals(&frame()));
}

#[test]
fn a_file_larger_than_a_part_is_uploaded_in_parts() {
    let s = server();
    let prefix = unique("large");
    let rows = 300_000;
    let mut df = df!(
        "id" => (0..rows).map(i64::from).collect::<Vec<_>>(),
        "text" => (0..rows).map(|i| format!("{i:08}-{}", "x".repeat(60))).collect::<Vec<_>>(),
    )
    .unwrap();
    let sink = s3_sink(
        &s,
        &format!(
            "format: csv, path: 's3://{}/{prefix}/{{pipeline}}_{{timestamp}}.csv'",
            s.bucket
        ),
    );
    let written = write_s3(&mut df, &sink, "20261126_020000");
    assert!(written.bytes > 20 << 20, "{} bytes", written.bytes);
    let key = format!("{prefix}/engagement_20261126_020000.csv");
    let object = s.get(&key).unwrap();
    assert_eq!(object.len() as u64, written.bytes);
    assert_eq!(sha256(&object), written.sha256);
    // A multipart object's ETag ends in its number of parts: 8 MiB each.
    let parts = written.bytes.div_ceil(8 << 20);
    assert!(
        s.etag(&key)
            .trim_matches('"')
            .ends_with(&format!("-{parts}")),
        "{} for {parts} parts",
        s.etag(&key)
    );
}

#[test]
fn an_object_appears_only_on_commit_and_a_dropped_upload_leaves_nothing() {
    let s = server();
    let prefix = unique("commit");
    let sink = s3_sink(
        &s,
        &format!(
            "format: ndjson, path: 's3://{}/{prefix}/{{pipeline}}_{{timestamp}}.ndjson'",
            s.bucket
        ),
    );
    let location = sink.file().unwrap().path.render(&vars("20261126_020000"));
    let key = format!("{prefix}/engagement_20261126_020000.ndjson");

    let prepared = prepare_at(&mut frame(), &sink, &location, None).unwrap();
    assert_eq!(prepared.location(), &location);
    assert!(s.keys(&prefix).is_empty(), "{:?}", s.keys(&prefix));
    assert!(s.get(&key).is_none(), "nothing readable before commit");
    prepared.commit().unwrap();
    assert_eq!(s.keys(&prefix), std::slice::from_ref(&key));

    let other = sink.file().unwrap().path.render(&vars("20261127_020000"));
    let prepared = prepare_at(&mut frame(), &sink, &other, None).unwrap();
    drop(prepared);
    assert_eq!(s.keys(&prefix), [key], "the dropped upload left nothing");
}

#[test]
fn latest_on_s3_is_a_copy_replaced_on_every_commit() {
    let s = server();
    let prefix = unique("latest");
    let sink = s3_sink(
        &s,
        &format!(
            "format: csv, path: 's3://{b}/{prefix}/{{pipeline}}_{{timestamp}}.csv', \
             latest: 's3://{b}/{prefix}/current/{{pipeline}}_latest.csv', if_exists: overwrite",
            b = s.bucket
        ),
    );
    let first = write_s3(&mut frame(), &sink, "20261126_020000");
    let latest_key = format!("{prefix}/current/engagement_latest.csv");
    assert_eq!(
        first.latest.as_ref().map(ToString::to_string),
        Some(format!("s3://{}/{latest_key}", s.bucket))
    );
    let dated = s.get(&format!("{prefix}/engagement_20261126_020000.csv"));
    assert_eq!(s.get(&latest_key), dated);

    let second = write_s3(&mut frame().head(Some(1)), &sink, "20261127_020000");
    let dated2 = s.get(&format!("{prefix}/engagement_20261127_020000.csv"));
    assert_eq!(s.get(&latest_key), dated2);
    assert_ne!(dated, dated2);
    assert_eq!(second.sha256, sha256(&dated2.unwrap()));

    // A local file with its copy in the bucket, and the other way round.
    let dir = tempfile::tempdir().unwrap();
    let mixed = s3_sink(
        &s,
        &format!(
            "format: csv, path: '{}/r.csv', allow_outside: true, \
             latest: 's3://{}/{prefix}/mixed_latest.csv'",
            dir.path().display(),
            s.bucket
        ),
    );
    let written = write_s3(&mut frame(), &mixed, "20261126_020000");
    assert_eq!(
        s.get(&format!("{prefix}/mixed_latest.csv")).unwrap(),
        std::fs::read(written.location.as_local().unwrap()).unwrap()
    );
    let back = s3_sink(
        &s,
        &format!(
            "format: csv, path: 's3://{}/{prefix}/back.csv', allow_outside: true, \
             latest: '{}/back_latest.csv'",
            s.bucket,
            dir.path().display()
        ),
    );
    let written = write_s3(&mut frame(), &back, "20261126_020000");
    assert_eq!(
        s.get(&format!("{prefix}/back.csv")).unwrap(),
        std::fs::read(written.latest.unwrap().as_local().unwrap()).unwrap()
    );
}

#[test]
fn keep_last_on_a_prefix_removes_only_older_objects_of_the_sink() {
    let s = server();
    let prefix = unique("keep");
    // Objects this sink did not write, or not beside its files: all kept.
    let foreign = [
        format!("{prefix}/engagement_latest.csv"),
        format!("{prefix}/engagement_notes.csv"),
        format!("{prefix}/other_20250101_000000.csv"),
        format!("{prefix}/old/engagement_20250101_000000.csv"),
        format!("{prefix}-sibling/engagement_20250101_000000.csv"),
    ];
    for key in &foreign {
        s.put(key, b"not ours");
    }
    let sink = s3_sink(
        &s,
        &format!(
            "format: csv, path: 's3://{}/{prefix}/{{pipeline}}_{{timestamp}}.csv', keep_last: 2",
            s.bucket
        ),
    );
    let file = sink.file().unwrap();
    let mut removed = Vec::new();
    for timestamp in ["20261124_020000", "20261125_020000", "20261126_020000"] {
        let written = write_s3(&mut frame(), &sink, timestamp);
        removed.extend(
            file.path
                .prune(&written.location, &vars(timestamp), 2)
                .unwrap()
                .iter()
                .map(ToString::to_string),
        );
    }
    assert_eq!(
        removed,
        [format!(
            "s3://{}/{prefix}/engagement_20261124_020000.csv",
            s.bucket
        )]
    );
    let mut expected = vec![
        format!("{prefix}/engagement_20261125_020000.csv"),
        format!("{prefix}/engagement_20261126_020000.csv"),
    ];
    expected.extend(foreign[..4].iter().cloned());
    expected.sort();
    assert_eq!(s.keys(&prefix), expected);
    assert_eq!(
        s.keys(&format!("{prefix}-sibling")),
        std::slice::from_ref(&foreign[4])
    );
}

#[test]
fn if_exists_fail_on_an_existing_object_fails_before_uploading() {
    let s = server();
    let prefix = unique("exists");
    let key = format!("{prefix}/engagement.csv");
    s.put(&key, b"precious");
    let sink = s3_sink(&s, &format!("format: csv, path: 's3://{}/{key}'", s.bucket));
    let location = sink.file().unwrap().path.render(&vars("20261126_020000"));
    let err = prepare_at(&mut frame(), &sink, &location, None).unwrap_err();
    assert!(matches!(err, Error::ObjectExists { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "sink `report`: `s3://{}/{key}` already exists; set `if_exists: overwrite` or put \
             `{{timestamp}}` in `path`",
            s.bucket
        )
    );
    // The check before the run says the same, before anything is fetched.
    let early = check_object_store(&sink, &vars("20261126_020000")).unwrap_err();
    assert_eq!(early.to_string(), err.to_string());
    assert_eq!(s.get(&key).unwrap(), b"precious");
    assert_eq!(s.keys(&prefix), std::slice::from_ref(&key));

    let overwrite = s3_sink(
        &s,
        &format!(
            "format: csv, path: 's3://{}/{key}', if_exists: overwrite",
            s.bucket
        ),
    );
    let written = write_s3(&mut frame(), &overwrite, "20261126_020000");
    assert_eq!(s.get(&key).unwrap().len() as u64, written.bytes);
}

#[test]
fn the_check_before_a_run_passes_and_leaves_nothing() {
    let s = server();
    let prefix = unique("check");
    let sink = s3_sink(
        &s,
        &format!(
            "format: parquet, path: 's3://{b}/{prefix}/{{pipeline}}_{{timestamp}}.parquet', \
             latest: 's3://{b}/{prefix}/latest/{{pipeline}}.parquet'",
            b = s.bucket
        ),
    );
    check_object_store(&sink, &vars("20261126_020000")).unwrap();
    assert!(s.keys(&prefix).is_empty(), "{:?}", s.keys(&prefix));
    // A local sink has nothing to check.
    check_object_store(
        &sink_from("{ from: t, format: csv, path: r.csv }"),
        &vars("x"),
    )
    .unwrap();
}

#[test]
fn the_check_before_a_run_names_a_missing_bucket() {
    let s = server();
    let bucket = format!("etl-missing-{}", std::process::id());
    let sink = s3_sink(
        &s,
        &format!("format: csv, path: 's3://{bucket}/reports/{{pipeline}}.csv'"),
    );
    let err = check_object_store(&sink, &vars("20261126_020000"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "sink `report`: cannot list `s3://{bucket}/reports/`: bucket `{bucket}` does not \
             exist at endpoint `{}`; create it, or fix the bucket in the sink's `path` or \
             `latest`",
            s.endpoint
        )
    );
}

#[test]
fn wrong_credentials_fail_the_check_without_showing_the_secret() {
    let s = server();
    let secret = "wrong-secret-6f1c2d9a";
    let sink = sink_from(&format!(
        "{{ from: t, format: csv, path: 's3://{}/reports/{{pipeline}}.csv', {} }}",
        s.bucket,
        s.s3_with(secret)
    ));
    assert!(!format!("{sink:?}").contains(secret));
    let err = check_object_store(&sink, &vars("20261126_020000")).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(
        err.to_string().starts_with(&format!(
            "sink `report`: cannot list `s3://{}/reports/`: endpoint `{}` refused the \
             credentials",
            s.bucket, s.endpoint
        )),
        "{err}"
    );
    // Writing fails the same way, leaving nothing.
    let location = sink.file().unwrap().path.render(&vars("20261126_020000"));
    let err = prepare_at(&mut frame(), &sink, &location, None).unwrap_err();
    assert!(!format!("{err} {err:?}").contains(secret), "{err}");
}

#[test]
fn an_unreachable_server_fails_the_check_naming_it() {
    let s = server();
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sink = sink_from(&format!(
        "{{ from: t, format: csv, path: 's3://{}/reports/{{pipeline}}.csv', s3: {{ endpoint: \
         'http://127.0.0.1:{port}', access_key_id: '{}', secret_access_key: '{}', \
         allow_http: true }} }}",
        s.bucket, s.access_key_id, s.secret_access_key
    ));
    let started = std::time::Instant::now();
    let err = check_object_store(&sink, &vars("20261126_020000"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "sink `report`: cannot list `s3://{}/reports/`: ",
            s.bucket
        )) && err.ends_with(&format!("(endpoint `http://127.0.0.1:{port}`)")),
        "{err}"
    );
    assert!(!err.contains(&s.secret_access_key), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
