//! Declarative steps (`from:` plus `steps:`), one file each. Each file reads its step from the
//! value written (`parse`, when the transform is built: a problem is a `ConfigError` at the
//! step, underlining the word at fault) and applies it (`apply`, when the transform is
//! planned): it gets the frame so far and its schema, checks the columns it names (a missing
//! one is named, with a did-you-mean), and returns the next frame; [`apply`] attributes its
//! errors to the transform and the step's position.

mod cast;
mod ctx;
mod distinct;
mod explode;
mod fill_null;
mod filter;
mod group_by;
mod join;
mod limit;
mod read;
mod rename;
mod select;
mod sort;
mod union;
mod with_columns;

use etl_config::{ConfigError, KeyPath};
use indexmap::IndexMap;
use polars::prelude::LazyFrame;
use serde_json::{Map, Value};

pub(crate) use ctx::Ctx;
pub use group_by::{AggFunction, Aggregate};
pub use join::Join;
pub use select::SelectItem;
pub use sort::SortKey;

use crate::error::{Error, polars_message};
use crate::names::{suggestion, suggestion_or_list};
use crate::spec::{STEP_NAMES, StepSpec};
use read::{problem, problem_with};

/// One step of a declarative transform, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Select(Vec<SelectItem>),
    Rename(IndexMap<String, String>),
    Filter(String),
    WithColumns(IndexMap<String, String>),
    Join(Join),
    GroupBy {
        by: Vec<String>,
        agg: IndexMap<String, Aggregate>,
    },
    Sort(Vec<SortKey>),
    Limit(usize),
    FillNull(IndexMap<String, Value>),
    Cast(IndexMap<String, String>),
    Distinct(Option<Vec<String>>),
    Explode(Vec<String>),
    Union(Vec<String>),
}

impl Step {
    /// The step's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Select(_) => "select",
            Self::Rename(_) => "rename",
            Self::Filter(_) => "filter",
            Self::WithColumns(_) => "with_columns",
            Self::Join(_) => "join",
            Self::GroupBy { .. } => "group_by",
            Self::Sort(_) => "sort",
            Self::Limit(_) => "limit",
            Self::FillNull(_) => "fill_null",
            Self::Cast(_) => "cast",
            Self::Distinct(_) => "distinct",
            Self::Explode(_) => "explode",
            Self::Union(_) => "union",
        }
    }

    /// Reads a step as written; a problem's key is relative to the step's item.
    pub(crate) fn parse(spec: &StepSpec) -> Result<Self, ConfigError> {
        let map = match &spec.0 {
            Value::Object(map) if !map.is_empty() => map,
            Value::String(s) => {
                return Err(problem(
                    format!(
                        "a step is a map such as `- {s}: ...`{}",
                        suggestion(s, STEP_NAMES.iter().copied())
                    ),
                    s,
                ));
            }
            other => {
                return Err(problem_with(
                    format!("a step is a map such as `- select: [id, name]`, not `{other}`"),
                    other,
                ));
            }
        };
        let kind = step_name(map)?;
        let value = &map[kind];
        Ok(match kind {
            "select" => Self::Select(select::parse(value)?),
            "rename" => Self::Rename(rename::parse(value)?),
            "filter" => Self::Filter(filter::parse(value)?),
            "with_columns" => Self::WithColumns(with_columns::parse(value)?),
            "join" => Self::Join(join::parse(value)?),
            "group_by" => {
                let (by, agg) = group_by::parse(value, map.get("agg"))?;
                Self::GroupBy { by, agg }
            }
            "sort" => Self::Sort(sort::parse(value)?),
            "limit" => Self::Limit(limit::parse(value)?),
            "fill_null" => Self::FillNull(fill_null::parse(value)?),
            "cast" => Self::Cast(cast::parse(value)?),
            "distinct" => Self::Distinct(distinct::parse(value)?),
            "explode" => Self::Explode(explode::parse(value)?),
            // `union`, the last of the step names.
            _ => Self::Union(union::parse(value)?),
        })
    }

    /// The tables this step reads besides its input, each with the key (relative to the
    /// step's item) that names it.
    pub(crate) fn tables(&self) -> Vec<(String, KeyPath)> {
        match self {
            Self::Join(join) => vec![(join.with.clone(), KeyPath::parse("join.with"))],
            Self::Union(tables) => tables
                .iter()
                .map(|t| (t.clone(), KeyPath::parse("union")))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The one step name of a step's map; `agg` may only stand beside `group_by`.
fn step_name(map: &Map<String, Value>) -> Result<&str, ConfigError> {
    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
    let steps = &STEP_NAMES[..13];
    let Some(kind) = keys.iter().find(|k| steps.contains(k)).copied() else {
        let first = keys.first().copied().unwrap_or("");
        return Err(problem(
            format!(
                "`{first}` is not a step{}",
                suggestion_or_list(first, steps.iter().copied(), "steps")
            ),
            first,
        ));
    };
    for k in &keys {
        if *k != kind && !(kind == "group_by" && *k == "agg") {
            return Err(if STEP_NAMES.contains(k) {
                problem(
                    format!(
                        "one step per list item: `{kind}` and `{k}` are both here; start `{k}` \
                         with its own `-`"
                    ),
                    *k,
                )
            } else {
                problem(
                    format!("`{k}` is not a key of `{kind}`{}", suggestion(k, ["agg"])),
                    *k,
                )
            });
        }
    }
    Ok(kind)
}

/// Applies `steps` to `frame`; `transform` names the transform in errors.
pub(crate) fn apply(
    transform: &str,
    mut frame: LazyFrame,
    steps: &[Step],
    ctx: &Ctx<'_>,
) -> Result<LazyFrame, Error> {
    for (i, step) in steps.iter().enumerate() {
        let error = |message: String| Error::Step {
            transform: transform.to_owned(),
            position: i + 1,
            step: step.name(),
            message,
        };
        let schema = frame
            .collect_schema()
            .map_err(|e| error(polars_message(&e)))?;
        let next = match step {
            Step::Select(items) => select::apply(frame, &schema, items),
            Step::Rename(map) => rename::apply(frame, &schema, map),
            Step::Filter(text) => filter::apply(frame, &schema, text),
            Step::WithColumns(map) => with_columns::apply(frame, map),
            Step::Join(join) => join::apply(frame, &schema, join, ctx),
            Step::GroupBy { by, agg } => group_by::apply(frame, &schema, by, agg),
            Step::Sort(keys) => sort::apply(frame, &schema, keys),
            Step::Limit(n) => Ok(limit::apply(frame, *n)),
            Step::FillNull(map) => fill_null::apply(frame, &schema, map),
            Step::Cast(map) => cast::apply(frame, &schema, map),
            Step::Distinct(cols) => distinct::apply(frame, &schema, cols.as_deref()),
            Step::Explode(cols) => explode::apply(frame, &schema, cols),
            Step::Union(tables) => union::apply(frame, &schema, tables, ctx),
        };
        frame = next.map_err(error)?;
        // Resolve now: a wrong column or type fails here, at this step.
        frame
            .collect_schema()
            .map_err(|e| error(polars_message(&e)))?;
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn step(v: Value) -> Result<Step, ConfigError> {
        Step::parse(&StepSpec(v))
    }

    fn wrong(v: Value) -> (String, Option<String>) {
        let e = step(v).unwrap_err();
        (e.to_string(), e.token)
    }

    #[test]
    fn reads_every_step_form() {
        assert_eq!(
            step(json!({"select": ["id", {"company": "company__name"}]})).unwrap(),
            Step::Select(vec![
                SelectItem {
                    column: "id".into(),
                    alias: "id".into()
                },
                SelectItem {
                    column: "company__name".into(),
                    alias: "company".into()
                },
            ])
        );
        let g =
            step(json!({"group_by": "userId", "agg": {"n": "count", "t": {"sum": "x"}}})).unwrap();
        let Step::GroupBy { by, agg } = g else {
            panic!()
        };
        assert_eq!(by, vec!["userId".to_owned()]);
        assert_eq!(agg["t"].function, AggFunction::Sum);
        assert_eq!(
            step(json!({"sort": ["a", {"b": "desc"}]})).unwrap(),
            Step::Sort(vec![
                SortKey {
                    column: "a".into(),
                    descending: false
                },
                SortKey {
                    column: "b".into(),
                    descending: true
                },
            ])
        );
        assert_eq!(
            step(json!({"distinct": true})).unwrap(),
            Step::Distinct(None)
        );
        assert_eq!(step(json!({"limit": 3})).unwrap(), Step::Limit(3));
    }

    #[test]
    fn wrong_steps_say_what_to_write_and_underline_the_word() {
        assert_eq!(
            wrong(json!({"jion": {}})),
            (
                "`jion` is not a step; did you mean `join`?".to_owned(),
                Some("jion".to_owned())
            )
        );
        let (message, token) = wrong(json!({"group_by": "a"}));
        assert!(message.contains("needs `agg`"), "{message}");
        assert_eq!(token.as_deref(), Some("group_by"));
        let (message, token) = wrong(json!({"group_by": "a", "agg": {"n": "cnt"}}));
        assert!(message.contains("did you mean `count`?"), "{message}");
        assert_eq!(token.as_deref(), Some("cnt"));
        let (message, token) = wrong(json!({"select": ["a"], "limit": 3}));
        assert!(message.contains("one step per list item"), "{message}");
        assert_eq!(token.as_deref(), Some("limit"));
        let (message, token) = wrong(json!({"sort": [{"id": "down"}]}));
        assert!(message.contains("takes `asc` or `desc`"), "{message}");
        assert_eq!(token.as_deref(), Some("down"));
        let (message, token) = wrong(json!("selct"));
        assert_eq!(
            message,
            "a step is a map such as `- selct: ...`; did you mean `select`?"
        );
        assert_eq!(token.as_deref(), Some("selct"));
        let (message, token) = wrong(json!({}));
        assert_eq!(
            message,
            "a step is a map such as `- select: [id, name]`, not `{}`"
        );
        assert_eq!(token, None);
        let (message, token) = wrong(json!({"limit": 3, "onn": 1}));
        assert_eq!(message, "`onn` is not a key of `limit`");
        assert_eq!(token.as_deref(), Some("onn"));
    }

    #[test]
    fn a_step_names_the_tables_it_reads() {
        let join = step(json!({"join": {"with": "posts", "on": "id"}})).unwrap();
        assert_eq!(
            join.tables(),
            vec![("posts".to_owned(), KeyPath::parse("join.with"))]
        );
        let union = step(json!({"union": ["a", "b"]})).unwrap();
        assert_eq!(union.tables().len(), 2);
        assert!(step(json!({"limit": 1})).unwrap().tables().is_empty());
    }
}
