//! `format: html`: one self-contained page a person opens from a mail or a shared folder,
//! offline. A header with the run (pipeline, run id, time, the records of each source, the
//! checks that passed), the charts of `html.charts` as inline SVG ([`chart`]), and the rows
//! as a table, cut at `html.table.max_rows`. Styles are inline; a small inline script sorts
//! the table when a header is clicked, and the page reads the same without it. The page's
//! Content-Security-Policy allows that script alone (by its hash) and no request of any
//! kind, so nothing in the data can run or load, on top of every text being escaped
//! ([`text::escape`]).

mod chart;
mod text;

use std::collections::BTreeMap;
use std::io::Write;

use etl_config::{ConfigError, KeyPath};
use polars::prelude::*;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Problems, problem};
use text::{escape, escape_into, put};

pub use chart::{Chart, ChartKind};
pub use text::NumberFormat;

/// Rows the table shows by default.
pub(crate) const DEFAULT_MAX_ROWS: usize = 1000;

/// The largest `float_precision`.
const MAX_PRECISION: usize = 12;

/// `html:` of a sink with `format: html`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct HtmlSpec {
    /// The page's title and heading. Default: `{pipeline}: {sink}`.
    pub title: Option<String>,
    /// Digits after the decimal separator of floats, in the table and the charts' values
    /// (default 2; 0 to 12). A column may set its own under `columns`.
    pub float_precision: Option<usize>,
    /// Between groups of three digits: `","` (default), `"."`, `" "`, `"'"`, or `""` for
    /// none. A column may set its own under `columns`.
    pub thousands_separator: Option<String>,
    /// `"."` (default) or `","`.
    pub decimal_separator: Option<String>,
    /// Per column: the label shown for it, its unit, its number format.
    #[serde(default)]
    pub columns: BTreeMap<String, HtmlColumnSpec>,
    /// The table of rows.
    pub table: Option<HtmlTableSpec>,
    /// Charts, drawn above the table in this order.
    #[serde(default)]
    pub charts: Vec<ChartSpec>,
}

/// `html.columns.<name>`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct HtmlColumnSpec {
    /// The header shown for the column (and the charts' axis title). Default: its name.
    pub label: Option<String>,
    /// Shown after the label: `Revenue (EUR)`.
    pub unit: Option<String>,
    /// Digits after the decimal separator for this column (a float).
    pub float_precision: Option<usize>,
    /// Separator of thousands for this column; `""` for none (ids, years).
    pub thousands_separator: Option<String>,
}

/// `html.table`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct HtmlTableSpec {
    /// The columns shown, in this order. Default: every column of the output.
    pub columns: Option<Vec<String>>,
    /// Sort the rows by this column first. Default: the output's order.
    pub sort_by: Option<String>,
    /// Largest first (default `false`).
    #[serde(default)]
    pub descending: bool,
    /// Rows shown at most (default 1000); the page says how many there are in all. `0` shows
    /// no table.
    pub max_rows: Option<usize>,
}

/// One entry of `html.charts`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ChartSpec {
    /// `bar`, `line` or `histogram`.
    #[serde(rename = "type")]
    pub kind: ChartKind,
    /// The chart's heading. Default: from its columns (`total_comments by name`).
    pub title: Option<String>,
    /// `bar`: the column that labels the bars. `line`: the date, datetime or number along
    /// the bottom. `histogram`: the number whose values are counted.
    pub x: String,
    /// `bar`: the value that sizes the bars. `line`: the value drawn. Not for `histogram`.
    pub y: Option<String>,
    /// `bar`: how many bars, the largest values (default 10; 1 to 100).
    pub top: Option<usize>,
    /// `histogram`: how many equal ranges (default 20; 1 to 200).
    pub bins: Option<usize>,
    /// The title of the x axis. Default: the column's label.
    pub x_label: Option<String>,
    /// The title of the y axis. Default: the column's label (`Rows` for a histogram).
    pub y_label: Option<String>,
    /// The unit of x, shown after its title: `Revenue (EUR)`. Default: the column's unit.
    pub x_unit: Option<String>,
    /// The unit of y. Default: the column's unit.
    pub y_unit: Option<String>,
}

/// A column's presentation, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnFormat {
    pub label: Option<String>,
    pub unit: Option<String>,
    pub float_precision: Option<usize>,
    pub thousands_separator: Option<String>,
}

/// The options of an html sink, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlOptions {
    pub title: Option<String>,
    pub numbers: NumberFormat,
    pub columns: BTreeMap<String, ColumnFormat>,
    pub table_columns: Option<Vec<String>>,
    pub sort_by: Option<String>,
    pub descending: bool,
    pub max_rows: usize,
    pub charts: Vec<Chart>,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        Self {
            title: None,
            numbers: NumberFormat::default(),
            columns: BTreeMap::new(),
            table_columns: None,
            sort_by: None,
            descending: false,
            max_rows: DEFAULT_MAX_ROWS,
            charts: Vec::new(),
        }
    }
}

/// The run a report belongs to, shown in its header: what the run's manifest records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunInfo {
    pub pipeline: String,
    pub run_id: String,
    /// When the run started, as shown (`2026-12-04 20:55:12 UTC`).
    pub time: String,
    /// Each source fetched and its records.
    pub sources: Vec<(String, u64)>,
    /// The checks that passed, as written (`engagement: unique user_id`).
    pub checks: Vec<String>,
}

fn precision(p: &mut Problems, key: &str, given: Option<usize>) -> Option<usize> {
    let given = given?;
    if given > MAX_PRECISION {
        p.push(
            key,
            problem(format!("`{given}` is more digits than a report shows"))
                .with_hint(format!("use 0 to {MAX_PRECISION}")),
        );
        return None;
    }
    Some(given)
}

fn separator(
    p: &mut Problems,
    key: &str,
    given: Option<&String>,
    allowed: &[&str],
) -> Option<String> {
    let given = given?;
    if allowed.contains(&given.as_str()) {
        return Some(given.clone());
    }
    let list: Vec<String> = allowed.iter().map(|a| format!("`{a:?}`")).collect();
    p.push(
        key,
        problem(format!("`{given}` is not a separator a report uses"))
            .with_hint(format!("use one of {}", list.join(", "))),
    );
    None
}

const THOUSANDS: &[&str] = &[",", ".", " ", "'", "\u{a0}", "\u{202f}", ""];

impl HtmlSpec {
    /// The options, checked; every problem is reported under `at` (`sinks.<name>.html`).
    pub(crate) fn build(&self, at: KeyPath) -> Result<HtmlOptions, Vec<ConfigError>> {
        let mut p = Problems::new(at);
        let default = NumberFormat::default();
        let float_precision = precision(&mut p, "float_precision", self.float_precision)
            .unwrap_or(default.float_precision);
        let thousands = separator(
            &mut p,
            "thousands_separator",
            self.thousands_separator.as_ref(),
            THOUSANDS,
        )
        .unwrap_or(default.thousands_separator);
        let decimal = separator(
            &mut p,
            "decimal_separator",
            self.decimal_separator.as_ref(),
            &[".", ","],
        )
        .unwrap_or(default.decimal_separator);
        if thousands == decimal {
            p.push(
                "thousands_separator",
                problem(format!("`{thousands}` is the decimal separator too"))
                    .with_hint("with `decimal_separator: \",\"`, write `thousands_separator: \".\"` or `\" \"`"),
            );
        }
        if self.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
            p.push(
                "title",
                problem("is empty").with_hint("leave it out for `{pipeline}: {sink}`"),
            );
        }
        let mut columns = BTreeMap::new();
        for (name, spec) in &self.columns {
            let key = format!("columns.{name}");
            let column = ColumnFormat {
                label: spec.label.clone(),
                unit: spec.unit.clone(),
                float_precision: precision(
                    &mut p,
                    &format!("{key}.float_precision"),
                    spec.float_precision,
                ),
                thousands_separator: separator(
                    &mut p,
                    &format!("{key}.thousands_separator"),
                    spec.thousands_separator.as_ref(),
                    THOUSANDS,
                ),
            };
            if column.thousands_separator.as_deref() == Some(decimal.as_str()) {
                p.push(
                    &format!("{key}.thousands_separator"),
                    problem(format!("`{decimal}` is the decimal separator too")),
                );
            }
            columns.insert(name.clone(), column);
        }
        let table = self.table.clone().unwrap_or_default();
        if let Some(list) = &table.columns {
            if list.is_empty() {
                p.push("table.columns", problem("is empty").with_hint("leave it out to show every column, or set `table.max_rows: 0` to show no table"));
            }
            let mut seen = Vec::new();
            for c in list {
                if seen.contains(&c) {
                    p.push("table.columns", problem(format!("names `{c}` twice")));
                }
                seen.push(c);
            }
        }
        let charts = self
            .charts
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.build(&mut p, &format!("charts[{i}]")))
            .collect();
        p.finish(Some(HtmlOptions {
            title: self.title.clone(),
            numbers: NumberFormat {
                float_precision,
                thousands_separator: thousands,
                decimal_separator: decimal,
            },
            columns,
            table_columns: table.columns,
            sort_by: table.sort_by,
            descending: table.descending,
            max_rows: table.max_rows.unwrap_or(DEFAULT_MAX_ROWS),
            charts,
        }))
    }
}

impl ChartSpec {
    fn build(&self, p: &mut Problems, key: &str) -> Option<Chart> {
        let kind = self.kind.name();
        let mut ok = true;
        let mut refuse = |p: &mut Problems, field: &str, why: String| {
            p.push(&format!("{key}.{field}"), problem(why));
            ok = false;
        };
        match self.kind {
            ChartKind::Bar | ChartKind::Line if self.y.is_none() => refuse(
                p,
                "y",
                format!("is missing: a `{kind}` chart draws `y` against `x`"),
            ),
            ChartKind::Histogram if self.y.is_some() => refuse(
                p,
                "y",
                "applies to `bar` and `line`; a histogram counts the values of `x`".into(),
            ),
            _ => {}
        }
        if self.top.is_some() && self.kind != ChartKind::Bar {
            refuse(p, "top", format!("applies to `bar` charts, not `{kind}`"));
        }
        if self.bins.is_some() && self.kind != ChartKind::Histogram {
            refuse(
                p,
                "bins",
                format!("applies to `histogram` charts, not `{kind}`"),
            );
        }
        let top = self.top.unwrap_or(10);
        if !(1..=100).contains(&top) {
            refuse(p, "top", format!("`{top}` bars: use 1 to 100"));
        }
        let bins = self.bins.unwrap_or(20);
        if !(1..=200).contains(&bins) {
            refuse(p, "bins", format!("`{bins}` ranges: use 1 to 200"));
        }
        ok.then(|| Chart {
            kind: self.kind,
            title: self.title.clone(),
            x: self.x.clone(),
            y: self.y.clone(),
            top,
            bins,
            x_label: self.x_label.clone(),
            y_label: self.y_label.clone(),
            x_unit: self.x_unit.clone(),
            y_unit: self.y_unit.clone(),
        })
    }
}

/// The sorting script: clicking a header sorts the rows by it (numbers by their value),
/// again the other way round. The page's policy allows it by its hash.
const SORT_SCRIPT: &str = r#"document.querySelectorAll("table.rows thead th").forEach(function (th, i) {
  th.tabIndex = 0;
  function sort() {
    var table = th.closest("table"), body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    rows.sort(function (a, b) {
      var x = a.cells[i], y = b.cells[i], p = x.getAttribute("data-v"), q = y.getAttribute("data-v");
      if (p !== null || q !== null) {
        return ((p === null ? -Infinity : parseFloat(p)) - (q === null ? -Infinity : parseFloat(q))) * dir || 0;
      }
      return x.textContent.localeCompare(y.textContent) * dir;
    });
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  th.addEventListener("click", sort);
  th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
});"#;

const STYLE: &str = "\
:root{color-scheme:light;--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bar:#3d6fb4;--accent:#c4432b}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\",\"Helvetica Neue\",Arial,sans-serif;color:var(--ink);background:#fff}
header,main,footer{max-width:1080px;margin:0 auto;padding:0 24px}
header{padding-top:24px;border-bottom:1px solid var(--line)}
h1{font-size:26px;margin:0 0 8px}
h2{font-size:18px;margin:28px 0 8px}
dl.run{display:flex;flex-wrap:wrap;gap:4px 28px;margin:0 0 12px}
dl.run div{display:flex;gap:6px}
dt{color:var(--muted)}
dd{margin:0;font-variant-numeric:tabular-nums}
.facts{display:flex;flex-wrap:wrap;gap:8px 40px;margin:0 0 16px}
.facts h3{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:0 0 4px}
.facts ul{margin:0;padding-left:18px}
table.sources td{padding:0 16px 0 0}
svg.chart{max-width:100%;height:auto;display:block}
svg .grid{stroke:#eaeef2}
svg .axis,svg .tick-mark{stroke:#8c959f}
svg .tick{font-size:11px;fill:var(--muted)}
svg .axis-title{font-size:12px;fill:var(--ink)}
svg .label{font-size:12px;fill:var(--ink)}
svg .value{font-size:11px;fill:var(--muted)}
svg .bar,svg .bin{fill:var(--bar)}
svg .line{fill:none;stroke:var(--bar);stroke-width:2}
svg .point{fill:var(--accent)}
svg .empty{font-size:13px;fill:var(--muted)}
p.count{color:var(--muted);margin:0 0 8px}
.scroll{overflow-x:auto}
table.rows{border-collapse:collapse;font-size:14px}
table.rows th,table.rows td{padding:4px 12px;border-bottom:1px solid var(--line);text-align:left;white-space:pre-wrap;vertical-align:top}
table.rows th{position:sticky;top:0;background:#f6f8fa;cursor:pointer}
table.rows th[aria-sort=ascending]::after{content:\" \\25B2\"}
table.rows th[aria-sort=descending]::after{content:\" \\25BC\"}
table.rows td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.rows tbody tr:nth-child(even){background:#fafbfc}
footer{color:var(--muted);font-size:13px;padding-top:16px;padding-bottom:32px}
@media print{table.rows th{position:static}}
";

/// One column of the table: its cells as shown, and for numbers their value (for sorting).
struct Cells {
    header: String,
    numeric: bool,
    shown: Vec<Option<String>>,
    values: Vec<Option<String>>,
}

impl HtmlOptions {
    /// The format of column `name`.
    fn numbers_of(&self, name: &str) -> NumberFormat {
        let mut f = self.numbers.clone();
        if let Some(c) = self.columns.get(name) {
            if let Some(p) = c.float_precision {
                f.float_precision = p;
            }
            if let Some(t) = &c.thousands_separator {
                f.thousands_separator.clone_from(t);
            }
        }
        f
    }

    /// `Label (unit)` of column `name`, with a chart's own label and unit first.
    fn title_of(&self, name: &str, label: Option<&String>, unit: Option<&String>) -> String {
        let column = self.columns.get(name);
        let label = label
            .or_else(|| column.and_then(|c| c.label.as_ref()))
            .map_or(name, String::as_str);
        match unit.or_else(|| column.and_then(|c| c.unit.as_ref())) {
            Some(unit) if !unit.is_empty() => format!("{label} ({unit})"),
            _ => label.to_owned(),
        }
    }

    /// Writes the page for `df` (the sink named `sink`) of the run `run` to `out`.
    pub(crate) fn write(
        &self,
        df: &DataFrame,
        sink: &str,
        run: &RunInfo,
        out: &mut impl Write,
    ) -> Result<(), Error> {
        let page = self.page(df, sink, run)?;
        out.write_all(page.as_bytes())
            .map_err(|e| Error::data(sink, format!("cannot write the page: {e}")))
    }

    fn page(&self, df: &DataFrame, sink: &str, run: &RunInfo) -> Result<String, Error> {
        let names = df.get_column_names();
        let known = |name: &str, what: &str| -> Result<(), Error> {
            if df.column(name).is_ok() {
                return Ok(());
            }
            Err(Error::data(
                sink,
                format!(
                    "`html.{what}` names column `{name}`, which the output does not have; it has {}",
                    etl_config::quote_list(&names)
                ),
            ))
        };
        for name in self.columns.keys() {
            known(name, "columns")?;
        }
        for name in self.table_columns.iter().flatten() {
            known(name, "table.columns")?;
        }
        if let Some(by) = &self.sort_by {
            known(by, "table.sort_by")?;
        }
        let title = self
            .title
            .clone()
            .unwrap_or_else(|| format!("{}: {sink}", run.pipeline));
        let mut charts = String::new();
        for (i, chart) in self.charts.iter().enumerate() {
            let data = chart::data(chart, df).map_err(|m| {
                Error::data(
                    sink,
                    format!("`html.charts[{i}]` ({}): {m}", chart.kind.name()),
                )
            })?;
            let y = chart.y.clone().unwrap_or_default();
            let axes = chart::Axes {
                x: self.title_of(&chart.x, chart.x_label.as_ref(), chart.x_unit.as_ref()),
                y: if chart.kind == ChartKind::Histogram {
                    chart.y_label.clone().unwrap_or_else(|| "Rows".into())
                } else {
                    self.title_of(&y, chart.y_label.as_ref(), chart.y_unit.as_ref())
                },
            };
            let heading = chart.title.clone().unwrap_or_else(|| match chart.kind {
                ChartKind::Bar => format!("{} by {}, top {}", axes.y, axes.x, chart.top),
                ChartKind::Line => format!("{} over {}", axes.y, axes.x),
                ChartKind::Histogram => format!("Distribution of {}", axes.x),
            });
            let id = format!("chart-{}", i + 1);
            let fmt = self.numbers_of(if chart.kind == ChartKind::Histogram {
                &chart.x
            } else {
                &y
            });
            put!(
                charts,
                "<section class=\"chart\" id=\"{id}\"><h2 id=\"{id}-title\">{}</h2>{}</section>\n",
                escape(&heading),
                chart::svg(chart, &data, &axes, &fmt, &id)
            );
        }
        let table = if self.max_rows == 0 {
            String::new()
        } else {
            self.table(df, sink)?
        };
        let script_hash = text::base64(&Sha256::digest(SORT_SCRIPT.as_bytes()));
        let mut page = String::with_capacity(table.len() + charts.len() + 8192);
        put!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{script_hash}'; \
             base-uri 'none'; form-action 'none'\">\n\
             <meta name=\"referrer\" content=\"no-referrer\">\n\
             <meta name=\"generator\" content=\"etl {version}\">\n<title>{title}</title>\n\
             <style>\n{STYLE}</style>\n</head>\n<body>\n<header>\n<h1 dir=\"auto\">{title}</h1>\n",
            version = env!("CARGO_PKG_VERSION"),
            title = escape(&title),
        );
        Self::header(&mut page, df, sink, run);
        put!(page, "</header>\n<main>\n{charts}{table}</main>\n");
        put!(
            page,
            "<footer>Written by etl {} for sink <code>{}</code> of pipeline <code>{}</code>, \
             run <code>{}</code>. The page is self-contained: it loads nothing.</footer>\n\
             <script>{SORT_SCRIPT}</script>\n</body>\n</html>\n",
            env!("CARGO_PKG_VERSION"),
            escape(sink),
            escape(&run.pipeline),
            escape(&run.run_id)
        );
        Ok(page)
    }

    fn header(page: &mut String, df: &DataFrame, sink: &str, run: &RunInfo) {
        page.push_str("<dl class=\"run\">");
        let mut fact = |name: &str, value: &str| {
            put!(
                *page,
                "<div><dt>{name}</dt><dd>{}</dd></div>",
                escape(value)
            );
        };
        fact("Pipeline", &run.pipeline);
        fact("Sink", sink);
        fact("Run", &run.run_id);
        fact("Time", &run.time);
        fact("Rows", &text::count(df.height() as u64));
        page.push_str("</dl>\n<div class=\"facts\">");
        if !run.sources.is_empty() {
            page.push_str("<div><h3>Records fetched</h3><table class=\"sources\"><tbody>");
            for (source, records) in &run.sources {
                put!(
                    *page,
                    "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
                    escape(source),
                    text::count(*records)
                );
            }
            page.push_str("</tbody></table></div>");
        }
        page.push_str("<div><h3>Checks passed</h3>");
        if run.checks.is_empty() {
            page.push_str("<p>None declared.</p>");
        } else {
            page.push_str("<ul class=\"checks\">");
            for check in &run.checks {
                page.push_str("<li>");
                escape_into(page, check);
                page.push_str("</li>");
            }
            page.push_str("</ul>");
        }
        page.push_str("</div></div>\n");
    }

    /// The table section: the first `max_rows` rows (sorted when asked).
    fn table(&self, df: &DataFrame, sink: &str) -> Result<String, Error> {
        let data_error = |e: PolarsError| Error::data(sink, e);
        let sorted;
        let df = match &self.sort_by {
            Some(by) => {
                sorted = df
                    .sort(
                        [by.as_str()],
                        SortMultipleOptions::default()
                            .with_order_descending(self.descending)
                            .with_nulls_last(true)
                            .with_maintain_order(true),
                    )
                    .map_err(data_error)?;
                &sorted
            }
            None => df,
        };
        let total = df.height();
        let shown = df.head(Some(self.max_rows));
        let shown = match &self.table_columns {
            Some(columns) => shown
                .select(columns.iter().map(String::as_str))
                .map_err(data_error)?,
            None => shown,
        };
        let json = crate::csv::nested_as_json(&shown, sink)?;
        let shown = json.as_ref().unwrap_or(&shown);
        let columns = shown
            .columns()
            .iter()
            .map(|c| self.cells(c.as_materialized_series(), sink))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = String::with_capacity(shown.height() * columns.len() * 24 + 1024);
        let count = if total > shown.height() {
            format!(
                "Showing the first {} of {} rows{}.",
                text::count(shown.height() as u64),
                text::count(total as u64),
                self.sorted_by()
            )
        } else {
            format!("{} rows{}.", text::count(total as u64), self.sorted_by())
        };
        put!(
            out,
            "<section class=\"table\"><h2>Rows</h2><p class=\"count\" data-shown=\"{}\" \
             data-total=\"{total}\">{}</p><div class=\"scroll\"><table class=\"rows\"><thead><tr>",
            shown.height(),
            escape(&count)
        );
        for c in &columns {
            let class = if c.numeric { " class=\"num\"" } else { "" };
            put!(
                out,
                "<th scope=\"col\"{class} dir=\"auto\">{}</th>",
                escape(&c.header)
            );
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in 0..shown.height() {
            out.push_str("<tr>");
            for c in &columns {
                match (&c.shown[row], c.numeric) {
                    (Some(v), true) => {
                        out.push_str("<td class=\"num\"");
                        if let Some(raw) = &c.values[row] {
                            put!(out, " data-v=\"{}\"", escape(raw));
                        }
                        out.push('>');
                        escape_into(&mut out, v);
                    }
                    (Some(v), false) => {
                        out.push_str("<td dir=\"auto\">");
                        escape_into(&mut out, v);
                    }
                    (None, _) => out.push_str("<td class=\"null\">"),
                }
                out.push_str("</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table></div></section>\n");
        Ok(out)
    }

    fn sorted_by(&self) -> String {
        match &self.sort_by {
            Some(by) => format!(
                ", sorted by {} ({})",
                self.title_of(by, None, None),
                if self.descending {
                    "largest first"
                } else {
                    "smallest first"
                }
            ),
            None => String::new(),
        }
    }

    /// The cells of one column as shown.
    fn cells(&self, s: &Series, sink: &str) -> Result<Cells, Error> {
        let name = s.name().as_str();
        let header = self.title_of(name, None, None);
        let fmt = self.numbers_of(name);
        let err = |e: PolarsError| Error::data(sink, format!("column `{name}`: {e}"));
        let dtype = s.dtype();
        let (numeric, shown, values): (bool, Vec<Option<String>>, Vec<Option<String>>) =
            if dtype.is_float() {
                let v = s.cast(&DataType::Float64).map_err(err)?;
                let v = v.f64().map_err(err)?;
                (
                    true,
                    v.iter().map(|x| x.map(|x| fmt.float(x))).collect(),
                    v.iter()
                        .map(|x| x.filter(|x| x.is_finite()).map(|x| x.to_string()))
                        .collect(),
                )
            } else if dtype.is_integer() {
                // Both signednesses as i128, which holds every u64 and i64 exactly.
                let ints: Vec<Option<i128>> = if dtype.is_unsigned_integer() {
                    let v = s.cast(&DataType::UInt64).map_err(err)?;
                    v.u64()
                        .map_err(err)?
                        .iter()
                        .map(|x| x.map(i128::from))
                        .collect()
                } else {
                    let v = s.cast(&DataType::Int64).map_err(err)?;
                    v.i64()
                        .map_err(err)?
                        .iter()
                        .map(|x| x.map(i128::from))
                        .collect()
                };
                (
                    true,
                    ints.iter().map(|x| x.map(|x| fmt.integer(x))).collect(),
                    ints.iter().map(|x| x.map(|x| x.to_string())).collect(),
                )
            } else if dtype.is_decimal() {
                let v = s.cast(&DataType::String).map_err(err)?;
                let v = v.str().map_err(err)?;
                (
                    true,
                    v.iter().map(|x| x.map(|x| fmt.decimal_text(x))).collect(),
                    v.iter().map(|x| x.map(str::to_owned)).collect(),
                )
            } else if matches!(dtype, DataType::Binary) {
                let v = s.binary().map_err(err)?;
                let shown = v
                    .iter()
                    .map(|x| x.map(|b| format!("({} bytes)", b.len())))
                    .collect();
                (false, shown, Vec::new())
            } else {
                let v = s.cast(&DataType::String).map_err(err)?;
                let v = v.str().map_err(err)?;
                (
                    false,
                    v.iter().map(|x| x.map(str::to_owned)).collect(),
                    Vec::new(),
                )
            };
        Ok(Cells {
            header,
            numeric,
            shown,
            values,
        })
    }
}
