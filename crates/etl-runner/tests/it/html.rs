//! `format: html` in a real browser: the headless Chromium `scripts/services.sh` installs
//! (`ETL_TEST_CHROMIUM`) loads the reports the real `etl` binary wrote, from disk, with the
//! network switched off, and the rendered page is checked: the table holds the CSV's numbers,
//! each chart has its bars or points, nothing was requested, nothing was logged as an error,
//! and hostile text in every column is shown as text and runs nothing. Screenshots go to
//! `target/html-report/`. Without Chromium these tests fail; they are never skipped.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etl_mockapi::{Dataset, MockConfig, MockServer};
use headless_chrome::protocol::cdp::{Network, Page};
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::{Value, json};

use crate::{Row, etl, expected_report, mock, repo, report_in, run_variant};

/// A headless Chromium with a profile of its own, removed with it.
struct Chromium {
    browser: Browser,
    _profile: tempfile::TempDir,
}

/// What a page did while it loaded and was used: requests, console calls, exceptions, log
/// entries (the browser's own errors: a blocked script, a refused load).
#[derive(Debug, Default)]
struct Seen {
    requests: Vec<String>,
    console: Vec<Value>,
    exceptions: Vec<Value>,
    log: Vec<Value>,
}

fn chromium() -> Chromium {
    let path = std::env::var_os("ETL_TEST_CHROMIUM").unwrap_or_else(|| {
        panic!(
            "ETL_TEST_CHROMIUM is not set: run the tests through `make test` (or \
             `scripts/services.sh cargo test`), which installs Chromium"
        )
    });
    let profile = tempfile::tempdir().unwrap();
    let options = LaunchOptions::default_builder()
        .path(Some(PathBuf::from(path)))
        .headless(true)
        .sandbox(false)
        .window_size(Some((1100, 1400)))
        .user_data_dir(Some(profile.path().to_owned()))
        .idle_browser_timeout(Duration::from_secs(120))
        .args(vec![
            OsStr::new("--disable-gpu"),
            OsStr::new("--no-first-run"),
            OsStr::new("--disable-background-networking"),
            OsStr::new("--disable-component-update"),
            OsStr::new("--disable-sync"),
            OsStr::new("--hide-scrollbars"),
            // Belt and braces beside the page's offline mode: no name resolves, no proxy answers.
            OsStr::new("--host-resolver-rules=MAP * ~NOTFOUND"),
            OsStr::new("--proxy-server=127.0.0.1:9"),
        ])
        .build()
        .unwrap();
    let browser = Browser::new(options).expect("headless Chromium starts (ETL_TEST_CHROMIUM)");
    Chromium {
        browser,
        _profile: profile,
    }
}

impl Chromium {
    /// Opens `file` in a new tab with the network off, recording what the page does.
    fn open(&self, file: &Path) -> (Arc<Tab>, Arc<Mutex<Seen>>) {
        let tab = self.browser.new_tab().unwrap();
        tab.set_default_timeout(Duration::from_secs(30));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let record = Arc::clone(&seen);
        tab.add_event_listener(Arc::new(
            move |event: &headless_chrome::protocol::cdp::types::Event| {
                use headless_chrome::protocol::cdp::types::Event as E;
                let mut seen = record.lock().unwrap();
                match event {
                    E::NetworkRequestWillBeSent(e) => {
                        seen.requests.push(e.params.request.url.clone());
                    }
                    E::RuntimeConsoleAPICalled(e) => seen
                        .console
                        .push(serde_json::to_value(&e.params).unwrap_or_default()),
                    E::RuntimeExceptionThrown(e) => seen
                        .exceptions
                        .push(serde_json::to_value(&e.params).unwrap_or_default()),
                    E::LogEntryAdded(e) => seen
                        .log
                        .push(serde_json::to_value(&e.params.entry).unwrap_or_default()),
                    _ => {}
                }
            },
        ))
        .unwrap();
        tab.enable_runtime().unwrap();
        tab.enable_log().unwrap();
        tab.call_method(Network::Enable {
            max_total_buffer_size: None,
            max_resource_buffer_size: None,
            max_post_data_size: None,
            report_direct_socket_traffic: None,
            enable_durable_messages: None,
        })
        .unwrap();
        tab.call_method(Network::EmulateNetworkConditions {
            offline: true,
            latency: 0.0,
            download_throughput: -1.0,
            upload_throughput: -1.0,
            connection_Type: None,
            packet_loss: None,
            packet_queue_length: None,
            packet_reordering: None,
        })
        .unwrap();
        let url = format!("file://{}", file.canonicalize().unwrap().display());
        tab.navigate_to(&url).unwrap();
        tab.wait_until_navigated().unwrap();
        tab.wait_for_element("footer").unwrap();
        (tab, seen)
    }
}

/// The value of `expression` (a JSON-returning script) in `tab`.
fn eval(tab: &Tab, expression: &str) -> Value {
    let result = tab
        .evaluate(&format!("JSON.stringify({expression})"), false)
        .unwrap();
    let text = result.value.and_then(|v| v.as_str().map(str::to_owned));
    serde_json::from_str(&text.unwrap_or_else(|| panic!("`{expression}` gave no value"))).unwrap()
}

/// Saves a screenshot of the whole page under `target/html-report/NAME.png`.
fn screenshot(tab: &Tab, name: &str) -> PathBuf {
    let png = tab
        .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    let dir = repo().join("target/html-report");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

/// Nothing was requested but the page itself, nothing logged an error or threw.
fn assert_quiet(seen: &Mutex<Seen>, page: &Path) {
    let seen = seen.lock().unwrap();
    let own = format!("file://{}", page.canonicalize().unwrap().display());
    // The page's own load is seen: the listener works, so an empty list below means something.
    assert!(
        seen.requests.contains(&own),
        "the page's own load was not seen: {:?}",
        seen.requests
    );
    assert!(
        seen.requests.iter().all(|r| *r == own),
        "the page made requests: {:?}",
        seen.requests
    );
    assert!(
        seen.exceptions.is_empty(),
        "exceptions: {:?}",
        seen.exceptions
    );
    assert!(seen.console.is_empty(), "console calls: {:?}", seen.console);
    let errors: Vec<&Value> = seen
        .log
        .iter()
        .filter(|e| matches!(e["level"].as_str(), Some("error" | "warning")))
        .collect();
    assert!(errors.is_empty(), "the browser logged: {errors:?}");
}

/// The page's table as text: headers and every row's cells.
const TABLE: &str = r#"{
  headers: [...document.querySelectorAll("table.rows thead th")].map(th => th.textContent),
  rows: [...document.querySelectorAll("table.rows tbody tr")].map(tr => [...tr.cells].map(td => td.textContent)),
  count: document.querySelector("p.count").textContent,
  total: document.querySelector("p.count").dataset.total
}"#;

/// A number as the report shows it (`1,234.50`) as a float.
fn shown(text: &str) -> f64 {
    text.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("`{text}` is not a number as shown"))
}

#[test]
#[allow(clippy::too_many_lines)] // one page, checked from its table to its charts and requests
fn the_demo_report_renders_offline_with_the_csv_numbers() {
    let api = mock(MockConfig::default());
    let (dir, out) = run_variant(&api, &[], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let csv = report_in(dir.path());
    assert_eq!(csv, expected_report());
    let page = dir.path().join("reports/engagement.html");
    let stamped: Vec<PathBuf> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("engagement_") && p.extension().is_some_and(|e| e == "html")
        })
        .collect();
    assert_eq!(stamped.len(), 1, "{stamped:?}");
    assert_eq!(
        std::fs::read(&page).unwrap(),
        std::fs::read(&stamped[0]).unwrap()
    );
    assert!(out.stdout.contains("report_html"), "{}", out.stdout);

    let chrome = chromium();
    let (tab, seen) = chrome.open(&page);
    let facts = eval(
        &tab,
        r##"{
          title: document.title,
          charts: document.querySelectorAll("section.chart svg").length,
          bars: document.querySelectorAll("#chart-1 rect.bar").length,
          bins: document.querySelectorAll("#chart-2 rect.bin").length,
          binned: [...document.querySelectorAll("#chart-2 rect.bin title")].map(t => t.textContent),
          barLabels: [...document.querySelectorAll("#chart-1 g.bar-row title")].map(t => t.textContent),
          sources: [...document.querySelectorAll("table.sources tr")].map(tr => [...tr.cells].map(td => td.textContent)),
          checks: [...document.querySelectorAll("ul.checks li")].map(li => li.textContent),
          links: document.querySelectorAll("a[href], link, img, iframe, object, embed").length,
          scripts: document.scripts.length
        }"##,
    );
    assert_eq!(facts["title"], "Engagement per user");
    assert_eq!(facts["charts"], 2);
    assert_eq!(facts["bars"], 10);
    assert_eq!(facts["bins"], 10);
    assert_eq!(facts["links"], 0);
    assert_eq!(facts["scripts"], 1);
    assert_eq!(
        facts["sources"],
        json!([["users", "10"], ["posts", "100"], ["comments", "500"]])
    );
    assert_eq!(
        facts["checks"],
        json!([
            "engagement: min_rows 1",
            "engagement: not_null id",
            "engagement: not_null name",
            "engagement: unique id"
        ])
    );
    // Every user is in one range of the histogram.
    let binned: u64 = facts["binned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let t = t.as_str().unwrap();
            t[t.rfind(": ").unwrap() + 2..t.rfind(" rows").unwrap()]
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(binned, 10);
    // The bars are the top users by comments received, with their figures.
    let mut top = csv.clone();
    top.sort_by_key(|r| std::cmp::Reverse(r.total_comments));
    let bar_labels: Vec<String> = top
        .iter()
        .map(|r| format!("{}: {}", r.name, r.total_comments))
        .collect();
    assert_eq!(facts["barLabels"], json!(bar_labels));

    // The table: every row of the CSV, its numbers as the CSV's, largest total first.
    let table = eval(&tab, TABLE);
    assert_eq!(
        table["headers"],
        json!([
            "User id",
            "Name",
            "Email",
            "Company",
            "Posts",
            "Comments received",
            "Comments per post"
        ])
    );
    assert_eq!(table["total"], "10");
    let rows: Vec<Row> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cells| {
            let cell = |i: usize| cells[i].as_str().unwrap().to_owned();
            Row {
                id: cell(0).parse().unwrap(),
                name: cell(1),
                email: cell(2),
                company_name: cell(3),
                total_posts: shown(&cell(4)) as i64,
                total_comments: shown(&cell(5)) as i64,
                avg_comments_per_post: shown(&cell(6)),
            }
        })
        .collect();
    assert_eq!(rows.len(), csv.len());
    let comments: Vec<i64> = rows.iter().map(|r| r.total_comments).collect();
    assert!(comments.windows(2).all(|w| w[0] >= w[1]), "{comments:?}");
    for row in &rows {
        let want = csv.iter().find(|r| r.id == row.id).unwrap();
        assert_eq!(
            (
                &row.name,
                &row.email,
                &row.company_name,
                row.total_posts,
                row.total_comments
            ),
            (
                &want.name,
                &want.email,
                &want.company_name,
                want.total_posts,
                want.total_comments
            )
        );
        // Two decimals on the page.
        assert!(
            (row.avg_comments_per_post - want.avg_comments_per_post).abs() <= 0.005 + 1e-9,
            "{row:?} against {want:?}"
        );
    }
    screenshot(&tab, "engagement");

    // The optional script sorts by a header; the page's policy let it run.
    let ids = eval(
        &tab,
        r#"(() => {
          document.querySelector("table.rows thead th").click();
          return [...document.querySelectorAll("table.rows tbody tr")].map(tr => tr.cells[0].textContent);
        })()"#,
    );
    assert_eq!(
        ids,
        json!(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"])
    );
    assert_quiet(&seen, &page);
}

#[test]
fn the_daily_sales_report_draws_a_point_per_day() {
    let data = Dataset::load(&repo().join("fixtures/shop")).unwrap();
    let api = MockServer::start(data, MockConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("pipelines/daily_sales.yaml"),
        dir.path().join("daily_sales.yaml"),
    )
    .unwrap();
    let out = etl(
        dir.path(),
        &["run", "daily_sales.yaml"],
        &[("SHOP_API_URL", &api.url())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let csv = std::fs::read_to_string(dir.path().join("reports/daily_sales/latest.csv")).unwrap();
    let days: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert!(days.len() > 10, "{csv}");
    let page = dir.path().join("reports/daily_sales/latest.html");

    let chrome = chromium();
    let (tab, seen) = chrome.open(&page);
    let facts = eval(
        &tab,
        r##"{
          lines: [...document.querySelectorAll("section.chart polyline.line")].map(p => p.points.length),
          points: [...document.querySelectorAll("section.chart")].map(s => s.querySelectorAll("circle.point").length),
          titles: [...document.querySelectorAll("#chart-1 circle.point title")].map(t => t.textContent)
        }"##,
    );
    assert_eq!(facts["lines"], json!([days.len(), days.len()]));
    assert_eq!(facts["points"], json!([days.len(), days.len()]));
    // Each point is a day of the CSV with its revenue, oldest first.
    let titles: Vec<String> = days
        .iter()
        .map(|d| {
            let revenue: f64 = d[2].parse().unwrap();
            format!("{}: {}", d[0], format_money(revenue))
        })
        .collect();
    assert_eq!(facts["titles"], json!(titles));
    let table = eval(&tab, TABLE);
    let shown_days: Vec<&str> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    let mut newest_first: Vec<&str> = days.iter().map(|d| d[0].as_str()).collect();
    newest_first.reverse();
    assert_eq!(shown_days, newest_first);
    for (row, day) in table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(days.iter().rev())
    {
        let orders = shown(row[1].as_str().unwrap());
        assert!(
            (orders - day[1].parse::<f64>().unwrap()).abs() < 1e-9,
            "{row:?} against {day:?}"
        );
        let revenue: f64 = day[2].parse().unwrap();
        assert_eq!(row[2].as_str().unwrap(), format_money(revenue));
    }
    screenshot(&tab, "daily_sales");
    assert_quiet(&seen, &page);
}

/// `1234.5` as the report shows money: `1,234.50`.
fn format_money(v: f64) -> String {
    let fixed = format!("{v:.2}");
    let (int, frac) = fixed.split_once('.').unwrap();
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 && c != '-' {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{frac}")
}

/// Text that would run, load or break out of its element if it were not escaped.
const HOSTILE: &[&str] = &[
    "<img src=x onerror=\"window.__ran='img'\">",
    "</svg><script>window.__ran='svg'</script>",
    "</td></tr></table><script>window.__ran='table'</script>",
    "a\u{0}b NUL",
    "\"quoted\" & 'single' `back`",
    "<!-- comment --> ]]> <![CDATA[x]]>",
    "مرحبا بالعالم",
    "漢字とかな",
    "👩‍💻🚀",
    "javascript:window.__ran='href'",
];

#[test]
#[allow(clippy::too_many_lines)] // one page, every place text from the data lands
fn hostile_text_in_every_column_is_shown_literally_and_runs_nothing() {
    let key = "<b onmouseover=\"window.__ran='key'\">name</b>";
    let records: Vec<Value> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({
                "id": i + 1,
                "label": text,
                key: text,
                "score": (i + 1) * 10,
                "tags": [text, "ok"],
            })
        })
        .collect();
    let api = MockServer::start(
        Dataset::from_collections([("things".to_owned(), records)]),
        MockConfig::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let title = "<script>window.__ran='title'</script> & \"report\"";
    let pipeline = format!(
        r#"version: 1
name: hostile
http:
  base_url: {url}
  pagination: {{ type: offset, offset_param: _start, limit_param: _limit, page_size: 100 }}
sources:
  things: {{ endpoint: /things }}
sinks:
  page:
    from: things
    format: html
    path: out/hostile.html
    html:
      title: {title:?}
      columns:
        label: {{ label: {title:?}, unit: "</text><script>window.__ran='unit'</script>" }}
      charts:
        - {{ type: bar, x: label, y: score }}
        - {{ type: line, x: id, y: score, title: "</h2><img src=x onerror=1>" }}
        - {{ type: histogram, x: score }}
"#,
        url = api.url()
    );
    std::fs::write(dir.path().join("p.yaml"), pipeline).unwrap();
    let out = etl(dir.path(), &["run", "p.yaml"], &[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let page = dir.path().join("out/hostile.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains('\u{0}'), "a NUL reached the page");

    let chrome = chromium();
    let (tab, seen) = chrome.open(&page);
    let facts = eval(
        &tab,
        r##"{
          ran: window.__ran === undefined ? null : window.__ran,
          title: document.title,
          heading: document.querySelector("h1").textContent,
          headers: [...document.querySelectorAll("table.rows thead th")].map(th => th.textContent),
          rows: [...document.querySelectorAll("table.rows tbody tr")].map(tr => [...tr.cells].map(td => td.textContent)),
          barTitles: [...document.querySelectorAll("#chart-1 g.bar-row title")].map(t => t.textContent),
          chartTitle: document.querySelector("#chart-2 h2").textContent,
          bars: document.querySelectorAll("#chart-1 rect.bar").length,
          points: document.querySelectorAll("#chart-2 circle.point").length,
          tags: [...document.querySelectorAll("*")].map(e => e.localName).filter((v, i, a) => a.indexOf(v) === i).sort(),
          scripts: document.scripts.length,
          handlers: [...document.querySelectorAll("*")].flatMap(e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith("on"))
        }"##,
    );
    assert_eq!(facts["ran"], Value::Null, "something in the data ran");
    assert_eq!(facts["title"], title);
    assert_eq!(facts["heading"], title);
    assert_eq!(facts["scripts"], 1, "only the page's own sorting script");
    assert_eq!(facts["handlers"], json!([]));
    assert_eq!(facts["chartTitle"], "</h2><img src=x onerror=1>");
    assert_eq!(facts["bars"], 10);
    assert_eq!(facts["points"], 10);
    let allowed = [
        "body", "circle", "code", "dd", "div", "dl", "dt", "footer", "g", "h1", "h2", "h3", "head",
        "header", "html", "li", "line", "main", "meta", "p", "polyline", "rect", "script",
        "section", "style", "svg", "table", "tbody", "td", "text", "th", "thead", "title", "tr",
        "ul",
    ];
    for tag in facts["tags"].as_array().unwrap() {
        assert!(
            allowed.contains(&tag.as_str().unwrap()),
            "an element `{tag}` came from the data"
        );
    }
    // The header of every column as written: the hostile key, the hostile label and unit.
    let headers: Vec<&str> = facts["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(headers.contains(&key), "{headers:?}");
    assert!(
        headers
            .contains(&format!("{title} (</text><script>window.__ran='unit'</script>)").as_str()),
        "{headers:?}"
    );
    // Every hostile text shows as written (a NUL as the symbol for it), in both text columns
    // and inside the list column.
    let label = headers
        .iter()
        .position(|h| h.starts_with("<script>"))
        .unwrap();
    let keyed = headers.iter().position(|h| *h == key).unwrap();
    let tags = headers.iter().position(|h| *h == "tags").unwrap();
    let rows = facts["rows"].as_array().unwrap();
    assert_eq!(rows.len(), HOSTILE.len());
    for (row, text) in rows.iter().zip(HOSTILE) {
        let literal = text.replace('\u{0}', "\u{2400}");
        assert_eq!(row[label], literal);
        assert_eq!(row[keyed], literal);
        let list: Vec<String> = serde_json::from_str(row[tags].as_str().unwrap()).unwrap();
        assert_eq!(list[0].replace('\u{0}', "\u{2400}"), literal);
    }
    // The bars' labels too (each bar's title holds the full text).
    let bar_titles = facts["barTitles"].as_array().unwrap();
    for (i, text) in HOSTILE.iter().enumerate().rev() {
        let literal = text.replace('\u{0}', "\u{2400}");
        let want = format!("{literal}: {}", (i + 1) * 10);
        assert_eq!(bar_titles[HOSTILE.len() - 1 - i], want);
    }
    screenshot(&tab, "hostile");
    assert_quiet(&seen, &page);
}
