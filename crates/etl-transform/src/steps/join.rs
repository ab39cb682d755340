//! `join: { with: per_user, left_on: id, right_on: userId, how: left, suffix: _right }`:
//! inner, left, full, semi and anti joins on one or several keys. `keys:` is `on:` under a
//! name YAML 1.1 tools do not read as `true`.

use etl_config::{ConfigError, KeyPath, did_you_mean, hint_or_list, quote_list};
use polars::prelude::*;
use serde_json::{Map, Value};

use super::ctx::Ctx;
use super::read::{names, problem_with};
use crate::error::polars_message;
use crate::names::need;
use crate::spec::{JOIN_KEYS, JOIN_KINDS, JoinHow};
use crate::widen::widen;

/// A join, read and checked: the table joined and the key columns of each side, as many on
/// each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// The table joined: a source or an earlier transform.
    pub with: String,
    /// Key column(s) of this side.
    pub left: Vec<String>,
    /// Key column(s) of the joined table, one for each of `left`.
    pub right: Vec<String>,
    pub how: JoinHow,
    /// Added to clashing column names of the joined table.
    pub suffix: String,
}

/// Reads `join:`; a problem's key is `join` or the key of `join` at fault.
pub(super) fn parse(value: &Value) -> Result<Join, ConfigError> {
    let here = KeyPath::root().key("join");
    let Value::Object(map) = value else {
        return Err(ConfigError::new(
            here,
            format!("must be a map such as `{{ with: orders, on: id }}`, not `{value}`"),
        )
        .with_token("join"));
    };
    if let Some(k) = map.keys().find(|k| !JOIN_KEYS.contains(&k.as_str())) {
        return Err(
            ConfigError::new(here.key(k), format!("`{k}` is not a key here"))
                .with_hint(hint_or_list(k, JOIN_KEYS, "keys"))
                .with_token(k),
        );
    }
    let with = match map.get("with") {
        Some(Value::String(with)) => with.clone(),
        Some(other) => {
            let e = problem_with(format!("must be a table name, not `{other}`"), other);
            return Err(e.under(&here.key("with")));
        }
        None => return Err(ConfigError::new(here, "needs `with`").with_token("join")),
    };
    let (left, right) = key_columns(map, &here)?;
    let suffix = match map.get("suffix") {
        None => "_right".to_owned(),
        Some(Value::String(suffix)) => suffix.clone(),
        Some(other) => {
            let e = problem_with(format!("must be text, not `{other}`"), other);
            return Err(e.under(&here.key("suffix")));
        }
    };
    let how = match map.get("how") {
        None => JoinHow::default(),
        Some(value) => how(value).map_err(|e| e.under(&here.key("how")))?,
    };
    Ok(Join {
        with,
        left,
        right,
        how,
        suffix,
    })
}

/// The key columns of each side: `on` (or `keys`), or `left_on` with `right_on`.
fn key_columns(
    map: &Map<String, Value>,
    here: &KeyPath,
) -> Result<(Vec<String>, Vec<String>), ConfigError> {
    let columns = |key: &str| {
        map.get(key)
            .map(|v| names(v, key).map_err(|e| e.under(&here.key(key))))
            .transpose()
    };
    let (on, keys) = (columns("on")?, columns("keys")?);
    let (left_on, right_on) = (columns("left_on")?, columns("right_on")?);
    if on.is_some() && keys.is_some() {
        return Err(ConfigError::new(
            here.key("keys"),
            "`keys` and `on` are the same key, given twice",
        )
        .with_hint("keep one of the two"));
    }
    let (left, right) = match (on.or(keys), left_on, right_on) {
        (Some(on), None, None) => (on.clone(), on),
        (None, Some(l), Some(r)) => (l, r),
        _ => {
            return Err(ConfigError::new(
                here.clone(),
                "give the keys as `on: id` (the same name on both sides) or as `left_on` and \
                 `right_on` together",
            )
            .with_token("join"));
        }
    };
    if left.is_empty() || left.len() != right.len() {
        return Err(ConfigError::new(
            here.clone(),
            format!(
                "`left_on` has {} key(s) and `right_on` {}; give as many on each side",
                left.len(),
                right.len()
            ),
        )
        .with_token("join"));
    }
    Ok((left, right))
}

/// `how:`, one of the join kinds.
fn how(value: &Value) -> Result<JoinHow, ConfigError> {
    serde_json::from_value(value.clone()).map_err(|_| match value {
        Value::String(s) => {
            let hint = match did_you_mean(s, JOIN_KINDS) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!("use one of {}", quote_list(&JOIN_KINDS)),
            };
            problem_with(format!("`{s}` is not accepted"), value).with_hint(hint)
        }
        other => problem_with(
            format!("must be one of {}, not `{other}`", quote_list(&JOIN_KINDS)),
            other,
        ),
    })
}

pub(super) fn apply(
    frame: LazyFrame,
    schema: &Schema,
    join: &Join,
    ctx: &Ctx<'_>,
) -> Result<LazyFrame, String> {
    let mut other = ctx.table(&join.with)?;
    let other_schema = other.collect_schema().map_err(|e| polars_message(&e))?;
    for (l, r) in join.left.iter().zip(&join.right) {
        need(schema, l)?;
        need(&other_schema, r).map_err(|m| format!("in `{}`: {m}", join.with))?;
        let (lt, rt) = (schema.get(l), other_schema.get(r));
        if let (Some(lt), Some(rt)) = (lt, rt) {
            if lt != rt && !(lt.is_numeric() && rt.is_numeric()) {
                return Err(format!(
                    "the keys `{l}` ({lt}) and `{}.{r}` ({rt}) have different types; make them \
                     alike first with a `cast:` step",
                    join.with
                ));
            }
        }
    }
    let how = match join.how {
        JoinHow::Inner => JoinType::Inner,
        JoinHow::Left => JoinType::Left,
        JoinHow::Full => JoinType::Full,
        JoinHow::Semi => JoinType::Semi,
        JoinHow::Anti => JoinType::Anti,
    };
    let args = JoinArgs::new(how)
        .with_suffix(Some(join.suffix.as_str().into()))
        // Full joins merge the keys into one column, as the other kinds do.
        .with_coalesce(JoinCoalesce::CoalesceColumns);
    let args = JoinArgs {
        maintain_order: MaintainOrderJoin::Left,
        ..args
    };
    // Numeric keys of different types are made alike in place (Int64 for integers, Float64
    // with a float), so the key columns stay plain columns and are merged as usual.
    let mut frame = frame;
    for (l, r) in join.left.iter().zip(&join.right) {
        if let (Some(lt), Some(rt)) = (schema.get(l), other_schema.get(r)) {
            if lt != rt {
                let common = widen(lt, rt);
                frame = frame.with_column(col(l.as_str()).cast(common.clone()));
                other = other.with_column(col(r.as_str()).cast(common));
            }
        }
    }
    let left: Vec<Expr> = join.left.iter().map(|l| col(l.as_str())).collect();
    let right: Vec<Expr> = join.right.iter().map(|r| col(r.as_str())).collect();
    Ok(frame.join(other, left, right, args))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wrong(v: &Value) -> (String, Option<String>) {
        let e = parse(v).unwrap_err();
        (e.to_string(), e.token)
    }

    #[test]
    fn keys_is_on_under_another_name() {
        let on = parse(&json!({"with": "posts", "on": ["id", "day"]})).unwrap();
        let keys = parse(&json!({"with": "posts", "keys": ["id", "day"]})).unwrap();
        assert_eq!(on, keys);
        assert_eq!(keys.left, ["id", "day"]);
        assert_eq!(keys.right, ["id", "day"]);
        assert_eq!(keys.how, JoinHow::Inner);
        assert_eq!(keys.suffix, "_right");
        let one = parse(&json!({"with": "posts", "keys": "id", "how": "left"})).unwrap();
        assert_eq!((one.left, one.how), (vec!["id".to_owned()], JoinHow::Left));
    }

    #[test]
    fn on_and_keys_together_are_refused_naming_both() {
        let e = parse(&json!({"with": "posts", "on": "id", "keys": "id"})).unwrap_err();
        assert_eq!(e.key.to_string(), "join.keys");
        assert_eq!(
            e.to_string(),
            "`join.keys`: `keys` and `on` are the same key, given twice; keep one of the two"
        );
    }

    #[test]
    fn wrong_joins_point_at_the_key_at_fault() {
        let e = parse(&json!({"with": "posts", "on": "id", "how": "outer"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`join.how`: `outer` is not accepted; use one of `inner`, `left`, `full`, `semi`, `anti`"
        );
        assert_eq!(e.token.as_deref(), Some("outer"));
        assert_eq!(
            wrong(&json!({"with": "posts", "on": "id", "how": "lef"})).0,
            "`join.how`: `lef` is not accepted; did you mean `left`?"
        );
        assert_eq!(
            wrong(&json!({"with": "posts", "onn": "id"})),
            (
                "`join.onn`: `onn` is not a key here; did you mean `on`?".to_owned(),
                Some("onn".to_owned())
            )
        );
        assert_eq!(
            wrong(&json!({"on": "id"})),
            ("`join`: needs `with`".to_owned(), Some("join".to_owned()))
        );
        assert!(
            wrong(&json!({"with": "posts"}))
                .0
                .contains("give the keys as `on: id`")
        );
        assert!(
            wrong(&json!({"with": "posts", "left_on": ["a", "b"], "right_on": "a"}))
                .0
                .contains("`left_on` has 2 key(s) and `right_on` 1")
        );
        assert_eq!(
            wrong(&json!({"with": "posts", "keys": 3})),
            (
                "`join.keys`: keys takes a column name or a list of them, not `3`".to_owned(),
                Some("3".to_owned())
            )
        );
        assert_eq!(
            wrong(&json!("posts")).0,
            "`join`: must be a map such as `{ with: orders, on: id }`, not `\"posts\"`"
        );
    }
}
