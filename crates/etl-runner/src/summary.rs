//! The run summary printed on stdout.

use std::fmt::Write as _;
use std::time::Duration;

use etl_source::SourceStats;

use crate::run::RunReport;

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
    for (name, w) in &report.sinks {
        let _ = writeln!(
            out,
            "{name:<width$}  {:>8}  {:>10}  {}",
            w.rows,
            w.bytes,
            w.path.display()
        );
    }
    for (name, frame) in &report.previews {
        out.push('\n');
        let _ = writeln!(out, "{name}:");
        let _ = writeln!(out, "{frame}");
    }
    out
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
