//! `schedule:`: cron expressions (five fields, or six with seconds first) in a time zone,
//! and the next time they fire.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use etl_config::ConfigError;
use serde::Deserialize;

/// `schedule: "0 2 * * *"` or `schedule: { cron: "0 2 * * *", timezone: Europe/Paris }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ScheduleSpec {
    Cron(String),
    Full(ScheduleOptions),
}

/// `{ cron, timezone }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleOptions {
    /// Five fields (minute hour day-of-month month day-of-week) or six (seconds first).
    pub cron: String,
    /// An IANA time zone (`Europe/Paris`); default `UTC`.
    pub timezone: Option<String>,
}

/// A checked schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub text: String,
    pub timezone: Tz,
    seconds: Vec<bool>,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    /// Both day fields restricted: cron fires when either matches.
    day_or: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    /// Parses a schedule; the error says which field is wrong and how to write it.
    pub fn parse(spec: &ScheduleSpec) -> Result<Self, ConfigError> {
        let (text, zone) = match spec {
            ScheduleSpec::Cron(c) => (c.as_str(), None),
            ScheduleSpec::Full(o) => (o.cron.as_str(), o.timezone.as_deref()),
        };
        let timezone: Tz = match zone {
            None => Tz::UTC,
            Some(z) => z.parse().map_err(|_| {
                ConfigError::new(
                    "schedule.timezone",
                    format!("`{z}` is not an IANA time zone"),
                )
                .with_hint("write one such as `UTC` or `Europe/Paris`")
            })?,
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        let fields: Vec<&str> = match fields.len() {
            5 => std::iter::once("0").chain(fields).collect(),
            6 => fields,
            n => {
                return Err(
                    ConfigError::new("schedule", format!("`{text}` has {n} field(s)")).with_hint(
                        "write five (minute hour day month weekday, `0 2 * * *`) or six with \
                     seconds first (`*/30 * * * * *`)",
                    ),
                );
            }
        };
        let field = |i: usize, name: &str, min: u32, max: u32, names: &[&str]| {
            parse_field(fields[i], min, max, names).map_err(|m| {
                ConfigError::new(
                    "schedule",
                    format!("`{text}`: the {name} field `{}` {m}", fields[i]),
                )
            })
        };
        let mut weekdays = field(5, "weekday", 0, 7, &WEEKDAYS)?;
        // 7 is Sunday too.
        if weekdays[7] {
            weekdays[0] = true;
        }
        weekdays.truncate(7);
        Ok(Self {
            text: text.to_owned(),
            timezone,
            seconds: field(0, "second", 0, 59, &[])?,
            minutes: field(1, "minute", 0, 59, &[])?,
            hours: field(2, "hour", 0, 23, &[])?,
            days: field(3, "day-of-month", 1, 31, &[])?,
            months: field(4, "month", 1, 12, &MONTHS)?,
            weekdays,
            // As in Vixie cron: a day field starting with `*` (`*`, `*/2`) does not restrict,
            // so `*/2 * 1-5` is odd days that are weekdays; two restricted fields are ORed.
            day_or: !fields[3].starts_with('*') && !fields[5].starts_with('*'),
        })
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = self.days[date.day() as usize];
        let dow = self.weekdays[date.weekday().num_days_from_sunday() as usize];
        if self.day_or { dom || dow } else { dom && dow }
    }

    /// The first time strictly after `after` that the schedule fires, in UTC; `None` if it
    /// never does within five years (`0 0 30 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone).naive_local();
        let mut t = local.with_nanosecond(0)? + Duration::seconds(1);
        let limit = local + Duration::days(5 * 366);
        while t < limit {
            if !self.months[t.month() as usize] {
                let (y, m) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                t = NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if !self.hours[t.hour() as usize] {
                t = start_of_hour(t)? + Duration::hours(1);
                continue;
            }
            if !self.minutes[t.minute() as usize] {
                t = t.with_second(0)? + Duration::minutes(1);
                continue;
            }
            if !self.seconds[t.second() as usize] {
                t += Duration::seconds(1);
                continue;
            }
            // A local time skipped by a DST change never happens; an ambiguous one fires at
            // its first occurrence.
            if let Some(at) = self.timezone.from_local_datetime(&t).earliest() {
                let at = at.with_timezone(&Utc);
                if at > after {
                    return Some(at);
                }
            }
            t += Duration::seconds(1);
        }
        None
    }
}

fn start_of_hour(t: NaiveDateTime) -> Option<NaiveDateTime> {
    t.with_minute(0)?.with_second(0)
}

/// One cron field: `*`, `5`, `1-5`, `*/15`, `10-50/10`, lists of these, names (`mon`).
fn parse_field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut set = vec![false; max as usize + 1];
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            // Month names count from 1, weekday names from 0.
            return Ok(u32::try_from(i).unwrap_or(0) + min.min(1));
        }
        let n: u32 = s
            .parse()
            .map_err(|_| format!("holds `{s}`, which is not a number"))?;
        if n < min || n > max {
            return Err(format!("holds {n}, outside {min}-{max}"));
        }
        Ok(n)
    };
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 =
                    s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("has the step `{s}`; write a whole number from 1")
                    })?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!("has the range `{range}`, which runs backwards"));
            }
            (a, b)
        } else {
            let a = value(range)?;
            (a, if part.contains('/') { max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(cron: &str, zone: Option<&str>, after: &str) -> String {
        let spec = ScheduleSpec::Full(ScheduleOptions {
            cron: cron.into(),
            timezone: zone.map(str::to_owned),
        });
        Schedule::parse(&spec)
            .unwrap()
            .next_after(at(after))
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn five_and_six_fields() {
        assert_eq!(
            next("0 2 * * *", None, "2026-11-26T16:00:00Z"),
            "2026-11-27T02:00:00+00:00"
        );
        assert_eq!(
            next("*/2 * * * * *", None, "2026-11-26T16:00:01Z"),
            "2026-11-26T16:00:02+00:00"
        );
        assert_eq!(
            next("*/15 9-17 * * mon-fri", None, "2026-11-27T17:50:00Z"),
            "2026-11-30T09:00:00+00:00"
        );
        assert_eq!(
            next("0 0 1 jan,jul *", None, "2026-11-26T00:00:00Z"),
            "2027-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn time_zones_and_dst() {
        // 02:00 in Paris is 01:00 UTC in winter.
        assert_eq!(
            next("0 2 * * *", Some("Europe/Paris"), "2026-11-26T12:00:00Z"),
            "2026-11-27T01:00:00+00:00"
        );
        // 2027-03-28 02:30 does not exist in Paris: the next day's.
        assert_eq!(
            next("30 2 * * *", Some("Europe/Paris"), "2027-03-27T12:00:00Z"),
            "2027-03-29T00:30:00+00:00"
        );
    }

    #[test]
    fn day_fields_are_ored_when_both_are_set() {
        // The 13th, or any Friday.
        assert_eq!(
            next("0 0 13 * fri", None, "2026-11-26T00:00:00Z"),
            "2026-11-27T00:00:00+00:00"
        );
        // A field starting with `*` does not restrict: odd days that are weekdays. After
        // Friday 2026-11-27: Sunday the 29th is odd but no weekday; Tuesday 12-01 is both.
        assert_eq!(
            next("0 3 */2 * 1-5", None, "2026-11-27T12:00:00Z"),
            "2026-12-01T03:00:00+00:00"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = |c: &str| {
            Schedule::parse(&ScheduleSpec::Cron(c.into()))
                .unwrap_err()
                .to_string()
        };
        assert!(e("0 25 * * *").contains("hour field `25` holds 25, outside 0-23"));
        assert!(e("* * *").contains("3 field(s)"));
        assert!(e("0 0 * * funday").contains("weekday"));
        assert!(e("*/0 * * * *").contains("step"));
        let z = Schedule::parse(&ScheduleSpec::Full(ScheduleOptions {
            cron: "0 2 * * *".into(),
            timezone: Some("Mars/Olympus".into()),
        }))
        .unwrap_err();
        assert_eq!(z.key.to_string(), "schedule.timezone");
        assert!(z.message.contains("Mars/Olympus"));
        assert!(
            Schedule::parse(&ScheduleSpec::Cron("0 0 30 2 *".into()))
                .unwrap()
                .next_after(at("2026-01-01T00:00:00Z"))
                .is_none()
        );
    }
}
