//! Every API shape gives the same engagement report.

use std::time::Duration;

use etl_mockapi::{CursorMode, MockConfig, OAuth2Mock};
use polars::prelude::*;

use crate::{etl, expected_report, files, mock, report_in, run_variant};

const PAGINATION: &str =
    "  pagination: { type: offset, offset_param: _start, limit_param: _limit, page_size: 100 }";
const USERS: &str = "  users:    { endpoint: /users }";
const POSTS: &str = "  posts:    { endpoint: /posts }";
const COMMENTS: &str = "  comments: { endpoint: /comments }";

/// The client-side budget of the shipped pipeline (10 requests a second): off in these
/// tests, which make hundreds of requests to a local server.
const BUDGET: &str = "  rate_limit: { requests: 10, per: 1s, burst: 5 }\n";

/// Replacements giving every source `prefix` and the pagination `pagination`.
fn shape(prefix: &str, pagination: &str) -> Vec<(&'static str, String)> {
    vec![
        (BUDGET, String::new()),
        (PAGINATION, format!("  pagination: {pagination}")),
        (USERS, format!("  users:    {{ endpoint: {prefix}/users }}")),
        (POSTS, format!("  posts:    {{ endpoint: {prefix}/posts }}")),
        (
            COMMENTS,
            format!("  comments: {{ endpoint: {prefix}/comments }}"),
        ),
    ]
}

fn run_shape(
    config: MockConfig,
    replacements: &[(&str, String)],
) -> (tempfile::TempDir, crate::Outcome, etl_mockapi::Stats) {
    let api = mock(config);
    let refs: Vec<(&str, &str)> = replacements.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let (dir, out) = run_variant(&api, &refs, &[]);
    (dir, out, api.stats())
}

fn assert_same_report(
    name: &str,
    config: MockConfig,
    replacements: &[(&str, String)],
) -> (String, etl_mockapi::Stats) {
    let (dir, out, stats) = run_shape(config, replacements);
    assert_eq!(out.code, 0, "{name}: {out:?}");
    assert_eq!(report_in(dir.path()), expected_report(), "{name}");
    (out.stdout, stats)
}

fn capped(cap: usize) -> MockConfig {
    MockConfig {
        max_page_size: Some(cap),
        ..MockConfig::default()
    }
}

#[test]
fn offset_and_page_styles_with_even_uneven_and_capped_pages() {
    for (name, config, pagination) in [
        (
            "offset, uneven",
            MockConfig::default(),
            "{ type: offset, offset_param: _start, limit_param: _limit, page_size: 7 }",
        ),
        (
            "offset, capped",
            capped(30),
            "{ type: offset, offset_param: offset, limit_param: limit, page_size: 100 }",
        ),
        (
            "page, even",
            MockConfig::default(),
            "{ type: page, page_param: _page, size_param: _limit, page_size: 25 }",
        ),
        (
            "page, uneven, capped",
            capped(15),
            "{ type: page, page_param: page, size_param: per_page, page_size: 40 }",
        ),
    ] {
        assert_same_report(name, config, &shape("", pagination));
    }
}

#[test]
fn cursor_style_with_and_without_a_cap() {
    let pagination = "{ type: cursor, cursor_param: cursor, cursor_path: next_cursor, limit_param: limit, page_size: 25, has_more_path: has_more }";
    assert_same_report(
        "cursor",
        MockConfig::default(),
        &shape("/cursor", pagination),
    );
    let (stdout, _) =
        assert_same_report("cursor, capped", capped(9), &shape("/cursor", pagination));
    assert!(stdout.contains("at most 9 records per page"), "{stdout}");
}

#[test]
fn next_url_style_with_relative_and_absolute_links() {
    let pagination = "{ type: next_url, next_url_path: next }";
    assert_same_report(
        "next_url, relative",
        MockConfig::default(),
        &shape("/next", pagination),
    );
    let config = MockConfig {
        absolute_links: true,
        max_page_size: Some(33),
        ..MockConfig::default()
    };
    assert_same_report("next_url, absolute", config, &shape("/next", pagination));
}

#[test]
fn link_header_style() {
    let mut replacements = shape("/link", "{ type: link_header }");
    replacements.push((
        "  headers: { Accept: application/json }",
        "  headers: { Accept: application/json }\n  params: { per_page: \"45\" }".into(),
    ));
    assert_same_report("link_header", MockConfig::default(), &replacements);
    assert_same_report("link_header, capped", capped(8), &replacements);
}

#[test]
fn post_search_with_paging_in_the_body_and_parallel_pages() {
    let pagination = "{ type: offset, offset_body_path: offset, limit_body_path: limit, page_size: 20, total_path: total }";
    let mut replacements = shape("/search", pagination);
    for (from, name) in [(USERS, "users"), (POSTS, "posts"), (COMMENTS, "comments")] {
        let line = format!(
            "  {name}: {{ endpoint: /search/{name}, method: POST, body: {{ filter: {{}} }} }}"
        );
        replacements.retain(|(f, _)| *f != from);
        replacements.push((from, line));
    }
    let (stdout, stats) = assert_same_report("search", MockConfig::default(), &replacements);
    // 1 + 0 pages of users, 1 + 4 of posts, 1 + 24 of comments: no confirming requests, as
    // the total is known; the pages after the first came in parallel.
    assert_eq!(stats.requests, 31, "{stats:?}");
    assert!(
        stdout.contains("24 more pages were fetched in parallel"),
        "{stdout}"
    );
}

#[test]
fn comments_as_children_of_posts_give_the_same_report() {
    let replacements = vec![(BUDGET, String::new()), (
        COMMENTS,
        "  comments: { endpoint: \"/posts/{id}/comments\", for_each: { source: posts, key: id }, include_from_parent: [userId], pagination: { type: none }, concurrency: 8 }".to_owned(),
    )];
    let (stdout, stats) = assert_same_report("children", MockConfig::default(), &replacements);
    assert_eq!(
        stats
            .by_path
            .keys()
            .filter(|p| p.ends_with("/comments"))
            .count(),
        100
    );
    assert!(
        stdout.contains("one request series for each of 100 parent records"),
        "{stdout}"
    );
}

#[test]
fn children_page_too_and_carry_parent_fields() {
    let dir = tempfile::tempdir().unwrap();
    let api = mock(capped(3));
    let yaml = format!(
        "version: 1\nhttp: {{ base_url: \"{}\" }}\nsources:\n  posts: {{ endpoint: /posts, params: {{ userId: \"1\" }}, pagination: {{ type: page, page_size: 10 }} }}\n  comments:\n    endpoint: \"/posts/{{id}}/comments\"\n    for_each: {{ source: posts, key: id }}\n    include_from_parent: [id, title]\n    pagination: {{ type: page, page_size: 10 }}\nsinks:\n  out: {{ from: comments, format: csv, path: out.csv }}\n",
        api.url()
    );
    std::fs::write(dir.path().join("p.yaml"), yaml).unwrap();
    let out = etl(dir.path(), &["run", "p.yaml"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let text = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(header, "postId,id,name,email,body,_posts_id,_posts_title");
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(dir.path().join("out.csv")))
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(df.height(), 117, "user 1's posts received 117 comments");
    let post = df.column("postId").unwrap().as_materialized_series();
    let copied = df.column("_posts_id").unwrap().as_materialized_series();
    assert!(post.equals(copied), "each comment carries its post's id");
}

#[test]
fn loops_fail_with_the_repeated_value() {
    let cursor = "{ type: cursor, limit_param: limit, page_size: 10 }";
    for (name, mode, expected) in [
        (
            "stuck cursor",
            CursorMode::Stuck,
            "came back to `cursor=c005a5a50&limit=10` (asked for page 2, again for page 3)",
        ),
        (
            "A, B, A",
            CursorMode::Cycle,
            "came back to `cursor=c005a5a50&limit=10` (asked for page 2, again for page 4)",
        ),
    ] {
        let config = MockConfig {
            cursor_mode: mode,
            ..MockConfig::default()
        };
        let (dir, out, stats) = run_shape(config, &shape("/cursor", cursor));
        assert_eq!(out.code, 1, "{name}: {out:?}");
        assert!(out.stderr.contains(expected), "{name}: {}", out.stderr);
        assert!(stats.requests < 20, "{name}: {stats:?}");
        assert_eq!(files(dir.path()), ["p.yaml"]);
    }
    let config = MockConfig {
        ignore_paging: true,
        ..MockConfig::default()
    };
    let (_, out, _) = run_shape(config, &shape("/next", "{ type: next_url }"));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("holds the same 10 records as the page before: the API ignores"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_foreign_next_link_never_gets_the_credentials() {
    let foreign = mock(MockConfig::default());
    let api = mock(MockConfig {
        foreign_links: Some(foreign.url()),
        auth: Some(etl_mockapi::AuthRequirement::Bearer("tok-123456".into())),
        ..MockConfig::default()
    });
    let auth = (
        "# auth: { type: bearer, token: \"${API_TOKEN}\" }   # JSONPlaceholder needs none",
        "auth: { type: bearer, token: \"${API_TOKEN}\" }".to_owned(),
    );
    let token = [("API_TOKEN", "tok-123456")];
    let mut refused = shape("/next", "{ type: next_url }");
    refused.push(auth.clone());
    let refs: Vec<(&str, &str)> = refused.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let (dir, out) = run_variant(&api, &refs, &token);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("is on another origin than"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("`allowed_hosts`")
            && out.stderr.contains("`follow_foreign_links: true`"),
        "{}",
        out.stderr
    );
    assert_eq!(foreign.stats().requests, 0);
    assert_eq!(files(dir.path()), ["p.yaml"]);

    // Followed without credentials when asked: the foreign server sees no token. It has the
    // same data, so the report is complete.
    let mut followed = refused.clone();
    followed.push((
        "  headers: { Accept: application/json }",
        "  headers: { Accept: application/json }\n  follow_foreign_links: true".into(),
    ));
    let refs: Vec<(&str, &str)> = followed.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let (dir, out) = run_variant(&api, &refs, &token);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(report_in(dir.path()), expected_report());
    let seen = foreign.stats();
    assert!(seen.requests > 0, "{seen:?}");
    assert_eq!(seen.with_credentials, 0, "{seen:?}");
}

#[test]
fn oauth2_tokens_are_fetched_cached_and_refreshed_on_401() {
    let api = mock(MockConfig {
        oauth2: Some(OAuth2Mock {
            client_id: "etl".into(),
            client_secret: "client-secret-42".into(),
            expires_in: Duration::from_secs(3600),
            max_uses: Some(4),
        }),
        ..MockConfig::default()
    });
    let auth = (
        "# auth: { type: bearer, token: \"${API_TOKEN}\" }   # JSONPlaceholder needs none",
        "auth: { type: oauth2_client_credentials, token_url: \"${API_BASE_URL}/oauth/token\", client_id: etl, client_secret: \"${CLIENT_SECRET}\", scope: read }".to_owned(),
    );
    let refs = [(auth.0, auth.1.as_str())];
    let (dir, out) = run_variant(
        &api,
        &refs,
        &[("CLIENT_SECRET", "client-secret-42"), ("RUST_LOG", "debug")],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(report_in(dir.path()), expected_report());
    let stats = api.stats();
    // 10 requests, a token lasting 4 uses: refreshed after each 401, not on every request.
    assert!((3..=6).contains(&stats.tokens_issued), "{stats:?}");
    assert!(
        !out.stderr.contains("client-secret-42") && !out.stderr.contains("mock-access-"),
        "a secret leaked"
    );
}
