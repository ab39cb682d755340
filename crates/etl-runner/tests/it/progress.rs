//! What `etl run` shows: the progress lines (on a terminal, or with `--progress always`), plain
//! logs under a pipe, and the run summary (snapshot).

use etl_mockapi::{Faults, MockConfig};

use crate::{etl, mock};

/// `text` without terminal control sequences (`ESC [ ... letter`), and each line as last drawn.
fn screen_lines(text: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
            plain.push('\n');
        } else if c == '\r' {
            plain.push('\n');
        } else {
            plain.push(c);
        }
    }
    plain
        .lines()
        .map(|l| l.trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The summary with its times (as `#####`), timestamps and run ids blanked out.
fn normalized(summary: &str) -> String {
    let mut out = String::new();
    for line in summary.lines() {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                let time = w.strip_suffix('s').is_some_and(|n| {
                    n.contains('.') && n.chars().all(|c| c.is_ascii_digit() || c == '.')
                });
                if time {
                    "#####".to_owned()
                } else {
                    w.to_owned()
                }
            })
            .collect();
        out.push_str(&blank_timestamps(&words.join(" ")));
        out.push('\n');
    }
    out
}

/// `20261126_234630` as `YYYYmmdd_HHMMSS`, and the `-829b` of a run id as `-xxxx`.
fn blank_timestamps(line: &str) -> String {
    let c: Vec<char> = line.chars().collect();
    let digits =
        |r: std::ops::Range<usize>| r.end <= c.len() && c[r].iter().all(char::is_ascii_digit);
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        if digits(i..i + 8) && c.get(i + 8) == Some(&'_') && digits(i + 9..i + 15) {
            out.push_str("YYYYmmdd_HHMMSS");
            i += 15;
            if c.get(i) == Some(&'-')
                && i + 5 <= c.len()
                && c[i + 1..i + 5].iter().all(char::is_ascii_hexdigit)
            {
                out.push_str("-xxxx");
                i += 5;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn progress_lines_say_pages_records_and_waits_and_the_summary_follows() {
    let api = mock(MockConfig {
        faults: Faults {
            status_503: 0.2,
            seed: 3,
            ..Faults::default()
        },
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        // One request at a time: the summary's request counts are exact, with no pages
        // fetched ahead past the end (whose number depends on timing).
        crate::engagement_with(&[
            (
                "retry: { max_attempts: 5, initial_backoff: 500ms, max_backoff: 30s, max_elapsed: 5m }",
                "retry: { max_attempts: 10, initial_backoff: 100ms, max_backoff: 200ms }",
            ),
            ("  timeout: 30s\n", "  timeout: 30s\n  concurrency: 1\n"),
        ]),
    )
    .unwrap();
    let url = api.url();
    let out = etl(
        dir.path(),
        &["run", "p.yaml", "--progress", "always"],
        &[("API_BASE_URL", &url)],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(api.stats().fault("status_503") > 0);
    let lines = screen_lines(&out.stderr);
    let last = |source: &str| {
        lines
            .iter()
            .rev()
            .find(|l| l.contains(&format!(" {source} ")))
            .cloned()
            .unwrap_or_default()
    };
    // Every source ends on its own line: pages, records, time (and waits, with the reason).
    for (source, pages, records) in [("users", 2, 10), ("posts", 2, 100), ("comments", 6, 500)] {
        let line = last(source);
        assert!(
            line.contains(&format!("{pages} pages · {records} records in ")),
            "{source}: {line:?}\n{lines:#?}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("(status 503)")),
        "no wait shown with its reason: {lines:#?}"
    );
    // The summary goes to stdout, untouched by the display.
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
    assert!(out.stdout.contains("engagement: run "), "{}", out.stdout);

    // Into a pipe (`auto`): plain log lines only, no control codes.
    let quiet = mock(MockConfig::default());
    let url = quiet.url();
    for dir in [dir.path().join("a"), dir.path().join("b")] {
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(dir.with_file_name("p.yaml"), dir.join("p.yaml")).unwrap();
    }
    let out = etl(
        &dir.path().join("a"),
        &["run", "p.yaml"],
        &[("API_BASE_URL", &url)],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    let out = etl(
        &dir.path().join("b"),
        &["-v", "run", "p.yaml"],
        &[("API_BASE_URL", &url)],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains('\u{1b}'), "{}", out.stderr);
    assert!(out.stderr.contains("Source complete."), "{}", out.stderr);
    insta::assert_snapshot!("run_summary", normalized(&out.stdout));
}
