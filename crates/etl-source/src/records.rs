//! Finding the records in a response body.

use std::ops::Range;

use indexmap::IndexMap;
use serde_json::Value;
use serde_json::value::RawValue;

/// Where records are looked for when `records` is not set, in this order.
const AUTO_KEYS: [&str; 4] = ["data", "results", "items", "records"];

/// Takes the records out of `body`: at the dotted `path`, or, without one, the body itself if
/// it is a list, else the first list under `data`, `results`, `items` or `records`.
pub(crate) fn take(body: &mut Value, path: Option<&[String]>) -> Result<Vec<Value>, String> {
    match path {
        Some(path) => take_at(body, path),
        None => take_auto(body),
    }
}

/// A page's records.
#[derive(Debug)]
pub(crate) enum Records {
    Values(Vec<Value>),
    /// Records as they arrived: each a span of the body's `text` holding one JSON value,
    /// checked when the body was parsed. Staged without being built as values and written
    /// again.
    Raw {
        text: String,
        spans: Vec<Range<usize>>,
    },
}

impl Records {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Values(v) => v.len(),
            Self::Raw { spans, .. } => spans.len(),
        }
    }

    pub(crate) fn truncate(&mut self, n: usize) {
        match self {
            Self::Values(v) => v.truncate(n),
            Self::Raw { spans, .. } => spans.truncate(n),
        }
    }

    /// The records as values (for steps that read or change them).
    pub(crate) fn into_values(self) -> Result<Vec<Value>, serde_json::Error> {
        match self {
            Self::Values(v) => Ok(v),
            Self::Raw { text, spans } => spans
                .into_iter()
                .map(|span| serde_json::from_str(&text[span]))
                .collect(),
        }
    }
}

/// Parses a response body and takes its records out, as [`take`] does; the body comes back
/// without them. When the records are a list at a plain place (the body itself, a path of
/// keys, or one of the automatic keys), only the rest of the body is built as a value and
/// the records stay the bytes they arrived as. Anything else, every error included, goes
/// through [`take`], with its messages. The records' syntax is checked here, but a value that
/// is refused only when read (a lone surrogate escape `"\ud800"`, a number past `f64`) is
/// found when the records are read, as an error naming the page.
pub(crate) fn parse(
    bytes: Vec<u8>,
    path: Option<&[String]>,
) -> Result<(Value, Result<Records, String>), serde_json::Error> {
    // UTF-8 is checked once here, not again for each record and string.
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => match locate(&text, path) {
            Some((body, spans)) => return Ok((body, Ok(Records::Raw { text, spans }))),
            None => text.into_bytes(),
        },
        Err(e) => e.into_bytes(),
    };
    let mut body: Value = serde_json::from_slice(&bytes)?;
    let records = take(&mut body, path).map(Records::Values);
    Ok((body, records))
}

/// The body without its records, and the span of each record, when [`take`] would find a
/// list; `None` for anything else (including JSON that does not parse).
fn locate(text: &str, path: Option<&[String]>) -> Option<(Value, Vec<Range<usize>>)> {
    let top = *text.as_bytes().iter().find(|b| !b.is_ascii_whitespace())?;
    let offset = |raw: &RawValue| raw.get().as_ptr() as usize - text.as_ptr() as usize;
    let spans = |items: Vec<&RawValue>| -> Vec<Range<usize>> {
        items
            .into_iter()
            .map(|r| offset(r)..offset(r) + r.get().len())
            .collect()
    };
    if top == b'[' && path.is_none_or(<[String]>::is_empty) {
        // The body is the list: what `take` leaves is `null` (`records: "."`) or `[]`.
        let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
        let body = if path.is_some() {
            Value::Null
        } else {
            Value::Array(Vec::new())
        };
        return Some((body, spans(items)));
    }
    if top != b'{' {
        return None;
    }
    let map: IndexMap<String, &RawValue> = serde_json::from_str(text).ok()?;
    // The list, and what `take` leaves in its place.
    let (list, emptied) = match path {
        Some([first, more @ ..]) => {
            let mut at = *map.get(first.as_str())?;
            for key in more {
                at = *object(at)?.get(key.as_str())?;
            }
            (at, "null")
        }
        Some([]) => return None,
        None => {
            let found = AUTO_KEYS.iter().find_map(|key| {
                let v = *map.get(*key)?;
                match first_byte(v) {
                    b'[' => Some(v),
                    b'{' => object(v)?.values().copied().find(|v| first_byte(v) == b'['),
                    _ => None,
                }
            })?;
            (found, "[]")
        }
    };
    if first_byte(list) != b'[' {
        return None;
    }
    let items: Vec<&RawValue> = serde_json::from_str(list.get()).ok()?;
    let (start, end) = (offset(list), offset(list) + list.get().len());
    let rest = [&text[..start], emptied, &text[end..]].concat();
    let body = serde_json::from_str(&rest).ok()?;
    Some((body, spans(items)))
}

/// The keys of a JSON object, each with its value unparsed (the last of repeated keys, at the
/// place of the first, as [`Value`] keeps them).
fn object(raw: &RawValue) -> Option<IndexMap<String, &RawValue>> {
    if first_byte(raw) != b'{' {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

fn first_byte(raw: &RawValue) -> u8 {
    raw.get().as_bytes().first().copied().unwrap_or(b' ')
}

fn take_at(body: &mut Value, path: &[String]) -> Result<Vec<Value>, String> {
    if path.is_empty() {
        // `records: "."`: the response itself; an object is one record (an item endpoint).
        return Ok(match body.take() {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        });
    }
    let dotted = path.join(".");
    let mut at = &mut *body;
    for (i, key) in path.iter().enumerate() {
        let here = if i == 0 {
            "the response".to_owned()
        } else {
            format!("`{}`", path[..i].join("."))
        };
        at = match at {
            Value::Object(map) => {
                let keys = describe_keys(map);
                map.get_mut(key).ok_or_else(|| {
                    format!("`records: {dotted}`: {here} has no key `{key}` (it has {keys})")
                })?
            }
            Value::Array(items) => match key.parse::<usize>() {
                Ok(n) if n < items.len() => &mut items[n],
                _ => {
                    return Err(format!(
                        "`records: {dotted}`: {here} is a list, not an object"
                    ));
                }
            },
            other => {
                return Err(format!(
                    "`records: {dotted}`: {here} is {}, not an object",
                    kind(other)
                ));
            }
        };
    }
    match at.take() {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(format!(
            "`records: {dotted}` is {}, not a list",
            kind(&other)
        )),
    }
}

fn take_auto(body: &mut Value) -> Result<Vec<Value>, String> {
    match body {
        Value::Array(items) => Ok(std::mem::take(items)),
        Value::Object(map) => {
            for key in AUTO_KEYS {
                match map.get_mut(key) {
                    Some(Value::Array(items)) => return Ok(std::mem::take(items)),
                    Some(Value::Object(inner)) => {
                        if let Some(Value::Array(items)) = inner.values_mut().find(|v| v.is_array())
                        {
                            return Ok(std::mem::take(items));
                        }
                    }
                    _ => {}
                }
            }
            Err(format!(
                "found no list of records: the response is an object with {}; set `records` to \
                 the dotted path of the list, e.g. `records: {}`",
                describe_keys(map),
                map.iter()
                    .find(|(_, v)| v.is_array())
                    .map_or("data.items", |(k, _)| k.as_str()),
            ))
        }
        other => Err(format!(
            "found no list of records: the response is {}",
            kind(other)
        )),
    }
}

fn describe_keys(map: &serde_json::Map<String, Value>) -> String {
    if map.is_empty() {
        return "no keys".into();
    }
    let keys: Vec<String> = map.keys().take(8).map(|k| format!("`{k}`")).collect();
    let more = if map.len() > 8 { ", ..." } else { "" };
    format!("keys {}{more}", keys.join(", "))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The value at a dotted path, if any (for totals and page counts).
pub(crate) fn lookup<'a>(body: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(body, |at, key| match at {
        Value::Object(map) => map.get(key),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn the_response_itself_is_one_record_or_a_list() {
        let one = take(&mut json!({"id": 3}), Some(&[])).unwrap();
        assert_eq!(one, vec![json!({"id": 3})]);
        assert_eq!(take(&mut json!([1, 2]), Some(&[])).unwrap().len(), 2);
        assert!(take(&mut json!(null), Some(&[])).unwrap().is_empty());
    }

    #[test]
    fn auto_finds_the_usual_places() {
        assert_eq!(take(&mut json!([1, 2]), None).unwrap().len(), 2);
        assert_eq!(
            take(&mut json!({"results": [1], "count": 1}), None)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            take(&mut json!({"data": {"items": [1, 2, 3]}}), None)
                .unwrap()
                .len(),
            3
        );
        let err = take(&mut json!({"users": [1], "total": 1}), None).unwrap_err();
        assert!(err.contains("`records: users`"), "{err}");
    }

    #[test]
    fn a_dotted_path_names_what_is_missing() {
        let mut body = json!({"data": {"items": [1, 2]}});
        assert_eq!(take(&mut body, Some(&path("data.items"))).unwrap().len(), 2);
        let err = take(
            &mut json!({"data": {"rows": []}}),
            Some(&path("data.items")),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "`records: data.items`: `data` has no key `items` (it has keys `rows`)"
        );
        let err = take(&mut json!({"data": 3}), Some(&path("data"))).unwrap_err();
        assert!(err.contains("is a number, not a list"), "{err}");
    }

    /// `parse` gives what `take` gives: the same records, the same body left, the same error.
    fn same_as_take(text: &str, path: Option<&[String]>) -> Option<bool> {
        let parsed = parse(text.as_bytes().to_vec(), path);
        let Ok(mut body) = serde_json::from_str::<Value>(text) else {
            assert!(parsed.is_err(), "{text}");
            return None;
        };
        let taken = take(&mut body, path);
        let (rest, records) = parsed.unwrap();
        assert_eq!(rest, body, "{text}");
        let raw = matches!(records, Ok(Records::Raw { .. }));
        let records = records.map(|r| r.into_values().unwrap());
        assert_eq!(records, taken, "{text}");
        Some(raw)
    }

    #[test]
    fn parse_keeps_the_records_as_bytes_where_take_would_find_a_list() {
        let data = path("data");
        let rows = path("data.rows");
        let first = path("data.0");
        let items = path("data.items");
        let raw = [
            (r#"[{"id": 1}, 2, "x", null]"#, None),
            (" \n[{\"id\": 1},\n {\"id\": 2}]\n", Some(&[][..])),
            ("[]", None),
            (r#"{"data": [{"id": 1}], "next": "b"}"#, None),
            (
                r#"{"meta": {"n": 1}, "data": {"total": 2, "rows": [1, 2]}}"#,
                None,
            ),
            (r#"{"results": [1], "count": 1}"#, None),
            (r#"{"data": 3, "items": [1]}"#, None),
            (
                r#"{"meta": {"n": 1}, "data": {"rows": [1, 2]}}"#,
                Some(&rows[..]),
            ),
            (
                r#"{"data": [1], "data": [2, 3], "x": {"y": "]"}}"#,
                Some(&data[..]),
            ),
            (r#"{"data": [1], "data": [2, 3]}"#, None),
        ];
        for (text, path) in raw {
            assert_eq!(same_as_take(text, path), Some(true), "{text}");
        }
        let values = [
            (r#"{"id": 3}"#, Some(&[][..])),
            (r#"{"data": null}"#, Some(&data[..])),
            (r#"{"data": [[1], [2]]}"#, Some(&first[..])),
            (r#"{"data": {"rows": []}}"#, Some(&items[..])),
            (r#"{"data": 3}"#, Some(&data[..])),
            (r#"{"users": [1], "total": 1}"#, None),
            (r#""text""#, None),
        ];
        for (text, path) in values {
            assert_eq!(same_as_take(text, path), Some(false), "{text}");
        }
        for bad in [r#"[{"id": 1},]"#, r#"{"data": [1]} x"#, "[\"\\q\"]", ""] {
            assert_eq!(same_as_take(bad, None), None, "{bad}");
        }
        let not_utf8 = parse(b"[\"\xff\"]".to_vec(), None).unwrap_err();
        assert!(
            not_utf8.to_string().contains("invalid unicode"),
            "{not_utf8}"
        );
    }

    #[test]
    fn lookup_follows_dots() {
        let body = json!({"meta": {"total": 40}});
        assert_eq!(lookup(&body, "meta.total"), Some(&json!(40)));
        assert_eq!(lookup(&body, "meta.none"), None);
    }
}
