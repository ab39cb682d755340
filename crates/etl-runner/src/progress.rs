//! The live display of `etl run` on a terminal: a line per source (pages, records, rate, waits
//! and why), fed by the progress events of `etl-source` (it is their [`ProgressSink`]).
//! Under cron or a pipe there is none: plain log lines only.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use etl_source::{ProgressEvent, ProgressSink, WaitReason};
use indexmap::IndexMap;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use tracing_subscriber::fmt::MakeWriter;

/// Whether `etl run` shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    // On a terminal (stderr), unless `--quiet`, `--log-format json` or `TERM=dumb`.
    Auto,
    // Always, also into a pipe or a file (with terminal control codes).
    Always,
    // Never: plain log lines only.
    Never,
}

/// One line per source.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: MultiProgress,
    sources: Arc<Mutex<IndexMap<String, Line>>>,
    finished: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug)]
struct Line {
    bar: ProgressBar,
    /// What the source waits for before it starts (`for_each`: its parent).
    waiting_for: Option<String>,
    started: Option<Instant>,
    pages: u64,
    records: u64,
    /// Time waited so far, by reason.
    waited: IndexMap<String, Duration>,
    /// A wait in progress: until when, and why.
    waiting: Option<(Instant, String)>,
    done: Option<Duration>,
}

impl Line {
    /// A source's line before it starts (waiting for `waiting_for`, its parent, if any).
    fn new(bar: ProgressBar, waiting_for: Option<String>) -> Self {
        Self {
            bar,
            waiting_for,
            started: None,
            pages: 0,
            records: 0,
            waited: IndexMap::new(),
            waiting: None,
            done: None,
        }
    }

    fn message(&self, now: Instant) -> String {
        let Some(started) = self.started else {
            return match &self.waiting_for {
                Some(parent) => format!("waiting for `{parent}`"),
                None => "waiting".to_owned(),
            };
        };
        let elapsed = self.done.unwrap_or_else(|| now - started);
        let mut text = format!(
            "{} page{} · {} records",
            group(self.pages),
            if self.pages == 1 { "" } else { "s" },
            group(self.records)
        );
        if self.done.is_some() {
            let _ = write!(text, " in {}", seconds(elapsed));
        }
        if elapsed >= Duration::from_millis(200) {
            let _ = write!(text, " · {}/s", group(per_second(self.records, elapsed)));
        }
        if self.done.is_none() {
            if let Some((until, why)) = &self.waiting {
                if *until > now {
                    let why = why.strip_prefix("retry: ").unwrap_or(why);
                    let _ = write!(text, " · retrying in {} ({why})", seconds(*until - now));
                }
            }
        }
        let total: Duration = self.waited.values().sum();
        if total >= Duration::from_millis(100) {
            let why = |w: &String| w.strip_prefix("retry: ").unwrap_or(w).to_owned();
            let reasons: Vec<String> = if self.waited.len() == 1 {
                self.waited.keys().map(why).collect()
            } else {
                self.waited
                    .iter()
                    .map(|(w, d)| format!("{} {}", why(w), seconds(*d)))
                    .collect()
            };
            let _ = write!(
                text,
                " · waited {} ({})",
                seconds(total),
                reasons.join(", ")
            );
        }
        text
    }
}

/// Records per second, rounded.
fn per_second(records: u64, elapsed: Duration) -> u64 {
    let millis = elapsed.as_millis().max(1);
    u64::try_from(u128::from(records) * 1000 / millis).unwrap_or(u64::MAX)
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Progress {
    /// A display for these sources (name, and the parent a `for_each` source waits for).
    pub fn new(sources: &[(String, Option<String>)], mode: ProgressMode) -> Self {
        let target = match mode {
            ProgressMode::Always => ProgressDrawTarget::term_like_with_hz(Box::new(Stderr), 10),
            _ => ProgressDrawTarget::stderr_with_hz(10),
        };
        let multi = MultiProgress::with_draw_target(target);
        let width = sources.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let style =
            ProgressStyle::with_template(&format!("{{spinner}} {{prefix:<{width}}}  {{msg}}"))
                .expect("a valid template")
                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓");
        let now = Instant::now();
        let mut lines = IndexMap::new();
        for (name, parent) in sources {
            let bar = multi.add(ProgressBar::new_spinner().with_style(style.clone()));
            bar.set_prefix(name.clone());
            let line = Line::new(bar, parent.clone());
            line.bar.set_message(line.message(now));
            line.bar.enable_steady_tick(Duration::from_millis(100));
            lines.insert(name.clone(), line);
        }
        Self {
            multi,
            sources: Arc::new(Mutex::new(lines)),
            finished: Arc::default(),
        }
    }

    /// Whether `mode` shows progress here.
    pub fn wanted(mode: ProgressMode, quiet: bool, json_logs: bool) -> bool {
        use std::io::IsTerminal as _;
        match mode {
            ProgressMode::Never => false,
            ProgressMode::Always => true,
            ProgressMode::Auto => {
                !quiet
                    && !json_logs
                    && std::io::stderr().is_terminal()
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        }
    }

    fn update(&self, source: &str, f: impl FnOnce(&mut Line, Instant)) {
        let mut lines = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(line) = lines.get_mut(source) {
            let now = Instant::now();
            f(line, now);
            line.bar.set_message(line.message(now));
        }
    }

    /// Ends the display (once): finished sources keep their line, the others show `stopped`.
    /// Nothing is drawn after this, so output that follows is never overwritten.
    pub fn finish(&self) {
        if self
            .finished
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let lines = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        for line in lines.values() {
            if line.done.is_some() {
                line.bar.finish_with_message(line.message(now));
            } else if line.started.is_some() {
                line.bar
                    .abandon_with_message(format!("{} · stopped", line.message(now)));
            } else {
                line.bar.abandon_with_message("not started");
            }
        }
        self.multi.set_draw_target(ProgressDrawTarget::hidden());
    }

    /// Log lines written without tearing the display.
    pub fn writer(&self) -> SuspendingStderr {
        SuspendingStderr(self.multi.clone())
    }
}

impl ProgressSink for Progress {
    fn event(&self, source: &str, event: ProgressEvent) {
        self.update(source, |line, now| match event {
            ProgressEvent::Started => line.started = Some(now),
            ProgressEvent::Page { records } => {
                line.pages += 1;
                line.records += records;
            }
            ProgressEvent::Waiting { wait, reason } => {
                let why = reason.to_string();
                *line.waited.entry(why.clone()).or_default() += wait;
                // A retry's wait is announced before it; a rate-limit wait after.
                if matches!(reason, WaitReason::Retry { .. }) {
                    line.waiting = Some((now + wait, why));
                }
            }
            ProgressEvent::Finished => {
                line.done = Some(line.started.map_or(Duration::ZERO, |s| now - s));
                line.bar.finish_with_message(line.message(now));
            }
        });
    }
}

/// Writes log lines around the display (`MultiProgress::suspend`).
#[derive(Debug, Clone)]
pub struct SuspendingStderr(MultiProgress);

impl std::io::Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for SuspendingStderr {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// stderr as a terminal, whatever it is (`--progress always`): ANSI control codes.
#[derive(Debug)]
struct Stderr;

impl Stderr {
    fn put(s: &str) -> std::io::Result<()> {
        std::io::stderr().write_all(s.as_bytes())
    }

    /// Moves the cursor `n` cells in `direction` (`A` up, `B` down, `C` right, `D` left).
    fn cursor(n: usize, direction: char) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        Self::put(&format!("\x1b[{n}{direction}"))
    }
}

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        100
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        Self::cursor(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        Self::cursor(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        Self::cursor(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        Self::cursor(n, 'D')
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        Self::put(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        Self::put(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        Self::put("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_pages_records_rate_and_waits() {
        let start = Instant::now();
        let mut line = Line::new(ProgressBar::hidden(), Some("posts".into()));
        assert_eq!(line.message(start), "waiting for `posts`");
        line.started = Some(start);
        line.pages = 1;
        line.records = 100;
        assert_eq!(line.message(start), "1 page · 100 records");
        line.pages = 12;
        line.records = 1_200;
        line.waiting = Some((start + Duration::from_secs(3), "retry: status 503".into()));
        line.waited
            .insert("retry: status 503".into(), Duration::from_secs(3));
        line.waited
            .insert("rate limit".into(), Duration::from_millis(1500));
        let now = start + Duration::from_secs(2);
        assert_eq!(
            line.message(now),
            "12 pages · 1,200 records · 600/s · retrying in 1.0s (status 503) · waited 4.5s (status 503 3.0s, rate limit 1.5s)"
        );
        line.done = Some(Duration::from_secs(4));
        assert_eq!(
            line.message(start + Duration::from_secs(9)),
            "12 pages · 1,200 records in 4.0s · 300/s · waited 4.5s (status 503 3.0s, rate limit 1.5s)"
        );
        line.waited.shift_remove("rate limit");
        assert_eq!(
            line.message(start),
            "12 pages · 1,200 records in 4.0s · 300/s · waited 3.0s (status 503)"
        );
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(999), "999");
    }

    #[test]
    fn events_update_the_line_of_their_source() {
        let progress = Progress::new(&[("posts".into(), None)], ProgressMode::Never);
        progress.multi.set_draw_target(ProgressDrawTarget::hidden());
        progress.event("posts", ProgressEvent::Started);
        progress.event("posts", ProgressEvent::Page { records: 100 });
        progress.event("posts", ProgressEvent::Page { records: 20 });
        let wait = Duration::from_millis(300);
        let retry = WaitReason::Retry {
            failure: "status 503".into(),
        };
        progress.event(
            "posts",
            ProgressEvent::Waiting {
                wait,
                reason: retry,
            },
        );
        let rate = WaitReason::RateLimit;
        progress.event("posts", ProgressEvent::Waiting { wait, reason: rate });
        progress.event("other", ProgressEvent::Page { records: 5 });
        {
            let lines = progress.sources.lock().unwrap();
            let line = &lines["posts"];
            assert_eq!((line.pages, line.records), (2, 120));
            assert_eq!(
                line.waited.keys().collect::<Vec<_>>(),
                ["retry: status 503", "rate limit"]
            );
            assert_eq!(
                line.waiting.as_ref().map(|(_, why)| why.as_str()),
                Some("retry: status 503")
            );
            assert!(line.done.is_none());
        }
        progress.event("posts", ProgressEvent::Finished);
        assert!(progress.sources.lock().unwrap()["posts"].done.is_some());
        progress.finish();
    }
}
