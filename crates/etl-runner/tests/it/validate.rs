use std::fmt::Write as _;

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

#[test]
fn hostile_files_get_a_clear_error_and_exit_2_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        let _ = writeln!(bomb, "a{i}: &a{i} [{refs}]");
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bomb.yaml", bomb.into_bytes(), "aliases expand into too many values"),
        ("deep.yaml", format!("version: 1\nsources: {}{}\n", "[".repeat(5000), "]".repeat(5000)).into_bytes(), "values nest too deeply"),
        ("big.yaml", { let mut v = b"version: 1\n# ".to_vec(); v.resize(100 * 1024 * 1024, b'x'); v }, "pipeline files are limited to 4194304 bytes"),
        ("utf8.yaml", b"version: 1\nname: \xff\xfe\n".to_vec(), "is not UTF-8 text (invalid bytes on line 2)"),
        (
            "names.yaml",
            b"version: 1\nhttp: { base_url: \"http://x\" }\nsources:\n  \"us\\u0007ers\": { endpoint: /users }\nsinks:\n  o: { from: users, format: csv, path: \"../../etc/x\" }\n".to_vec(),
            "`sources.us\\u{7}ers`: `us\\u{7}ers` is not a usable name",
        ),
        (
            "escape.yaml",
            b"version: 1\nhttp: { base_url: \"http://x\" }\nsources:\n  users: { endpoint: /users }\nsinks:\n  o: { from: users, format: csv, path: \"../../etc/x\" }\n".to_vec(),
            "`../../etc/x` leaves the working directory",
        ),
        (
            "scheme.yaml",
            b"version: 1\nsources:\n  users: { endpoint: \"file:///etc/passwd\" }\nsinks:\n  o: { from: users, format: csv, path: o.csv }\n".to_vec(),
            "`file:///etc/passwd` uses `file:`; only http and https are fetched",
        ),
    ];
    for (name, bytes, expected) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let started = std::time::Instant::now();
        let out = etl(dir.path(), &["validate", name], &[]);
        assert_eq!(out.code, 2, "{name}: {out:?}");
        assert!(
            out.stderr.contains(expected),
            "{name}: `{expected}` not in\n{}",
            out.stderr
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{name} took {:?}",
            started.elapsed()
        );
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
}

#[test]
fn every_broken_fixture_gets_a_located_error() {
    let folder = repo().join("fixtures/invalid");
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            std::path::Path::new(n)
                .extension()
                .is_some_and(|e| e == "yaml")
        })
        .collect();
    names.sort();
    assert!(names.len() >= 25, "{names:?}");
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        std::fs::copy(folder.join(&name), dir.path().join(&name)).unwrap();
        let out = etl(dir.path(), &["validate", &name], &[]);
        assert_eq!(out.code, 2, "{name}: {out:?}");
        // Every message points at a line and column, and shows that line.
        let first = out.stderr.lines().next().unwrap_or("");
        let located = first
            .strip_prefix(&format!("error: {name}:"))
            .and_then(|rest| rest.split(':').next())
            .is_some_and(|line| line.parse::<usize>().is_ok());
        assert!(located, "{name}: {}", out.stderr);
        assert!(out.stderr.contains(" | "), "{name}: {}", out.stderr);
        let stem = name.trim_end_matches(".yaml");
        insta::assert_snapshot!(format!("invalid_{stem}"), out.stderr);
    }
}

#[test]
fn plan_shows_the_first_requests_without_making_any() {
    let api = mock(MockConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let out = etl(
        dir.path(),
        &[
            "plan",
            repo().join("pipelines/engagement.yaml").to_str().unwrap(),
        ],
        &[("API_BASE_URL", &api.url())],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(api.stats().requests, 0);
    let shown = out
        .stdout
        .replace(&api.url(), "http://API")
        .replace(repo().join("pipelines").to_str().unwrap(), "pipelines");
    insta::assert_snapshot!("plan_engagement", shown);
}

#[test]
fn init_writes_a_pipeline_that_validates_and_runs() {
    let api = mock(MockConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let out = etl(dir.path(), &["init", "starter"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let written = std::fs::read(dir.path().join("starter.yaml")).unwrap();
    assert_eq!(etl(dir.path(), &["validate", "starter.yaml"], &[]).code, 0);
    let run = etl(
        dir.path(),
        &["-q", "run", "starter.yaml"],
        &[("API_BASE_URL", &api.url())],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "", "--quiet prints nothing");
    // A second init leaves the file alone.
    let again = etl(dir.path(), &["init", "starter"], &[]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("starter.yaml exists"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read(dir.path().join("starter.yaml")).unwrap(),
        written
    );
    // -v logs each source.
    let verbose = etl(
        dir.path(),
        &["-v", "run", "starter.yaml"],
        &[("API_BASE_URL", &api.url())],
    );
    assert_eq!(verbose.code, 0);
    assert!(
        verbose.stderr.contains("Source complete."),
        "{}",
        verbose.stderr
    );
}

#[test]
fn completions_for_every_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = etl(dir.path(), &["completions", shell], &[]);
        assert_eq!(out.code, 0, "{shell}: {out:?}");
        assert!(out.stdout.contains("etl"), "{shell}");
        assert!(out.stdout.contains("schedule"), "{shell}");
    }
}

#[test]
fn set_and_env_file_override_the_pipeline_and_show_in_plan() {
    let api = mock(MockConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let pipeline = repo().join("pipelines/engagement.yaml");
    let pipeline = pipeline.to_str().unwrap();
    std::fs::write(
        dir.path().join("vars.env"),
        format!("# the mock\nexport API_BASE_URL=\"{}\"\n", api.url()),
    )
    .unwrap();
    let out = etl(
        dir.path(),
        &[
            "--env-file",
            "vars.env",
            "--set",
            "sources.users.endpoint=/users?x=1",
            "--set",
            "http.rate_limit.requests=50",
            "plan",
            pipeline,
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("--env-file vars.env: 1 variable(s)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("--set http.rate_limit.requests=50"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "users: GET {}/users?x=1&_start=0&_limit=100",
            api.url()
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("at most 50 request(s) per 1s"),
        "{}",
        out.stdout
    );
    // The same options run it.
    let run = etl(
        dir.path(),
        &["--env-file", "vars.env", "-q", "run", pipeline],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let bad = etl(
        dir.path(),
        &["--set", "nonsense", "validate", pipeline],
        &[],
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("write KEY.PATH=VALUE"),
        "{}",
        bad.stderr
    );
}

#[test]
fn help_of_every_command_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        "",
        "run",
        "validate",
        "plan",
        "runs",
        "state",
        "schedule",
        "init",
        "completions",
        "schema",
    ] {
        let mut args: Vec<&str> = command.split_whitespace().collect();
        args.push("--help");
        let out = etl(dir.path(), &args, &[("COLUMNS", "100")]);
        assert_eq!(out.code, 0, "{command}: {out:?}");
        assert!(out.stdout.contains("Example"), "{command} has no example");
        let name = if command.is_empty() { "etl" } else { command };
        insta::assert_snapshot!(format!("help_{name}"), out.stdout);
    }
}
