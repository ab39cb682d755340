//! Reading a step's value as written: text, column names, maps of text. A problem is a
//! `ConfigError` at the step's item, underlining the word at fault.

use etl_config::{ConfigError, KeyPath};
use indexmap::IndexMap;
use serde_json::{Map, Value};

/// A problem in the step's item, underlining `token`.
pub(super) fn problem(message: impl Into<String>, token: impl Into<String>) -> ConfigError {
    ConfigError::new(KeyPath::root(), message).with_token(token)
}

/// A problem with `value`, underlined when it is written as one word.
pub(super) fn problem_with(message: impl Into<String>, value: &Value) -> ConfigError {
    let error = ConfigError::new(KeyPath::root(), message);
    match text(value) {
        Some(word) => error.with_token(word),
        None => error,
    }
}

/// A scalar as text: text as it is, a number or true/false as written.
pub(super) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A column name, or a list of them.
pub(super) fn names(value: &Value, what: &str) -> Result<Vec<String>, ConfigError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    problem_with(format!("{what} takes column names; `{v}` is not one"), v)
                })
            })
            .collect(),
        other => Err(problem_with(
            format!("{what} takes a column name or a list of them, not `{other}`"),
            other,
        )),
    }
}

/// A map of text values (`{ old: new }`); `example` shows one.
pub(super) fn string_map(
    value: &Value,
    what: &str,
    example: &str,
) -> Result<IndexMap<String, String>, ConfigError> {
    let Value::Object(map) = value else {
        return Err(problem(
            format!("{what} takes a map, e.g. `{example}`"),
            what,
        ));
    };
    map.iter()
        .map(|(k, v)| {
            text(v).map(|t| (k.clone(), t)).ok_or_else(|| {
                problem(
                    format!("{what}: the value of `{k}` must be text, e.g. `{example}`"),
                    k,
                )
            })
        })
        .collect()
}

/// The key and value of a map of one entry (`{ new_name: column }`, `{ sum: amount }`).
pub(super) fn only_entry(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    let mut entries = map.iter();
    match (entries.next(), entries.next()) {
        (Some((key, value)), None) => Some((key.as_str(), value)),
        _ => None,
    }
}
