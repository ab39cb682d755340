//! Incremental loading: a source asks only for records changed since its cursor, the largest
//! `cursor_field` value seen so far (a date-time or an integer). The runner keeps the cursor
//! in the pipeline's state; this module parses, compares, shifts and formats cursor values,
//! and tracks the largest one seen while a source runs.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;

/// A cursor value: a point in time (kept in UTC) or an integer (an id, a sequence number,
/// an epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cursor {
    Time(DateTime<Utc>),
    Int(i64),
}

impl Cursor {
    /// Reads a cursor written by a person or an API: an integer, an RFC 3339 date-time
    /// (`2026-01-01T00:00:00Z`, any offset), `2026-01-01 00:00:00` (UTC) or a date
    /// (`2026-01-01`, midnight UTC).
    pub fn parse(text: &str) -> Result<Self, CursorError> {
        let t = text.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Ok(Self::Int(n));
        }
        if let Ok(d) = DateTime::parse_from_rfc3339(t) {
            return Ok(Self::Time(d.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
            if let Ok(d) = NaiveDateTime::parse_from_str(t, format) {
                return Ok(Self::Time(d.and_utc()));
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            if let Some(midnight) = d.and_hms_opt(0, 0, 0) {
                return Ok(Self::Time(midnight.and_utc()));
            }
        }
        Err(CursorError::Unreadable(text.to_owned()))
    }

    /// The cursor in a record's field: an integer, or a string [`Cursor::parse`] reads.
    /// `None` for a missing or null field.
    pub fn of_value(value: &Value) -> Option<Result<Self, CursorError>> {
        match value {
            Value::Null => None,
            Value::Number(n) => Some(
                n.as_i64()
                    .map(Self::Int)
                    .ok_or_else(|| CursorError::NotWhole(n.to_string())),
            ),
            Value::String(s) => Some(Self::parse(s)),
            other => Some(Err(CursorError::NotCursor(other.to_string()))),
        }
    }

    /// The cursor as stored in the state file: an RFC 3339 string in UTC, or a number.
    pub fn to_json(self) -> Value {
        match self {
            Self::Time(_) => Value::String(self.to_string()),
            Self::Int(n) => Value::from(n),
        }
    }

    /// Reads a cursor from the state file.
    pub fn from_json(value: &Value) -> Result<Self, CursorError> {
        Self::of_value(value).unwrap_or(Err(CursorError::Null))
    }

    /// A number that orders cursors of one kind: microseconds since the epoch, or the
    /// integer itself.
    pub fn sort_key(self) -> i64 {
        match self {
            Self::Time(t) => t.timestamp_micros(),
            Self::Int(n) => n,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Self::Time(_) => "a date-time",
            Self::Int(_) => "an integer",
        }
    }

    /// The larger of two cursors of one kind; cursors of different kinds do not compare.
    pub fn max(self, other: Self) -> Result<Self, CursorError> {
        match (self, other) {
            (Self::Time(a), Self::Time(b)) => Ok(Self::Time(a.max(b))),
            (Self::Int(a), Self::Int(b)) => Ok(Self::Int(a.max(b))),
            (a, b) => Err(CursorError::Mixed(a, b)),
        }
    }

    /// Whether `self` is after `other`.
    pub fn is_after(self, other: Self) -> Result<bool, CursorError> {
        match (self, other) {
            (Self::Time(a), Self::Time(b)) => Ok(a > b),
            (Self::Int(a), Self::Int(b)) => Ok(a > b),
            (a, b) => Err(CursorError::Mixed(a, b)),
        }
    }

    /// The cursor moved back by `lookback` (records changed just before the last run, but
    /// committed after it, are fetched again).
    pub fn minus(self, lookback: Lookback) -> Result<Self, CursorError> {
        match (self, lookback) {
            (c, Lookback::None) => Ok(c),
            (Self::Time(t), Lookback::Time(d)) => {
                let d = chrono::Duration::from_std(d).map_err(|_| CursorError::LookbackTooLong)?;
                Ok(Self::Time(t.checked_sub_signed(d).unwrap_or(t)))
            }
            (Self::Int(n), Lookback::Int(k)) => Ok(Self::Int(n.saturating_sub(k))),
            (Self::Time(_), Lookback::Int(_)) => Err(CursorError::LookbackNotDuration),
            (Self::Int(_), Lookback::Time(_)) => Err(CursorError::LookbackNotNumber),
        }
    }

    /// The value sent to the API: `format` (strftime, for date-times) or RFC 3339 in UTC.
    pub fn format(self, format: Option<&str>) -> String {
        match (self, format) {
            (Self::Time(t), Some(f)) => t.format(f).to_string(),
            _ => self.to_string(),
        }
    }
}

/// Why a cursor value cannot be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// Text that is neither a date-time nor an integer.
    #[error("`{0}` is neither a date-time (`2026-01-01T00:00:00Z`, `2026-01-01`) nor an integer")]
    Unreadable(String),
    /// A number with a fraction, or past the range of `i64`.
    #[error("`{0}` is not a whole number")]
    NotWhole(String),
    /// A JSON value that is neither text nor a number.
    #[error("`{0}` is neither a date-time nor an integer")]
    NotCursor(String),
    /// A null where a cursor is stored.
    #[error("the cursor is null")]
    Null,
    /// A date-time and an integer compared.
    #[error("cursor values of two kinds: {0} is {kind0} but {1} is {kind1}", kind0 = .0.kind(), kind1 = .1.kind())]
    Mixed(Cursor, Cursor),
    /// A number as `lookback` for a date-time cursor.
    #[error("`lookback` is a number but the cursor is a date-time; write a duration such as `1h`")]
    LookbackNotDuration,
    /// A duration as `lookback` for an integer cursor.
    #[error("`lookback` is a duration but the cursor is an integer; write a number")]
    LookbackNotNumber,
    /// A `lookback` too long to subtract from a date-time.
    #[error("`lookback` is too long")]
    LookbackTooLong,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Time(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Self::Int(n) => write!(f, "{n}"),
        }
    }
}

/// How far before the stored cursor a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lookback {
    #[default]
    None,
    Time(Duration),
    Int(i64),
}

/// `incremental`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incremental {
    /// The field holding the cursor in each record, as a path (`meta.updated_at`).
    pub cursor_field: Vec<String>,
    /// The query parameter that takes the cursor.
    pub param: Option<String>,
    /// The query parameter that takes `--until`.
    pub until_param: Option<String>,
    /// Where the first run starts.
    pub initial: Option<Cursor>,
    pub lookback: Lookback,
    /// strftime format for date-times sent to the API.
    pub format: Option<String>,
}

impl Incremental {
    /// The cursor field as written in the pipeline (`meta.updated_at`).
    pub fn field_name(&self) -> String {
        self.cursor_field.join(".")
    }

    /// The cursor of a record, if it has one.
    pub fn cursor_of(&self, record: &Value) -> Option<Result<Cursor, CursorError>> {
        let mut at = record;
        for part in &self.cursor_field {
            at = at.get(part)?;
        }
        Cursor::of_value(at)
    }
}

/// Where one run of an incremental source starts and ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// The cursor stored by the last successful run (moved back by `lookback` when sent).
    pub stored: Option<Cursor>,
    /// With `for_each`: the stored cursor per parent key.
    pub parents: BTreeMap<String, Cursor>,
    /// `--since`: sent as it is, instead of the stored cursor (every parent alike).
    pub since: Option<Cursor>,
    /// `--until`: records after it are left out, and `until_param` takes it.
    pub until: Option<Cursor>,
}

impl Window {
    /// The cursor a series starts from (before `lookback`) and whether `lookback` applies.
    /// A parent seen for the first time starts from `initial`: the cursors of other parents
    /// say nothing about its records.
    fn start(&self, parent: Option<&str>, initial: Option<Cursor>) -> (Option<Cursor>, bool) {
        if let Some(s) = self.since {
            return (Some(s), false);
        }
        let stored = match parent {
            Some(key) => self.parents.get(key).copied(),
            None => self.stored,
        };
        match stored {
            Some(c) => (Some(c), true),
            None => (initial, false),
        }
    }

    /// Where a series starts, before `lookback`.
    pub(crate) fn start_of(&self, parent: Option<&str>, initial: Option<Cursor>) -> Option<Cursor> {
        self.start(parent, initial).0
    }

    /// The value sent for one series: `None` when there is nothing to start from (the first
    /// run of a source without `initial` fetches everything).
    pub fn since_for(
        &self,
        parent: Option<&str>,
        incremental: &Incremental,
    ) -> Result<Option<Cursor>, CursorError> {
        match self.start(parent, incremental.initial) {
            (Some(c), true) => c.minus(incremental.lookback).map(Some),
            (c, _) => Ok(c),
        }
    }
}

/// What a run of an incremental source saw: the cursor before and after, per parent too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CursorReport {
    /// The field, as written in the pipeline.
    pub field: String,
    /// The cursor the run started from (the stored one, `--since` or `initial`).
    pub before: Option<Cursor>,
    /// The value sent to the API for the first series (after `lookback`).
    pub sent: Option<Cursor>,
    /// The new high-water mark: the largest cursor seen, never below `before`.
    pub after: Option<Cursor>,
    /// With `for_each`: the high-water mark per parent key.
    pub parents: BTreeMap<String, Cursor>,
    /// Records without a cursor value (they are loaded but move nothing).
    pub missing: u64,
    /// Records left out because their cursor is after `--until`.
    pub after_until: u64,
}

impl CursorReport {
    /// Folds one series' high-water mark in.
    pub(crate) fn add_series(
        &mut self,
        parent: Option<&str>,
        start: Option<Cursor>,
        seen: Option<Cursor>,
    ) -> Result<(), CursorError> {
        let high = match (start, seen) {
            (Some(a), Some(b)) => Some(a.max(b)?),
            (a, b) => a.or(b),
        };
        if let (Some(key), Some(h)) = (parent, high) {
            self.parents.insert(key.to_owned(), h);
        }
        self.after = match (self.after, high) {
            (Some(a), Some(b)) => Some(a.max(b)?),
            (a, b) => a.or(b),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_the_forms_people_write() {
        let t = |s: &str| Cursor::parse(s).unwrap().to_string();
        assert_eq!(t("2026-01-01T02:00:00+02:00"), "2026-01-01T00:00:00Z");
        assert_eq!(t("2026-01-01"), "2026-01-01T00:00:00Z");
        assert_eq!(t("2026-01-01 10:11:12"), "2026-01-01T10:11:12Z");
        assert_eq!(t("2026-01-01T10:11:12.250Z"), "2026-01-01T10:11:12.250Z");
        assert_eq!(Cursor::parse("42").unwrap(), Cursor::Int(42));
        assert_eq!(
            Cursor::parse("yesterday").unwrap_err().to_string(),
            "`yesterday` is neither a date-time (`2026-01-01T00:00:00Z`, `2026-01-01`) nor an \
             integer"
        );
    }

    #[test]
    fn compares_within_a_kind_only() {
        let a = Cursor::parse("2026-01-01T00:00:00Z").unwrap();
        let b = Cursor::parse("2026-01-01T00:00:01+00:00").unwrap();
        assert_eq!(a.max(b).unwrap(), b);
        assert!(b.is_after(a).unwrap());
        assert_eq!(
            a.max(Cursor::Int(3)).unwrap_err().to_string(),
            "cursor values of two kinds: 2026-01-01T00:00:00Z is a date-time but 3 is an integer"
        );
    }

    #[test]
    fn lookback_moves_back_and_must_match_the_kind() {
        let a = Cursor::parse("2026-01-01T01:00:00Z").unwrap();
        let back = a.minus(Lookback::Time(Duration::from_secs(3600))).unwrap();
        assert_eq!(back.to_string(), "2026-01-01T00:00:00Z");
        assert_eq!(
            Cursor::Int(10).minus(Lookback::Int(3)).unwrap(),
            Cursor::Int(7)
        );
        assert!(a.minus(Lookback::Int(3)).is_err());
    }

    #[test]
    fn the_window_prefers_since_then_the_stored_cursor_then_initial() {
        let inc = Incremental {
            cursor_field: vec!["updated_at".into()],
            param: Some("updated_since".into()),
            until_param: None,
            initial: Some(Cursor::Int(1)),
            lookback: Lookback::Int(2),
            format: None,
        };
        let mut w = Window::default();
        assert_eq!(w.since_for(None, &inc).unwrap(), Some(Cursor::Int(1)));
        w.stored = Some(Cursor::Int(10));
        w.parents.insert("7".into(), Cursor::Int(20));
        assert_eq!(w.since_for(None, &inc).unwrap(), Some(Cursor::Int(8)));
        assert_eq!(w.since_for(Some("7"), &inc).unwrap(), Some(Cursor::Int(18)));
        // A new parent starts from `initial`, not from the other parents' cursors.
        assert_eq!(w.since_for(Some("8"), &inc).unwrap(), Some(Cursor::Int(1)));
        w.since = Some(Cursor::Int(5));
        assert_eq!(w.since_for(Some("7"), &inc).unwrap(), Some(Cursor::Int(5)));
    }

    #[test]
    fn the_report_keeps_the_high_water_mark() {
        let mut r = CursorReport::default();
        r.add_series(Some("1"), Some(Cursor::Int(5)), Some(Cursor::Int(3)))
            .unwrap();
        r.add_series(Some("2"), Some(Cursor::Int(5)), Some(Cursor::Int(9)))
            .unwrap();
        assert_eq!(r.after, Some(Cursor::Int(9)));
        assert_eq!(r.parents["1"], Cursor::Int(5));
        let inc = Incremental {
            cursor_field: vec!["meta".into(), "v".into()],
            param: None,
            until_param: None,
            initial: None,
            lookback: Lookback::None,
            format: None,
        };
        assert_eq!(
            inc.cursor_of(&json!({"meta": {"v": 4}})).unwrap().unwrap(),
            Cursor::Int(4)
        );
        assert!(inc.cursor_of(&json!({"meta": {}})).is_none());
    }
}
