use std::time::Duration;

use etl_mockapi::{AuthRequirement, Faults, MockConfig, RateLimit};

use crate::{engagement_with, etl, expected_report, files, mock, report_in, run_variant};

#[test]
fn the_engagement_report_is_exact_in_csv() {
    let api = mock(MockConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let pipeline = crate::repo().join("pipelines/engagement.yaml");
    let out = etl(
        dir.path(),
        &["run", pipeline.to_str().unwrap()],
        &[("API_BASE_URL", &api.url())],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let report = report_in(dir.path());
    let expected = expected_report();
    assert_eq!(report, expected);
    // Known figures, so that the test and the tool cannot be wrong together.
    assert_eq!((report[0].total_posts, report[0].total_comments), (20, 117));
    assert!((report[0].avg_comments_per_post - 5.85).abs() < 1e-12);
    assert_eq!(
        (
            report[9].total_posts,
            report[9].total_comments,
            report[9].avg_comments_per_post
        ),
        (0, 0, 0.0)
    );
    assert_eq!(report[4].name, "Smith, John \"Jack\"");
    assert_eq!(report[8].company_name, "Fjord\nLogistics AB");
    // The summary names every source and the file; the preview shows the top five.
    let name = crate::report_files(dir.path()).remove(0);
    assert!(
        name.starts_with("engagement_")
            && std::path::Path::new(&name)
                .extension()
                .is_some_and(|e| e == "csv")
            && name.len() == "engagement_20261126_020000.csv".len(),
        "{name}"
    );
    for needle in [
        "users",
        "posts",
        "comments",
        "500",
        &format!("reports/{name}"),
        "first 5 rows by total_comments, largest first",
    ] {
        assert!(
            out.stdout.contains(needle),
            "`{needle}` missing from:\n{}",
            out.stdout
        );
    }
    let preview: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("report: first 5"))
        .skip(2)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    let top: Vec<&str> = preview
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(top, ["1", "3", "2", "6", "4"]);
    // Three sources of 10, 100 and 500 records at 100 per page: 2 + 2 + 6 requests, and
    // pages fetched ahead past the end of `comments` (at most `concurrency` - 1 = 3; the
    // two short sources end on their first page, before anything is predicted).
    let requests = api.stats().requests;
    assert!((10..=13).contains(&requests), "{requests} requests");
}

#[test]
fn the_engagement_report_is_exact_in_parquet() {
    let api = mock(MockConfig::default());
    let (dir, out) = run_variant(
        &api,
        &[
            ("format: csv", "format: parquet"),
            (
                "path: reports/{pipeline}_{timestamp}.csv",
                "path: reports/{pipeline}_{run_id}.parquet",
            ),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(report_in(dir.path()), expected_report());
}

#[test]
fn faults_and_rate_limits_do_not_change_the_report() {
    let api = mock(MockConfig {
        faults: Faults {
            status_500: 0.05,
            status_503: 0.05,
            drop: 0.02,
            truncate: 0.02,
            invalid_json: 0.0,
            slow_drip: 0.0,
            seed: 7,
        },
        rate_limit: Some(RateLimit {
            requests: 25,
            window: Duration::from_secs(1),
            advertise: false,
        }),
        ..MockConfig::default()
    });
    // Small pages for many requests, no client-side budget so that the server's limit is hit,
    // and quick retries.
    let (dir, out) = run_variant(
        &api,
        &[
            ("page_size: 100", "page_size: 5"),
            ("  rate_limit: { requests: 10, per: 1s, burst: 5 }\n", ""),
            (
                "retry: { max_attempts: 5, initial_backoff: 500ms, max_backoff: 30s, max_elapsed: 5m }",
                "retry: { max_attempts: 10, initial_backoff: 10ms, max_backoff: 100ms }",
            ),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(report_in(dir.path()), expected_report());
    let stats = api.stats();
    for fault in ["status_500", "status_503", "dropped", "truncated"] {
        assert!(stats.fault(fault) > 0, "no `{fault}` served: {stats:?}");
    }
    assert!(stats.status(429) > 0, "no 429 served: {stats:?}");
    // The summary counts the retries and the 429s.
    let retries: u64 = summary_column(&out.stdout, 4);
    let rate_limited: u64 = summary_column(&out.stdout, 5);
    assert!(
        retries >= stats.status(500) + stats.status(503),
        "{}",
        out.stdout
    );
    assert_eq!(rate_limited, stats.status(429), "{}", out.stdout);
}

/// The sum of one numeric column of the source table in the summary.
fn summary_column(stdout: &str, index: usize) -> u64 {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("source "))
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("  "))
        .map(|l| {
            l.split_whitespace()
                .nth(index)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

#[test]
fn advertised_quotas_are_obeyed_before_any_429() {
    let api = mock(MockConfig {
        rate_limit: Some(RateLimit {
            requests: 10,
            window: Duration::from_secs(1),
            advertise: true,
        }),
        ..MockConfig::default()
    });
    let (dir, out) = run_variant(
        &api,
        &[
            ("page_size: 100", "page_size: 25"),
            ("  rate_limit: { requests: 10, per: 1s, burst: 5 }\n", ""),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(report_in(dir.path()), expected_report());
    // 2 + 5 + 21 pages over a 10-per-second quota: the client pauses the host when the quota
    // says 0 remain, so the server refuses at most a request already in flight then (three
    // sources run at once), where a client ignoring the headers is refused again and again.
    // Pages are fetched ahead (`concurrency` 4): past its end each source may have sent up to
    // three requests more, answered (empty) but not used.
    let stats = api.stats();
    assert_eq!(stats.status(429), 0, "{stats:?}");
    assert!((28..=28 + 3 * 3).contains(&stats.status(200)), "{stats:?}");
    // The summary counts every request sent, those fetched ahead included.
    let counted = summary_column(&out.stdout, 3);
    assert!(
        (stats.requests..stats.requests + 3 * 3).contains(&counted),
        "{counted} counted, {} served\n{}",
        stats.requests,
        out.stdout
    );
}

#[test]
fn a_server_capping_pages_still_gives_the_complete_report() {
    let api = mock(MockConfig {
        max_page_size: Some(7),
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let pipeline = crate::repo().join("pipelines/engagement.yaml");
    let out = etl(
        dir.path(),
        &["run", pipeline.to_str().unwrap()],
        &[("API_BASE_URL", &api.url())],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(report_in(dir.path()), expected_report());
    assert!(
        out.stdout
            .contains("the server returned at most 7 records per page"),
        "{}",
        out.stdout
    );
}

#[test]
fn page_numbers_and_a_records_path_give_the_same_report() {
    let api = mock(MockConfig {
        envelope: Some("data.items".into()),
        max_page_size: Some(30),
        ..MockConfig::default()
    });
    let (dir, out) = run_variant(
        &api,
        &[(
            "pagination: { type: offset, offset_param: _start, limit_param: _limit, page_size: 100 }",
            "pagination: { type: page, page_param: _page, size_param: _limit, page_size: 50 }\n  records: data.items",
        )],
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(report_in(dir.path()), expected_report());
}

#[test]
fn a_401_fails_naming_source_status_and_url_and_writes_nothing() {
    let api = mock(MockConfig {
        auth: Some(AuthRequirement::Bearer("right-token".into())),
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let yaml = engagement_with(&[(
        "# auth: { type: bearer, token: \"${API_TOKEN}\" }   # JSONPlaceholder needs none",
        "auth: { type: bearer, token: \"${API_TOKEN}\" }",
    )]);
    std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();
    let secret = "wrong-token-0123456789";
    let out = etl(
        dir.path(),
        &["run", "p.yaml"],
        &[("API_BASE_URL", &api.url()), ("API_TOKEN", secret)],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("answered 401"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}/", api.url())),
        "{}",
        out.stderr
    );
    assert!(
        ["`users`", "`posts`", "`comments`"]
            .iter()
            .any(|s| out.stderr.contains(&format!("source {s}"))),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(secret) && !out.stdout.contains(secret));
    assert_eq!(files(dir.path()), ["p.yaml"]);
}

#[test]
fn every_kind_of_credential_reaches_the_api() {
    let cases = [
        (
            AuthRequirement::Bearer("tok-bearer-1".into()),
            r#"{ type: bearer, token: "${SECRET}" }"#,
        ),
        (
            AuthRequirement::Header {
                name: "X-API-Key".into(),
                value: "tok-header-2".into(),
            },
            r#"{ type: api_key, key: "${SECRET}" }"#,
        ),
        (
            AuthRequirement::Query {
                name: "api_key".into(),
                value: "tok-query-3".into(),
            },
            r#"{ type: api_key, key: "${SECRET}", query: api_key }"#,
        ),
        (
            AuthRequirement::Basic {
                username: "etl".into(),
                password: "tok-basic-4".into(),
            },
            r#"{ type: basic, username: etl, password: "${SECRET}" }"#,
        ),
    ];
    for (requirement, auth) in cases {
        let secret = match &requirement {
            AuthRequirement::Bearer(v) => v.clone(),
            AuthRequirement::Header { value, .. } | AuthRequirement::Query { value, .. } => {
                value.clone()
            }
            AuthRequirement::Basic { password, .. } => password.clone(),
        };
        let api = mock(MockConfig {
            auth: Some(requirement),
            ..MockConfig::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let yaml = engagement_with(&[(
            "# auth: { type: bearer, token: \"${API_TOKEN}\" }   # JSONPlaceholder needs none",
            &format!("auth: {auth}"),
        )]);
        std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();
        let out = etl(
            dir.path(),
            &["--log-format", "json", "run", "p.yaml"],
            &[
                ("API_BASE_URL", &api.url()),
                ("SECRET", &secret),
                ("RUST_LOG", "debug"),
            ],
        );
        assert_eq!(out.code, 0, "{auth}: {out:?}");
        assert_eq!(api.stats().status(401), 0);
        assert_eq!(report_in(dir.path()), expected_report());
        assert!(
            !out.stderr.contains(&secret) && !out.stdout.contains(&secret),
            "{auth} leaked"
        );
    }
}

#[test]
fn an_api_ignoring_paging_parameters_fails_instead_of_looping() {
    let api = mock(MockConfig {
        ignore_paging: true,
        max_page_size: Some(100),
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let pipeline = crate::repo().join("pipelines/engagement.yaml");
    let out = etl(
        dir.path(),
        &["run", pipeline.to_str().unwrap()],
        &[("API_BASE_URL", &api.url())],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("ignores the paging parameters `_start`, `_limit`"),
        "{}",
        out.stderr
    );
    assert!(api.stats().requests <= 10, "{:?}", api.stats());
    assert!(!dir.path().join("reports").exists());
}

#[test]
fn log_format_is_accepted_after_the_subcommand() {
    let api = mock(MockConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let pipeline = crate::repo().join("pipelines/engagement.yaml");
    let out = etl(
        dir.path(),
        &["run", pipeline.to_str().unwrap(), "--log-format", "json"],
        &[("API_BASE_URL", &api.url()), ("RUST_LOG", "info")],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let first = out.stderr.lines().next().unwrap();
    let line: serde_json::Value = serde_json::from_str(first).unwrap();
    assert!(line.get("level").is_some(), "{first}");
}

#[test]
fn a_slow_api_times_out_per_attempt_and_fails_cleanly() {
    let api = mock(MockConfig {
        latency: Duration::from_millis(400),
        ..MockConfig::default()
    });
    let (dir, out) = run_variant(
        &api,
        &[
            ("timeout: 30s", "timeout: 100ms"),
            (
                "retry: { max_attempts: 5, initial_backoff: 500ms, max_backoff: 30s, max_elapsed: 5m }",
                "retry: { max_attempts: 2, initial_backoff: 10ms }",
            ),
        ],
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("failed after 2 attempts (`retry.max_attempts` reached): no complete answer within the timeout of 0.1s"),
        "{}",
        out.stderr
    );
    assert_eq!(files(dir.path()), ["p.yaml"]);
}

#[test]
fn max_pages_and_max_records_cut_short_with_a_warning_and_exit_0() {
    let api = mock(MockConfig::default());
    let (dir, out) = run_variant(
        &api,
        &[
            (
                "  posts:    { endpoint: /posts }",
                "  posts:    { endpoint: /posts, max_records: 150 }",
            ),
            (
                "  comments: { endpoint: /comments }",
                "  comments: { endpoint: /comments, max_pages: 2 }",
            ),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("warning: `comments` stopped at `max_pages: 2`"),
        "{}",
        out.stdout
    );
    // posts has only 100 records: the bound was not reached, so no warning.
    assert!(!out.stdout.contains("`posts` stopped"), "{}", out.stdout);
    let report = report_in(dir.path());
    assert_eq!(report.iter().map(|r| r.total_comments).sum::<i64>(), 200);
}
