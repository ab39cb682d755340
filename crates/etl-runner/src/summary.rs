//! The run summary printed on stdout.

use std::fmt::Write as _;
use std::time::Duration;

use etl_source::SourceStats;
use polars::prelude::{AnyValue, DataFrame};
use unicode_width::UnicodeWidthStr;

use crate::run::{Delivered, RunReport};

/// The summary of a successful run.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: run {} succeeded in {}",
        report.pipeline,
        report.run_id,
        secs(report.elapsed)
    );
    out.push('\n');
    out.push_str(&sources_table(&report.sources));
    out.push('\n');
    if let Some(staged) = &report.staged {
        let _ = writeln!(out, "{staged}");
        return out;
    }
    let width = report
        .sinks
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:>8}  {:>10}  file",
        "sink", "rows", "bytes"
    );
    for (name, d) in &report.sinks {
        let bytes = match d {
            Delivered::File(w) => w.bytes.to_string(),
            Delivered::Table(_) => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{name:<width$}  {:>8}  {bytes:>10}  {}",
            d.rows(),
            d.describe()
        );
    }
    let cursors: Vec<_> = report
        .sources
        .iter()
        .filter_map(|(n, s)| s.cursor.as_ref().map(|c| (n, c)))
        .collect();
    if !cursors.is_empty() {
        out.push('\n');
        for (name, c) in cursors {
            let show = |v: Option<etl_source::Cursor>| {
                v.map_or_else(|| "none".to_owned(), |v| v.to_string())
            };
            let sent = c
                .sent
                .map_or_else(String::new, |v| format!(" (asked from {v})"));
            let _ = writeln!(
                out,
                "{name}: {} {} -> {}{sent}",
                c.field,
                show(c.before),
                show(c.after)
            );
        }
    }
    for (name, t) in &report.tables {
        let _ = writeln!(out, "{name}: merged table {} rows in {}", t.rows, t.path);
    }
    if let Some(path) = &report.state {
        let _ = writeln!(out, "state saved: {}", path.display());
    }
    if let Some(note) = &report.state_note {
        let _ = writeln!(out, "{note}");
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(out, "left out by --only: {}", report.skipped.join(", "));
    }
    for (name, frame, spec) in &report.previews {
        out.push('\n');
        let order = match &spec.sort_by {
            Some(column) => format!(
                " by {column}{}",
                if spec.descending {
                    ", largest first"
                } else {
                    ", smallest first"
                }
            ),
            None => String::new(),
        };
        let _ = writeln!(out, "{name}: first {} rows{order}", frame.height());
        out.push_str(&table(frame));
    }
    out
}

/// A data frame as a plain text table: no types, no box drawing, long text cut short.
pub fn table(frame: &DataFrame) -> String {
    const MAX_WIDTH: usize = 32;
    let columns = frame.columns();
    let mut cells: Vec<Vec<String>> = vec![columns.iter().map(|c| c.name().to_string()).collect()];
    for row in 0..frame.height() {
        cells.push(
            columns
                .iter()
                .map(|c| cell(c.get(row).ok(), MAX_WIDTH))
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric: Vec<bool> = columns
        .iter()
        .map(|c| c.dtype().is_primitive_numeric())
        .collect();
    let mut out = String::new();
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let pad = widths[i].saturating_sub(text.width());
                if numeric[i] {
                    format!("{}{text}", " ".repeat(pad))
                } else {
                    format!("{text}{}", " ".repeat(pad))
                }
            })
            .collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
    out
}

fn cell(value: Option<AnyValue<'_>>, max: usize) -> String {
    let text = match value {
        None | Some(AnyValue::Null) => String::new(),
        Some(AnyValue::String(s)) => s.to_owned(),
        Some(AnyValue::StringOwned(s)) => s.to_string(),
        Some(AnyValue::Float64(f)) => trim_float(f),
        Some(AnyValue::Float32(f)) => trim_float(f64::from(f)),
        Some(other) => other.to_string(),
    };
    // One line per row: control characters are shown escaped.
    let text = crate::pipeline::diagnostic::escape_controls(&text);
    if text.chars().count() > max {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn trim_float(f: f64) -> String {
    let s = format!("{f:.4}");
    let s = s.trim_end_matches('0');
    s.strip_suffix('.')
        .map_or_else(|| s.to_owned(), |t| format!("{t}.0"))
}

/// The per-source table, with warnings under it; also printed for failed runs.
pub fn sources_table(sources: &[(String, SourceStats)]) -> String {
    let mut out = String::new();
    let width = sources
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "{:<width$}  {:>6}  {:>8}  {:>8}  {:>7}  {:>5}  {:>7}  {:>7}",
        "source", "pages", "records", "requests", "retries", "429s", "waited", "time"
    );
    for (name, s) in sources {
        let _ = writeln!(
            out,
            "{name:<width$}  {:>6}  {:>8}  {:>8}  {:>7}  {:>5}  {:>7}  {:>7}",
            s.pages,
            s.records,
            s.counts.requests,
            s.counts.retries,
            s.counts.rate_limited,
            secs(s.counts.waited),
            secs(s.elapsed)
        );
    }
    for (name, s) in sources {
        if let Some(parents) = s.parents {
            let _ = writeln!(
                out,
                "  note: `{name}`: one request series for each of {parents} parent records"
            );
        }
        if s.parallel_pages > 0 {
            let _ = writeln!(
                out,
                "  note: `{name}`: the first page stated the total; {} more pages were fetched in parallel",
                s.parallel_pages
            );
        }
        if let Some(cap) = s.page_size_cap {
            let _ = writeln!(
                out,
                "  note: `{name}`: the server returned at most {cap} records per page, fewer than \
                 asked; paging followed the records received, so none were missed"
            );
        }
        if let Some(bound) = s.stopped_by {
            let _ = writeln!(
                out,
                "  warning: `{name}` stopped at `{bound}`; the API had more records"
            );
        }
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}
