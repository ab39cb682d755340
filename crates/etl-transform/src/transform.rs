//! A transform, built: [`build`] checks a [`TransformSpec`] without reading any data (the
//! combination of `sql`, `from` and `steps`, the SQL's syntax, every step) and gives a
//! [`Transform`], which names the tables it reads and where.

use etl_config::{ConfigError, KeyPath};

use crate::error::polars_message;
use crate::query::sql_tables;
use crate::spec::{ChecksSpec, StepSpec, TransformSpec};
use crate::steps::Step;

/// A transform, checked: what it computes, and the tables it reads.
#[derive(Debug, Clone)]
pub struct Transform {
    /// Its name: its result is a table of that name.
    pub name: String,
    pub kind: TransformKind,
    /// What the transform computes (shown by `etl validate`).
    pub description: Option<String>,
    /// Data checks on the result.
    pub checks: Option<ChecksSpec>,
    /// Each table read, with the key that names it, relative to the transform.
    inputs: Inputs,
}

/// What a transform computes.
#[derive(Debug, Clone, PartialEq)]
pub enum TransformKind {
    /// A polars SQL query (not empty; its syntax is checked).
    Sql(String),
    /// Steps applied in order to a table (at least one step).
    Steps { from: String, steps: Vec<Step> },
}

impl Transform {
    /// The tables this transform reads, each once, in the order they are named: `from` and
    /// the tables of `join` and `union` steps, or the tables its SQL names (CTE names left
    /// out).
    pub fn inputs(&self) -> impl Iterator<Item = &str> {
        self.inputs
            .iter()
            .enumerate()
            .filter(|(i, (name, _))| !self.inputs[..*i].iter().any(|(n, _)| n == name))
            .map(|(_, (name, _))| name.as_str())
    }

    /// Each table read, with the key that names it, relative to the transform (`sql`,
    /// `from`, `steps.[2].join.with`, `steps.[3].union`); a table named twice comes twice.
    pub fn input_keys(&self) -> impl Iterator<Item = (&str, &KeyPath)> {
        self.inputs.iter().map(|(name, key)| (name.as_str(), key))
    }
}

/// Checks transform `name` as written and builds it; every problem found is in the error,
/// with the key path of the key at fault (`transforms.<name>.steps.[1].join.how`).
pub fn build(name: &str, spec: &TransformSpec) -> Result<Transform, Vec<ConfigError>> {
    let at = KeyPath::root().key("transforms").key(name);
    let mut errors = Vec::new();
    let steps = build_steps(&spec.steps, &at, &mut errors);
    let built = match (&spec.sql, &spec.from) {
        (Some(sql), None) => build_sql(sql, !spec.steps.is_empty(), &at, &mut errors),
        (None, Some(from)) => Some(build_steps_from(
            from,
            steps,
            spec.steps.is_empty(),
            &at,
            &mut errors,
        )),
        (Some(_), Some(_)) => {
            errors.push(
                ConfigError::new(at.key("from"), "goes with `steps:`, not with `sql:`")
                    .with_hint("keep one of the two"),
            );
            None
        }
        (None, None) => {
            errors.push(ConfigError::new(
                at,
                "needs `sql:` (a polars SQL query) or `from:` with `steps:`",
            ));
            None
        }
    };
    match built {
        Some((kind, inputs)) if errors.is_empty() => Ok(Transform {
            name: name.to_owned(),
            kind,
            description: spec.description.clone(),
            checks: spec.checks.clone(),
            inputs,
        }),
        _ => Err(errors),
    }
}

/// Each table read, with the key that names it.
type Inputs = Vec<(String, KeyPath)>;

type Built = Option<(TransformKind, Inputs)>;

/// Every step read; a step that does not read is an error at its item.
fn build_steps(specs: &[StepSpec], at: &KeyPath, errors: &mut Vec<ConfigError>) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        match Step::parse(spec) {
            Ok(step) => steps.push(step),
            Err(e) => errors.push(e.under(&at.key("steps").index(i))),
        }
    }
    steps
}

/// `sql:`, alone: a query that parses.
fn build_sql(sql: &str, with_steps: bool, at: &KeyPath, errors: &mut Vec<ConfigError>) -> Built {
    if with_steps {
        errors.push(
            ConfigError::new(at.key("steps"), "goes with `from:`, not with `sql:`")
                .with_hint("keep one of the two"),
        );
    }
    if sql.trim().is_empty() {
        errors.push(ConfigError::new(at.key("sql"), "is empty; write the query"));
        return None;
    }
    match sql_tables(sql) {
        Ok(tables) => {
            let key = KeyPath::parse("sql");
            let inputs = tables.into_iter().map(|t| (t, key.clone())).collect();
            Some((TransformKind::Sql(sql.to_owned()), inputs))
        }
        Err(e) => {
            errors.push(ConfigError::new(
                at.key("sql"),
                format!("does not parse: {}", polars_message(&e)),
            ));
            None
        }
    }
}

/// `from:` with its steps (at least one is written).
fn build_steps_from(
    from: &str,
    steps: Vec<Step>,
    none_written: bool,
    at: &KeyPath,
    errors: &mut Vec<ConfigError>,
) -> (TransformKind, Inputs) {
    if none_written {
        errors.push(ConfigError::new(
            at.key("steps"),
            "is missing: `from:` needs `steps:` (a list such as `- select: [id, name]`)",
        ));
    }
    let mut inputs = vec![(from.to_owned(), KeyPath::parse("from"))];
    for (i, step) in steps.iter().enumerate() {
        let item = KeyPath::root().key("steps").index(i);
        inputs.extend(
            step.tables()
                .into_iter()
                .map(|(t, key)| (t, item.join(&key))),
        );
    }
    let kind = TransformKind::Steps {
        from: from.to_owned(),
        steps,
    };
    (kind, inputs)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(v: serde_json::Value) -> TransformSpec {
        serde_json::from_value(v).unwrap()
    }

    fn errors(v: serde_json::Value) -> Vec<String> {
        build("t", &spec(v))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn sql_or_from_with_steps() {
        assert_eq!(
            errors(json!({"sql": "SELECT 1", "steps": [{"limit": 1}]})),
            ["`transforms.t.steps`: goes with `from:`, not with `sql:`; keep one of the two"]
        );
        assert_eq!(
            errors(json!({"sql": "SELECT * FROM a", "from": "a", "steps": [{"limit": 1}]})),
            ["`transforms.t.from`: goes with `steps:`, not with `sql:`; keep one of the two"]
        );
        assert_eq!(
            errors(json!({"sql": "  "})),
            ["`transforms.t.sql`: is empty; write the query"]
        );
        assert_eq!(
            errors(json!({"description": "x"})),
            ["`transforms.t`: needs `sql:` (a polars SQL query) or `from:` with `steps:`"]
        );
        assert_eq!(
            errors(json!({"from": "a"})),
            [
                "`transforms.t.steps`: is missing: `from:` needs `steps:` (a list such as \
                 `- select: [id, name]`)"
            ]
        );
        let bad = errors(json!({"sql": "SELEC * FROM a"}));
        assert_eq!(bad.len(), 1);
        assert!(
            bad[0].starts_with("`transforms.t.sql`: does not parse: "),
            "{bad:?}"
        );
    }

    #[test]
    fn every_step_error_is_reported_at_its_item() {
        let e = build(
            "t",
            &spec(json!({"from": "a", "steps": [
                {"selct": ["id"]},
                {"limit": 1},
                {"join": {"with": "b", "on": "id", "how": "outer"}}
            ]})),
        )
        .unwrap_err();
        let keys: Vec<String> = e.iter().map(|e| e.key.to_string()).collect();
        assert_eq!(
            keys,
            ["transforms.t.steps.[0]", "transforms.t.steps.[2].join.how"]
        );
        let tokens: Vec<Option<&str>> = e.iter().map(|e| e.token.as_deref()).collect();
        assert_eq!(tokens, [Some("selct"), Some("outer")]);
    }

    #[test]
    fn a_transform_names_what_it_reads_and_where() {
        let t = build(
            "t",
            &spec(json!({"from": "a", "steps": [
                {"join": {"with": "b", "on": "id"}},
                {"union": ["c", "a"]}
            ]})),
        )
        .unwrap();
        let keys: Vec<(&str, String)> = t.input_keys().map(|(n, k)| (n, k.to_string())).collect();
        assert_eq!(
            keys,
            [
                ("a", "from".to_owned()),
                ("b", "steps.[0].join.with".to_owned()),
                ("c", "steps.[1].union".to_owned()),
                ("a", "steps.[1].union".to_owned()),
            ]
        );
        assert_eq!(t.inputs().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(matches!(t.kind, TransformKind::Steps { ref steps, .. } if steps.len() == 2));

        let sql = build(
            "u",
            &TransformSpec::from_sql(
                "WITH x AS (SELECT * FROM posts) SELECT * FROM x JOIN users ON x.id = users.id",
            ),
        )
        .unwrap();
        let mut read: Vec<&str> = sql.inputs().collect();
        read.sort_unstable();
        assert_eq!(read, ["posts", "users"]);
        assert!(sql.input_keys().all(|(_, k)| k.to_string() == "sql"));
    }
}
