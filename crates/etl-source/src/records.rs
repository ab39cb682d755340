//! Finding the records in a response body.

use serde_json::Value;

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

    #[test]
    fn lookup_follows_dots() {
        let body = json!({"meta": {"total": 40}});
        assert_eq!(lookup(&body, "meta.total"), Some(&json!(40)));
        assert_eq!(lookup(&body, "meta.none"), None);
    }
}
