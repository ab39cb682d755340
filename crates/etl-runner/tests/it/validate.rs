use etl_mockapi::MockConfig;

use crate::{etl, mock, repo};

#[test]
fn every_shipped_pipeline_validates() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("pipelines")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let out = etl(dir.path(), &["validate", path.to_str().unwrap()], &[]);
            assert_eq!(out.code, 0, "{}: {out:?}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 1);
}

#[test]
fn validate_reports_every_error_at_once_without_the_network() {
    let api = mock(MockConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "version: 1\nhttp:\n  base_url: {}\n  pagination: {{ type: offset, limit_parm: _limit }}\nsources:\n  users:\n    endpoint: /users\n    headers: {{ Authorization: \"Bearer ${{ETL_TEST_TOKEN}}\" }}\n    max_pages: ten\nsinks:\n  out: {{ from: users, format: csv, path: out.csv }}\n",
        api.url()
    );
    std::fs::write(dir.path().join("bad.yaml"), yaml).unwrap();
    let out = etl(dir.path(), &["validate", "bad.yaml"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    let expected = [
        "bad.yaml:4:31: `http.pagination.limit_parm`: `limit_parm` is not a key here; did you mean `limit_param`?",
        "bad.yaml:8:16: `sources.users.headers.Authorization`: uses the environment variable `ETL_TEST_TOKEN`, which is not set",
        "bad.yaml:9:5: `sources.users.max_pages`: must be a whole number, not string \"ten\"",
        "3 errors in bad.yaml",
    ];
    for e in expected {
        assert!(out.stderr.contains(e), "missing `{e}` in:\n{}", out.stderr);
    }
    assert_eq!(api.stats().requests, 0);
    // `run` refuses the same file the same way, before any request.
    let out = etl(dir.path(), &["run", "bad.yaml"], &[]);
    assert_eq!(out.code, 2);
    assert_eq!(api.stats().requests, 0);
    assert_eq!(crate::files(dir.path()), ["bad.yaml"]);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(etl(dir.path(), &["frobnicate"], &[]).code, 2);
    let out = etl(dir.path(), &["validate", "missing.yaml"], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("missing.yaml: cannot read the pipeline file"),
        "{}",
        out.stderr
    );
}

#[test]
fn for_each_mistakes_are_reported_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "version: 1\nhttp: { base_url: \"http://127.0.0.1:9\" }\nsources:\n  posts: { endpoint: /posts }\n  comments: { endpoint: /comments, for_each: { source: post, key: id } }\n  likes: { endpoint: \"/likes/{id}\", for_each: { source: shares, key: id } }\n  shares: { endpoint: \"/shares/{id}\", for_each: { source: likes, key: id } }\n  tags: { endpoint: /tags, for_each: { source: posts, key: id } }\nsinks:\n  o: { from: posts, format: csv, path: o.csv }\n";
    std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();
    let out = etl(dir.path(), &["validate", "p.yaml"], &[]);
    assert_eq!(out.code, 2, "{out:?}");
    for expected in [
        "`sources.comments.for_each.source`: `post` is not a source; did you mean `posts`?",
        "`sources.likes.for_each.source`: sources depend on each other in a circle: likes -> shares -> likes",
        "`sources.tags.for_each.key`: `{id}` appears nowhere",
    ] {
        assert!(
            out.stderr.contains(expected),
            "missing `{expected}` in:\n{}",
            out.stderr
        );
    }
}
