//! Durations as people write them: `250ms`, `30s`, `5m`, `1h`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written `250ms`, `30s`, `5m` or `1h` in a pipeline file.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    pub const fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 3_600_000 == 0 && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// Why text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    #[error("`{0}` is not a duration; {HINT}")]
    NotADuration(String),
    #[error("`{0}` has no unit; {HINT}")]
    NoUnit(String),
    #[error("`{unit}` in `{text}` is not a unit; {HINT}")]
    UnknownUnit { unit: String, text: String },
    #[error("`{0}` is too large a duration")]
    TooLarge(String),
}

const HINT: &str = "write a whole number and a unit: `250ms`, `30s`, `5m`, `1h` or `7d`";

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        if digits.is_empty() {
            return Err(DurationError::NotADuration(s.to_owned()));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| DurationError::TooLarge(s.to_owned()))?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86_400)),
            "" => return Err(DurationError::NoUnit(s.to_owned())),
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_owned(),
                    text: s.to_owned(),
                });
            }
        };
        Ok(Self(d))
    }
}

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A whole number and a unit: `250ms`, `30s`, `5m`, `1h`, `7d` (or a `${VAR}`).",
            "pattern": r"^\s*([0-9]+\s*(ms|s|m|h|d)|.*\$\{[^}]+\}.*)\s*$",
            "examples": ["30s"]
        })
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `250ms`, `30s`, `5m` or `1h`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "`{v}` has no unit; write `{v}s` for seconds or `{v}ms` for milliseconds"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "`{v}` is not a duration; write e.g. `30s`"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "`{v}` is not a duration; write e.g. `1500ms`"
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(
            "250ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(
            "30s".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(30)
        );
        assert_eq!(
            "5m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(300)
        );
        assert_eq!(
            "1h".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(3600)
        );
        assert_eq!(HumanDuration::from_secs(300).to_string(), "5m");
        assert_eq!(HumanDuration::from_millis(1500).to_string(), "1500ms");
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        let hint = "write a whole number and a unit: `250ms`, `30s`, `5m`, `1h` or `7d`";
        for (text, message) in [
            ("30", format!("`30` has no unit; {hint}")),
            (
                "5 days",
                format!("`days` in `5 days` is not a unit; {hint}"),
            ),
            ("soon", format!("`soon` is not a duration; {hint}")),
            (
                "99999999999999999999s",
                "`99999999999999999999s` is too large a duration".to_owned(),
            ),
        ] {
            let e = text.parse::<HumanDuration>().unwrap_err();
            assert_eq!(e.to_string(), message);
        }
    }
}
