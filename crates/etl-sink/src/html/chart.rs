//! The charts of an HTML report, as inline SVG: `bar` (the top N of a value by a label),
//! `line` (a value over a date, a datetime or a number) and `histogram` (the distribution of
//! a number). Every text in them goes through [`escape`]; nothing in the data becomes markup.
//!
//! Drawn here rather than with a plotting crate: `plotters`, the well-kept one, lays out its
//! axes with font metrics, which needs a font backend (`font-kit` and the system's fontconfig
//! and freetype, or `ab_glyph` and a font file compiled in) for three kinds of chart whose
//! geometry is a few rectangles and a polyline. The browser lays out the text here.

use chrono::{DateTime, NaiveDate};
use polars::prelude::*;

use super::text::{NumberFormat, clip, coord, escape, put, step_precision};

/// Width of every chart, in SVG units (the page scales it down on a narrow screen).
const WIDTH: f64 = 760.0;

/// The characters of a bar's label shown; the whole label is in its tooltip.
const LABEL_CHARS: usize = 28;

/// `type` of a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// The `top` rows with the largest `y`, one bar each, labelled by `x`.
    Bar,
    /// `y` over `x` (a date, a datetime or a number), one point per row, in order of `x`.
    Line,
    /// How the values of `x` (a number) spread over `bins` equal ranges.
    Histogram,
}

impl ChartKind {
    pub fn name(self) -> &'static str {
        match self {
            ChartKind::Bar => "bar",
            ChartKind::Line => "line",
            ChartKind::Histogram => "histogram",
        }
    }
}

/// A chart, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub kind: ChartKind,
    pub title: Option<String>,
    pub x: String,
    /// `bar` and `line`.
    pub y: Option<String>,
    /// `bar`: bars shown.
    pub top: usize,
    /// `histogram`: ranges.
    pub bins: usize,
    pub x_label: Option<String>,
    pub y_label: Option<String>,
    pub x_unit: Option<String>,
    pub y_unit: Option<String>,
}

/// The axis titles of a chart, with units: `Revenue (EUR)`.
#[derive(Debug, Clone)]
pub(crate) struct Axes {
    pub x: String,
    pub y: String,
}

/// What a chart draws, read from the output.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ChartData {
    Bar(Vec<(String, f64)>),
    Line {
        points: Vec<(f64, f64)>,
        x: XKind,
        /// `y` is a column of integers: its values are shown without decimals.
        integers: bool,
    },
    Histogram {
        /// Each range's lower and upper bound and count.
        bins: Vec<(f64, f64, u64)>,
    },
}

/// What the `x` of a line chart holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XKind {
    Number,
    /// Days since 1970-01-01.
    Date,
    /// Seconds since 1970-01-01 UTC.
    Datetime,
}

/// Reads what `chart` draws from `df`; the error names the column and what it should hold.
pub(crate) fn data(chart: &Chart, df: &DataFrame) -> Result<ChartData, String> {
    let column = |name: &str| {
        df.column(name)
            .map(Column::as_materialized_series)
            .map_err(|_| {
                format!(
                    "names column `{name}`, which the output does not have; it has {}",
                    etl_config::quote_list(&df.get_column_names())
                )
            })
    };
    let x = column(&chart.x)?;
    match chart.kind {
        ChartKind::Bar => {
            let y = column(chart.y.as_deref().unwrap_or_default())?;
            let values = numbers(y, "y")?;
            let labels = labels(x)?;
            let mut bars: Vec<(String, f64)> = labels
                .into_iter()
                .zip(values)
                .filter_map(|(label, v)| Some((label.unwrap_or_default(), v?)))
                .filter(|(_, v)| v.is_finite())
                .collect();
            // Largest first; ties keep the output's order.
            bars.sort_by(|a, b| b.1.total_cmp(&a.1));
            bars.truncate(chart.top);
            Ok(ChartData::Bar(bars))
        }
        ChartKind::Line => {
            let y = column(chart.y.as_deref().unwrap_or_default())?;
            let values = numbers(y, "y")?;
            let (xs, kind) = positions(x)?;
            let mut points: Vec<(f64, f64)> = xs
                .into_iter()
                .zip(values)
                .filter_map(|(x, y)| Some((x?, y?)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Ok(ChartData::Line {
                points,
                x: kind,
                integers: y.dtype().is_integer(),
            })
        }
        ChartKind::Histogram => {
            let values: Vec<f64> = numbers(x, "x")?
                .into_iter()
                .flatten()
                .filter(|v| v.is_finite())
                .collect();
            Ok(ChartData::Histogram {
                bins: histogram(&values, chart.bins),
            })
        }
    }
}

/// A numeric column's values as floats.
fn numbers(s: &Series, axis: &str) -> Result<Vec<Option<f64>>, String> {
    if !(s.dtype().is_primitive_numeric() || s.dtype().is_decimal()) {
        return Err(format!(
            "`{axis}` column `{}` holds {}, not numbers; chart a number, or cast it in a \
             transform",
            s.name(),
            s.dtype()
        ));
    }
    let floats = s.cast(&DataType::Float64).map_err(|e| e.to_string())?;
    let floats = floats.f64().map_err(|e| e.to_string())?;
    Ok(floats.iter().collect())
}

/// A column's values as the labels of bars.
fn labels(s: &Series) -> Result<Vec<Option<String>>, String> {
    if s.dtype().is_nested() {
        return Err(format!(
            "`x` column `{}` is a list or a struct; label the bars with a plain value",
            s.name()
        ));
    }
    let text = s.cast(&DataType::String).map_err(|e| e.to_string())?;
    let text = text.str().map_err(|e| e.to_string())?;
    Ok(text.iter().map(|v| v.map(str::to_owned)).collect())
}

/// A line chart's `x` values as positions: days, seconds or the numbers themselves.
fn positions(s: &Series) -> Result<(Vec<Option<f64>>, XKind), String> {
    match s.dtype() {
        DataType::Date => {
            let days = s.cast(&DataType::Int32).map_err(|e| e.to_string())?;
            let days = days.i32().map_err(|e| e.to_string())?;
            Ok((days.iter().map(|d| d.map(f64::from)).collect(), XKind::Date))
        }
        DataType::Datetime(unit, _) => {
            let per_second = match unit {
                TimeUnit::Nanoseconds => 1e9,
                TimeUnit::Microseconds => 1e6,
                TimeUnit::Milliseconds => 1e3,
            };
            let raw = s.cast(&DataType::Int64).map_err(|e| e.to_string())?;
            let raw = raw.i64().map_err(|e| e.to_string())?;
            Ok((
                raw.iter()
                    .map(|v| v.map(|v| v as f64 / per_second))
                    .collect(),
                XKind::Datetime,
            ))
        }
        DataType::String => text_positions(s),
        _ => numbers(s, "x").map(|v| (v, XKind::Number)).map_err(|_| {
            format!(
                "`x` column `{}` holds {}; a line chart needs a date, a datetime or a number",
                s.name(),
                s.dtype()
            )
        }),
    }
}

/// Text `x` values that are all ISO dates (`2026-03-01`, as APIs send them) as days, or all
/// ISO datetimes (`2026-03-01T12:00:00Z`, an offset, or none for UTC) as seconds.
fn text_positions(s: &Series) -> Result<(Vec<Option<f64>>, XKind), String> {
    let text = s.str().map_err(|e| e.to_string())?;
    let epoch = chrono::NaiveDate::default();
    let dates: Option<Vec<Option<f64>>> = text
        .iter()
        .map(|v| match v {
            None => Some(None),
            Some(v) => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .map(|d| Some((d - epoch).num_days() as f64)),
        })
        .collect();
    if let Some(dates) = dates {
        return Ok((dates, XKind::Date));
    }
    let seconds = |v: &str| -> Option<f64> {
        let t = chrono::DateTime::parse_from_rfc3339(v)
            .map(|t| t.naive_utc())
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f"))
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f"))
            .ok()?;
        Some(t.and_utc().timestamp_micros() as f64 / 1e6)
    };
    let times: Option<Vec<Option<f64>>> = text
        .iter()
        .map(|v| match v {
            None => Some(None),
            Some(v) => seconds(v).map(Some),
        })
        .collect();
    match times {
        Some(times) => Ok((times, XKind::Datetime)),
        None => {
            let bad = text
                .iter()
                .flatten()
                .find(|v| {
                    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err()
                        && seconds(v).is_none()
                })
                .unwrap_or_default();
            Err(format!(
                "`x` column `{}` holds text, and `{}` is neither a date (`2026-03-01`) nor a \
                 datetime (`2026-03-01T12:00:00Z`); a line chart needs dates, datetimes or numbers",
                s.name(),
                super::text::clip(bad, 40)
            ))
        }
    }
}

/// `bins` equal ranges from the smallest value to the largest, with their counts.
fn histogram(values: &[f64], bins: usize) -> Vec<(f64, f64, u64)> {
    let Some((lo, hi)) = values.iter().fold(None, |acc: Option<(f64, f64)>, &v| {
        Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
    }) else {
        return Vec::new();
    };
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    };
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0u64; bins];
    for v in values {
        // `v >= lo`: the index is never negative.
        #[allow(clippy::cast_sign_loss)]
        let i = (((v - lo) / width).floor().max(0.0) as usize).min(bins - 1);
        counts[i] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| (lo + width * i as f64, lo + width * (i + 1) as f64, n))
        .collect()
}

/// A domain widened to round ticks: (low, high, step).
fn nice(lo: f64, hi: f64, ticks: usize) -> (f64, f64, f64) {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (0.0, 1.0)
    } else {
        (lo - lo.abs() * 0.5, hi + hi.abs() * 0.5)
    };
    let raw = (hi - lo) / ticks as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    ((lo / step).floor() * step, (hi / step).ceil() * step, step)
}

/// The ticks from `lo` to `hi` by `step`.
fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    // `hi > lo` and `step > 0`: never negative.
    #[allow(clippy::cast_sign_loss)]
    let n = ((hi - lo) / step).round().max(0.0) as usize;
    (0..=n.min(50)).map(|i| lo + step * i as f64).collect()
}

/// A chart as SVG. `id` ties its title to it for screen readers.
pub(crate) fn svg(
    chart: &Chart,
    data: &ChartData,
    axes: &Axes,
    fmt: &NumberFormat,
    id: &str,
) -> String {
    match data {
        ChartData::Bar(bars) if !bars.is_empty() => bar(bars, axes, fmt, id),
        ChartData::Line {
            points,
            x,
            integers,
        } if !points.is_empty() => line(points, *x, *integers, axes, fmt, id),
        ChartData::Histogram { bins } if !bins.is_empty() => histogram_svg(bins, axes, fmt, id),
        _ => empty(chart, id),
    }
}

fn open(kind: &str, height: f64, id: &str) -> String {
    let mut out = String::new();
    put!(
        out,
        "<svg class=\"chart chart-{kind}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" \
         aria-labelledby=\"{id}-title\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\">",
        w = coord(WIDTH),
        h = coord(height)
    );
    out
}

fn empty(chart: &Chart, id: &str) -> String {
    let mut out = open(chart.kind.name(), 60.0, id);
    put!(
        out,
        "<text class=\"empty\" x=\"{}\" y=\"34\" text-anchor=\"middle\">No rows with a value to \
         chart.</text></svg>",
        coord(WIDTH / 2.0)
    );
    out
}

/// Horizontal bars, largest at the top, the value at the end of each.
fn bar(bars: &[(String, f64)], axes: &Axes, fmt: &NumberFormat, id: &str) -> String {
    let longest = bars
        .iter()
        .map(|(l, _)| l.chars().count().min(LABEL_CHARS))
        .max()
        .unwrap_or(0);
    let left = (16.0 + longest as f64 * 7.0).clamp(80.0, 220.0);
    let (right, top, band, bottom) = (80.0, 30.0, 26.0, 56.0);
    let height = top + band * bars.len() as f64 + bottom;
    let (lo, hi) = bars
        .iter()
        .fold((0f64, 0f64), |(lo, hi), (_, v)| (lo.min(*v), hi.max(*v)));
    let (lo, hi, step) = nice(lo, hi, 5);
    let plot = WIDTH - left - right;
    let x = |v: f64| left + (v - lo) / (hi - lo) * plot;
    let precision = step_precision(step);
    let mut out = open("bar", height, id);
    let bottom_y = top + band * bars.len() as f64;
    for t in ticks(lo, hi, step) {
        put!(
            out,
            "<line class=\"grid\" x1=\"{x}\" x2=\"{x}\" y1=\"{top}\" y2=\"{b}\"/>\
             <text class=\"tick\" x=\"{x}\" y=\"{ty}\" text-anchor=\"middle\">{label}</text>",
            x = coord(x(t)),
            top = coord(top),
            b = coord(bottom_y),
            ty = coord(bottom_y + 16.0),
            label = escape(&fmt.float_with(t, precision))
        );
    }
    put!(
        out,
        "<text class=\"axis-title\" x=\"{}\" y=\"18\" text-anchor=\"end\">{}<title>{}</title></text>",
        coord(left - 8.0),
        escape(&clip(&axes.x, LABEL_CHARS)),
        escape(&axes.x)
    );
    put!(
        out,
        "<text class=\"axis-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        coord(left + plot / 2.0),
        coord(height - 10.0),
        escape(&axes.y)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = top + band * i as f64;
        let (x0, x1) = (x(0f64.max(lo)).min(x(*v)), x(0f64.max(lo)).max(x(*v)));
        let shown = fmt.float(*v);
        let shown = if v.fract() == 0.0 && v.abs() < 1e15 {
            fmt.integer(*v as i128)
        } else {
            shown
        };
        put!(
            out,
            "<g class=\"bar-row\"><title>{full}: {value}</title>\
             <text class=\"label\" x=\"{lx}\" y=\"{ly}\" text-anchor=\"end\" dir=\"auto\">{label}</text>\
             <rect class=\"bar\" x=\"{x0}\" y=\"{by}\" width=\"{w}\" height=\"18\"/>\
             <text class=\"value\" x=\"{vx}\" y=\"{ly}\">{value}</text></g>",
            full = escape(label),
            label = escape(&clip(label, LABEL_CHARS)),
            value = escape(&shown),
            lx = coord(left - 8.0),
            ly = coord(y + 17.0),
            x0 = coord(x0),
            by = coord(y + 4.0),
            w = coord((x1 - x0).max(1.0)),
            vx = coord(x1 + 6.0),
        );
    }
    put!(
        out,
        "<line class=\"axis\" x1=\"{x}\" x2=\"{x}\" y1=\"{top}\" y2=\"{b}\"/></svg>",
        x = coord(x(0f64.max(lo))),
        top = coord(top),
        b = coord(bottom_y)
    );
    out
}

/// Plot area of the line chart and the histogram: left, right, top, bottom margins.
const MARGINS: (f64, f64, f64, f64) = (76.0, 24.0, 20.0, 58.0);
const PLOT_HEIGHT: f64 = 240.0;

/// The frame of an x/y chart: grid, ticks, axis titles. Returns the SVG so far.
fn frame(
    kind: &str,
    id: &str,
    axes: &Axes,
    x_ticks: &[(f64, String)],
    y_ticks: &[(f64, String)],
) -> String {
    let (left, right, top, bottom) = MARGINS;
    let height = top + PLOT_HEIGHT + bottom;
    let mut out = open(kind, height, id);
    for (y, label) in y_ticks {
        put!(
            out,
            "<line class=\"grid\" x1=\"{l}\" x2=\"{r}\" y1=\"{y}\" y2=\"{y}\"/>\
             <text class=\"tick\" x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>",
            l = coord(left),
            r = coord(WIDTH - right),
            y = coord(*y),
            tx = coord(left - 6.0),
            ty = coord(y + 4.0),
            label = escape(label)
        );
    }
    for (x, label) in x_ticks {
        put!(
            out,
            "<line class=\"tick-mark\" x1=\"{x}\" x2=\"{x}\" y1=\"{b}\" y2=\"{b5}\"/>\
             <text class=\"tick\" x=\"{x}\" y=\"{ty}\" text-anchor=\"middle\">{label}</text>",
            x = coord(*x),
            b = coord(top + PLOT_HEIGHT),
            b5 = coord(top + PLOT_HEIGHT + 5.0),
            ty = coord(top + PLOT_HEIGHT + 19.0),
            label = escape(label)
        );
    }
    put!(
        out,
        "<line class=\"axis\" x1=\"{l}\" x2=\"{r}\" y1=\"{b}\" y2=\"{b}\"/>\
         <text class=\"axis-title\" x=\"{cx}\" y=\"{ay}\" text-anchor=\"middle\">{xt}</text>\
         <text class=\"axis-title\" transform=\"translate(16 {cy}) rotate(-90)\" \
         text-anchor=\"middle\">{yt}</text>",
        l = coord(left),
        r = coord(WIDTH - right),
        b = coord(top + PLOT_HEIGHT),
        cx = coord(left + (WIDTH - left - right) / 2.0),
        ay = coord(height - 12.0),
        cy = coord(top + PLOT_HEIGHT / 2.0),
        xt = escape(&axes.x),
        yt = escape(&axes.y)
    );
    out
}

/// The y axis of an x/y chart from `lo` to `hi`: the scale and its ticks. An axis of
/// `integers` (counts, whole numbers) has whole ticks only.
fn y_axis(
    lo: f64,
    hi: f64,
    integers: bool,
    fmt: &NumberFormat,
) -> (impl Fn(f64) -> f64, Vec<(f64, String)>) {
    let (mut lo, mut hi, mut step) = nice(lo, hi, 5);
    if integers && step < 1.0 {
        (lo, hi, step) = (lo.floor(), hi.ceil(), 1.0);
    }
    let (_, _, top, _) = MARGINS;
    let y = move |v: f64| top + PLOT_HEIGHT - (v - lo) / (hi - lo) * PLOT_HEIGHT;
    let precision = step_precision(step);
    let labels = ticks(lo, hi, step)
        .into_iter()
        .map(|t| (y(t), fmt.float_with(t, precision)))
        .collect();
    (y, labels)
}

/// A line through the points, each point marked.
fn line(
    points: &[(f64, f64)],
    kind: XKind,
    integers: bool,
    axes: &Axes,
    fmt: &NumberFormat,
    id: &str,
) -> String {
    let (left, right, _, _) = MARGINS;
    let plot = WIDTH - left - right;
    let (x_lo, x_hi) = (points[0].0, points[points.len() - 1].0);
    let (x_lo, x_hi) = if x_hi > x_lo {
        (x_lo, x_hi)
    } else {
        let pad = match kind {
            XKind::Date => 1.0,
            XKind::Datetime => 3600.0,
            XKind::Number => x_lo.abs().max(1.0) * 0.5,
        };
        (x_lo - pad, x_hi + pad)
    };
    let x = |v: f64| left + (v - x_lo) / (x_hi - x_lo) * plot;
    let x_ticks: Vec<(f64, String)> = time_ticks(x_lo, x_hi, kind, fmt)
        .into_iter()
        .map(|(v, label)| (x(v), label))
        .collect();
    let (y_lo, y_hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    // From zero when every value is on one side of it: the line's height reads true.
    let (y_lo, y_hi) = (y_lo.min(0.0), y_hi.max(0.0));
    let (y, y_ticks) = y_axis(y_lo, y_hi, integers, fmt);
    let mut out = frame("line", id, axes, &x_ticks, &y_ticks);
    let path: Vec<String> = points
        .iter()
        .map(|(px, py)| format!("{},{}", coord(x(*px)), coord(y(*py))))
        .collect();
    put!(
        out,
        "<polyline class=\"line\" points=\"{}\"/>",
        path.join(" ")
    );
    let radius = if points.len() > 200 { 1.5 } else { 3.0 };
    for (px, py) in points {
        put!(
            out,
            "<circle class=\"point\" cx=\"{}\" cy=\"{}\" r=\"{radius}\"><title>{}: {}</title></circle>",
            coord(x(*px)),
            coord(y(*py)),
            escape(&x_label(*px, kind, fmt)),
            escape(&if integers {
                fmt.integer(*py as i128)
            } else {
                fmt.float(*py)
            })
        );
    }
    out.push_str("</svg>");
    out
}

/// An x value as its tick or tooltip shows it.
fn x_label(v: f64, kind: XKind, fmt: &NumberFormat) -> String {
    match kind {
        XKind::Number => fmt.float(v),
        XKind::Date => date_of(v).unwrap_or_default(),
        XKind::Datetime => DateTime::from_timestamp(v.floor() as i64, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default(),
    }
}

fn date_of(days: f64) -> Option<String> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    let date = epoch.checked_add_signed(chrono::Duration::days(days.round() as i64))?;
    Some(date.format("%Y-%m-%d").to_string())
}

/// Ticks of a line chart's x axis: round numbers, whole days, or round times.
fn time_ticks(lo: f64, hi: f64, kind: XKind, fmt: &NumberFormat) -> Vec<(f64, String)> {
    let steps: &[f64] = match kind {
        XKind::Number => {
            let (_, _, step) = nice(lo, hi, 6);
            let first = (lo / step).ceil() * step;
            let precision = step_precision(step);
            return ticks(first, hi, step)
                .into_iter()
                .filter(|t| *t <= hi + step * 1e-9)
                .map(|t| (t, fmt.float_with(t, precision)))
                .collect();
        }
        XKind::Date => &[
            1.0, 2.0, 7.0, 14.0, 30.0, 91.0, 182.0, 365.0, 730.0, 1826.0, 3652.0,
        ],
        XKind::Datetime => &[
            60.0,
            300.0,
            900.0,
            1800.0,
            3600.0,
            10800.0,
            21600.0,
            43200.0,
            86400.0,
            172_800.0,
            604_800.0,
            2_592_000.0,
            31_536_000.0,
        ],
    };
    let step = steps
        .iter()
        .copied()
        .find(|s| (hi - lo) / s <= 7.0)
        .unwrap_or_else(|| ((hi - lo) / 7.0).ceil());
    let first = (lo / step).ceil() * step;
    let long = kind == XKind::Datetime && step >= 86400.0;
    ticks(first, hi, step)
        .into_iter()
        .filter(|t| *t <= hi)
        .map(|t| {
            let label = if long {
                DateTime::from_timestamp(t as i64, 0)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default()
            } else {
                x_label(t, kind, fmt)
            };
            (t, label)
        })
        .collect()
}

/// One bar per range, side by side.
fn histogram_svg(bins: &[(f64, f64, u64)], axes: &Axes, fmt: &NumberFormat, id: &str) -> String {
    let (left, right, top, _) = MARGINS;
    let plot = WIDTH - left - right;
    let (lo, hi) = (bins[0].0, bins[bins.len() - 1].1);
    let x = |v: f64| left + (v - lo) / (hi - lo) * plot;
    let (_, _, step) = nice(lo, hi, 6);
    let precision = step_precision(step);
    let x_ticks: Vec<(f64, String)> = ticks((lo / step).ceil() * step, hi, step)
        .into_iter()
        .filter(|t| *t <= hi + step * 1e-9)
        .map(|t| (x(t), fmt.float_with(t, precision)))
        .collect();
    let most = bins.iter().map(|b| b.2).max().unwrap_or(0);
    let (y, y_ticks) = y_axis(0.0, most.max(1) as f64, true, fmt);
    let mut out = frame("histogram", id, axes, &x_ticks, &y_ticks);
    let shown_precision =
        step_precision((hi - lo) / bins.len() as f64).min(fmt.float_precision.max(2));
    for (from, to, n) in bins {
        let (x0, x1) = (x(*from), x(*to));
        put!(
            out,
            "<rect class=\"bin\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\">\
             <title>{} to {}: {} rows</title></rect>",
            coord(x0 + 0.5),
            coord(y(*n as f64)),
            coord((x1 - x0 - 1.0).max(0.5)),
            coord(top + PLOT_HEIGHT - y(*n as f64)),
            escape(&fmt.float_with(*from, shown_precision)),
            escape(&fmt.float_with(*to, shown_precision)),
            escape(&fmt.integer(i128::from(*n)))
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_every_value_once() {
        let bins = histogram(&[0.0, 1.0, 2.0, 3.0, 4.0, 10.0], 5);
        assert_eq!(bins.len(), 5);
        assert_eq!(bins.iter().map(|b| b.2).sum::<u64>(), 6);
        assert_eq!(bins[0], (0.0, 2.0, 2));
        assert_eq!(bins[4].2, 1);
        // One value only: one range around it.
        assert_eq!(histogram(&[3.0, 3.0], 1), vec![(2.5, 3.5, 2)]);
    }

    #[test]
    fn counts_have_whole_ticks() {
        let fmt = NumberFormat::default();
        let (_, ticks) = y_axis(0.0, 1.0, true, &fmt);
        let labels: Vec<&str> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "1"]);
        let (_, ticks) = y_axis(0.0, 3.0, true, &fmt);
        assert_eq!(ticks.len(), 4);
        let (_, ticks) = y_axis(0.0, 1.0, false, &fmt);
        assert!(ticks.len() > 2, "a measure keeps fractional ticks");
    }

    #[test]
    fn nice_domains_have_round_ends() {
        assert_eq!(nice(0.0, 87.0, 5), (0.0, 100.0, 20.0));
        assert_eq!(nice(0.0, 0.0, 5), (0.0, 1.0, 0.2));
        let (lo, hi, step) = nice(-3.2, 7.9, 5);
        assert_eq!((lo, hi, step), (-5.0, 10.0, 2.5));
    }

    #[test]
    fn bars_keep_the_largest_values() {
        let df = df!("name" => ["a", "b", "c", "d"], "n" => [Some(3i64), None, Some(9), Some(5)])
            .unwrap();
        let chart = Chart {
            kind: ChartKind::Bar,
            title: None,
            x: "name".into(),
            y: Some("n".into()),
            top: 2,
            bins: 20,
            x_label: None,
            y_label: None,
            x_unit: None,
            y_unit: None,
        };
        assert_eq!(
            data(&chart, &df).unwrap(),
            ChartData::Bar(vec![("c".into(), 9.0), ("d".into(), 5.0)])
        );
        let text = Chart {
            y: Some("name".into()),
            ..chart.clone()
        };
        let err = data(&text, &df).unwrap_err();
        assert!(err.contains("`y` column `name` holds str"), "{err}");
        let missing = Chart {
            x: "nope".into(),
            ..chart
        };
        assert!(data(&missing, &df).unwrap_err().contains("`nope`"));
    }
    #[test]
    fn text_dates_and_datetimes_are_positions_on_a_line() {
        let days = Series::new("day".into(), [Some("2026-03-02"), None, Some("1970-01-01")]);
        assert_eq!(
            text_positions(&days).unwrap(),
            (vec![Some(20514.0), None, Some(0.0)], XKind::Date)
        );
        let times = Series::new(
            "at".into(),
            [
                "1970-01-01T00:01:00Z",
                "1970-01-01 00:00:30",
                "1970-01-01T01:00:00+01:00",
            ],
        );
        assert_eq!(
            text_positions(&times).unwrap(),
            (vec![Some(60.0), Some(30.0), Some(0.0)], XKind::Datetime)
        );
        let names = Series::new("name".into(), ["2026-03-02", "Leanne"]);
        let err = text_positions(&names).unwrap_err();
        assert!(err.contains("`Leanne` is neither a date"), "{err}");
    }
}
