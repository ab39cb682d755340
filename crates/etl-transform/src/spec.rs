//! The `transforms` section as written: `sql:`, or `from:` plus `steps:`, and `checks:`.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use crate::checks::ChecksSpec;

/// One entry of `transforms`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct TransformSpec {
    /// A polars SQL query. Its tables are the sources and the transforms listed before this
    /// one, by name; nested fields are flattened columns (`company__name`).
    pub sql: Option<String>,
    /// The table the `steps` start from: a source or an earlier transform.
    pub from: Option<String>,
    /// Declarative steps applied in order to `from`.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// What the transform computes (shown by `etl validate`).
    pub description: Option<String>,
    /// Data checks on the result; a failed check fails the run before any sink writes.
    pub checks: Option<ChecksSpec>,
}

impl TransformSpec {
    /// A transform written as a SQL query.
    pub fn from_sql(query: impl Into<String>) -> Self {
        Self {
            sql: Some(query.into()),
            ..Self::default()
        }
    }

    /// The tables this transform reads: `from` and the tables of `join` and `union` steps,
    /// or the tables its SQL names (CTE names left out).
    pub fn inputs(&self) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = Vec::new();
        for (name, _) in self.input_keys()? {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Each table read, with the key that names it (`sql`, `from`, `steps.[2].join.with`).
    pub fn input_keys(&self) -> Result<Vec<(String, String)>, String> {
        if let Some(sql) = &self.sql {
            return Ok(sql_tables(sql)?
                .into_iter()
                .map(|t| (t, "sql".to_owned()))
                .collect());
        }
        let mut names: Vec<(String, String)> = self
            .from
            .iter()
            .map(|f| (f.clone(), "from".to_owned()))
            .collect();
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                StepSpec::Join(j) => names.push((j.with.clone(), format!("steps.[{i}].join.with"))),
                StepSpec::Union(u) => {
                    names.extend(u.iter().map(|t| (t.clone(), format!("steps.[{i}].union"))));
                }
                _ => {}
            }
        }
        Ok(names)
    }
}

/// The tables a SQL query reads, without the names its `WITH` clause defines.
pub fn sql_tables(sql: &str) -> Result<Vec<String>, String> {
    let tables = polars::sql::extract_table_identifiers(sql, false, true)
        .map_err(|e| crate::sql::clean(&e))?;
    let defined = cte_names(sql);
    Ok(tables
        .into_iter()
        .filter(|t| !defined.iter().any(|d| d.eq_ignore_ascii_case(t)))
        .collect())
}

/// Names defined as `name AS (` (common table expressions).
fn cte_names(sql: &str) -> Vec<String> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    let mut names = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        let after = words.get(i + 2).copied().unwrap_or("");
        let name = w.trim_start_matches(',').trim_matches('"');
        if next.eq_ignore_ascii_case("as") && after.starts_with('(') && !name.is_empty() {
            names.push(name.to_owned());
        } else if let Some(n) = next
            .strip_prefix("AS(")
            .or_else(|| next.strip_prefix("as("))
            .map(|_| name)
        {
            names.push(n.to_owned());
        }
    }
    names
}

/// One step of a declarative transform: a map with one step key (`join: {...}`), and `agg`
/// beside `group_by`.
#[derive(Debug, Clone, PartialEq)]
pub enum StepSpec {
    Select(Vec<SelectItem>),
    Rename(IndexMap<String, String>),
    Filter(String),
    WithColumns(IndexMap<String, String>),
    Join(JoinSpec),
    GroupBy {
        by: Vec<String>,
        agg: IndexMap<String, AggSpec>,
    },
    Sort(Vec<SortKey>),
    Limit(usize),
    FillNull(IndexMap<String, Value>),
    Cast(IndexMap<String, String>),
    Distinct(Option<Vec<String>>),
    Explode(Vec<String>),
    Union(Vec<String>),
}

/// The step names, in the order the reference lists them.
pub const STEP_NAMES: [&str; 14] = [
    "select",
    "rename",
    "filter",
    "with_columns",
    "join",
    "group_by",
    "sort",
    "limit",
    "fill_null",
    "cast",
    "distinct",
    "explode",
    "union",
    "agg",
];

impl StepSpec {
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
}

/// `select: [id, name, { company: company__name }]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectItem {
    /// The column read.
    pub column: String,
    /// The name it gets (the column's own name by default).
    pub alias: String,
}

/// `join: { with, on | left_on + right_on, how, suffix }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct JoinSpec {
    /// The table joined: a source or an earlier transform.
    pub with: String,
    /// Key column(s) of the same name on both sides.
    pub on: Option<OneOrMany>,
    /// Key column(s) of this side.
    pub left_on: Option<OneOrMany>,
    /// Key column(s) of the joined table.
    pub right_on: Option<OneOrMany>,
    /// `inner` (default), `left`, `full`, `semi` or `anti`.
    #[serde(default)]
    pub how: JoinHow,
    /// Added to clashing column names of the joined table (default `_right`).
    pub suffix: Option<String>,
}

/// A name, or a list of names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::One(n) => vec![n.clone()],
            Self::Many(n) => n.clone(),
        }
    }
}

/// Join kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JoinHow {
    #[default]
    Inner,
    Left,
    Full,
    Semi,
    Anti,
}

/// One aggregate of `agg`: `count` (rows), or `{ sum: column }` and the like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggSpec {
    pub function: AggFunction,
    /// The column aggregated; `None` for `count` of rows.
    pub column: Option<String>,
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunction {
    Count,
    CountDistinct,
    Sum,
    Mean,
    Min,
    Max,
    First,
    Last,
}

/// The aggregate names, as written.
pub const AGG_NAMES: [&str; 8] = [
    "count",
    "count_distinct",
    "sum",
    "mean",
    "min",
    "max",
    "first",
    "last",
];

impl AggFunction {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "count" => Self::Count,
            "count_distinct" => Self::CountDistinct,
            "sum" => Self::Sum,
            "mean" => Self::Mean,
            "min" => Self::Min,
            "max" => Self::Max,
            "first" => Self::First,
            "last" => Self::Last,
            _ => return None,
        })
    }
}

/// A sort key: a column and a direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub column: String,
    pub descending: bool,
}

/// What did-you-mean offers for a wrong name.
pub(crate) fn suggest<'a>(wrong: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    // Close in edits (a typo, a dropped letter) or in shape (a shared prefix).
    let allowed = (wrong.chars().count() / 3).max(2);
    let best = names
        .into_iter()
        .filter(|n| *n != wrong)
        .map(|n| {
            let edits = strsim::levenshtein(&wrong.to_lowercase(), &n.to_lowercase());
            (edits, strsim::jaro_winkler(wrong, n), n)
        })
        .filter(|(edits, jw, _)| *edits <= allowed || *jw > 0.88)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    best.map_or_else(String::new, |(_, _, n)| format!("; did you mean `{n}`?"))
}

/// A did-you-mean when a name is close, else the list of what is accepted.
pub(crate) fn hint_or_list<'a>(
    wrong: &str,
    names: impl IntoIterator<Item = &'a str> + Clone,
    what: &str,
) -> String {
    let hint = suggest(wrong, names.clone());
    if hint.is_empty() {
        let all: Vec<&str> = names.into_iter().collect();
        format!("; the {what} are {}", all.join(", "))
    } else {
        hint
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn names(value: &Value, what: &str) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{what} takes column names; `{v}` is not one"))
            })
            .collect(),
        other => Err(format!(
            "{what} takes a column name or a list of them, not `{other}`"
        )),
    }
}

fn string_map(
    value: &Value,
    what: &str,
    example: &str,
) -> Result<IndexMap<String, String>, String> {
    let Value::Object(map) = value else {
        return Err(format!("{what} takes a map, e.g. `{example}`"));
    };
    map.iter()
        .map(|(k, v)| {
            text(v)
                .map(|t| (k.clone(), t))
                .ok_or_else(|| format!("{what}: the value of `{k}` must be text, e.g. `{example}`"))
        })
        .collect()
}

impl StepSpec {
    /// Reads one step from its map.
    fn from_map(map: &serde_json::Map<String, Value>) -> Result<Self, String> {
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        let kind = keys
            .iter()
            .find(|k| STEP_NAMES.contains(k) && **k != "agg")
            .copied();
        let Some(kind) = kind else {
            let first = keys.first().copied().unwrap_or("");
            return Err(format!(
                "`{first}` is not a step{}",
                hint_or_list(first, STEP_NAMES[..13].iter().copied(), "steps")
            ));
        };
        for k in &keys {
            if *k != kind && !(kind == "group_by" && *k == "agg") {
                return Err(if STEP_NAMES.contains(k) {
                    format!(
                        "one step per list item: `{kind}` and `{k}` are both here; start `{k}` with its own `-`"
                    )
                } else {
                    format!("`{k}` is not a key of `{kind}`{}", suggest(k, ["agg"]))
                });
            }
        }
        let value = &map[kind];
        Ok(match kind {
            "select" => Self::Select(select_items(value)?),
            "rename" => Self::Rename(string_map(value, "rename", "{ old: new }")?),
            "filter" => Self::Filter(
                text(value).ok_or("filter takes an expression, e.g. `filter: \"total > 0\"`")?,
            ),
            "with_columns" => Self::WithColumns(string_map(
                value,
                "with_columns",
                "{ margin: \"price - cost\" }",
            )?),
            "join" => {
                Self::Join(serde_json::from_value(value.clone()).map_err(|e| format!("join: {e}"))?)
            }
            "group_by" => {
                let by = names(value, "group_by")?;
                let agg = match map.get("agg") {
                    Some(Value::Object(a)) => a
                        .iter()
                        .map(|(out, spec)| Ok((out.clone(), agg_spec(out, spec)?)))
                        .collect::<Result<_, String>>()?,
                    Some(_) => {
                        return Err("agg takes a map of output columns, e.g. `agg: { posts: count, total: { sum: amount } }`".into());
                    }
                    None => {
                        return Err(
                            "group_by needs `agg` beside it, e.g. `agg: { posts: count }`".into(),
                        );
                    }
                };
                Self::GroupBy { by, agg }
            }
            "sort" => Self::Sort(sort_keys(value)?),
            "limit" => Self::Limit(
                value
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or("limit takes a whole number of rows")?,
            ),
            "fill_null" => match value {
                Value::Object(m) => Self::FillNull(m.clone().into_iter().collect()),
                _ => return Err(
                    "fill_null takes a map of columns and values, e.g. `fill_null: { total: 0 }`"
                        .into(),
                ),
            },
            "cast" => Self::Cast(string_map(value, "cast", "{ id: int64 }")?),
            "distinct" => match value {
                Value::Bool(true) | Value::Null => Self::Distinct(None),
                other => {
                    let cols = names(other, "distinct")?;
                    if cols.is_empty() {
                        return Err("distinct: name at least one column, or write `distinct: true` for whole rows".into());
                    }
                    Self::Distinct(Some(cols))
                }
            },
            "explode" => Self::Explode(names(value, "explode")?),
            "union" => Self::Union(names(value, "union")?),
            _ => unreachable!("every step name is handled"),
        })
    }
}

fn select_items(value: &Value) -> Result<Vec<SelectItem>, String> {
    let Value::Array(items) = value else {
        return Err(
            "select takes a list, e.g. `select: [id, name, { company: company__name }]`".into(),
        );
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(c) => out.push(SelectItem {
                column: c.clone(),
                alias: c.clone(),
            }),
            Value::Object(m) if m.len() == 1 => {
                let (alias, column) = m
                    .iter()
                    .next()
                    .map(|(a, c)| (a.clone(), c.clone()))
                    .unwrap_or_default();
                let column = column
                    .as_str()
                    .ok_or_else(|| format!("select: `{alias}: ...` must name a column"))?
                    .to_owned();
                out.push(SelectItem { column, alias });
            }
            other => {
                return Err(format!(
                    "select: `{other}` is neither a column nor `{{ new_name: column }}`"
                ));
            }
        }
    }
    Ok(out)
}

fn agg_spec(out: &str, spec: &Value) -> Result<AggSpec, String> {
    let unknown = |f: &str| {
        format!(
            "agg `{out}`: `{f}` is not an aggregate{}",
            hint_or_list(f, AGG_NAMES.iter().copied(), "aggregates")
        )
    };
    match spec {
        Value::String(f) if f == "count" => Ok(AggSpec {
            function: AggFunction::Count,
            column: None,
        }),
        Value::String(f) => Err(if AggFunction::parse(f).is_some() {
            format!("agg `{out}`: `{f}` needs a column: `{{ {f}: column }}`")
        } else {
            unknown(f)
        }),
        Value::Object(m) if m.len() == 1 => {
            let (f, column) = m
                .iter()
                .next()
                .map(|(f, c)| (f.clone(), c.clone()))
                .unwrap_or_default();
            let function = AggFunction::parse(&f).ok_or_else(|| unknown(&f))?;
            let column = column
                .as_str()
                .ok_or_else(|| format!("agg `{out}`: `{f}` takes a column name"))?
                .to_owned();
            Ok(AggSpec {
                function,
                column: Some(column),
            })
        }
        other => Err(format!(
            "agg `{out}`: `{other}` is not an aggregate; write `count` or `{{ sum: column }}`"
        )),
    }
}

fn sort_keys(value: &Value) -> Result<Vec<SortKey>, String> {
    let items = match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(c) => Ok(SortKey {
                column: c.clone(),
                descending: false,
            }),
            Value::Object(m) if m.len() == 1 => {
                let (c, dir) = m
                    .iter()
                    .next()
                    .map(|(c, d)| (c.clone(), d.clone()))
                    .unwrap_or_default();
                let descending = match dir.as_str() {
                    Some("asc") => false,
                    Some("desc") => true,
                    _ => {
                        return Err(format!("sort: `{c}` takes `asc` or `desc`, not `{dir}`"));
                    }
                };
                Ok(SortKey {
                    column: c,
                    descending,
                })
            }
            other => Err(format!(
                "sort: `{other}` is neither a column nor `{{ column: desc }}`"
            )),
        })
        .collect()
}

impl schemars::JsonSchema for StepSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Step".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        use serde_json::json;
        let text = json!({ "type": "string" });
        let columns = json!({ "anyOf": [text, { "type": "array", "items": text }] });
        let text_map = json!({ "type": "object", "additionalProperties": text });
        let scalar = json!({ "type": ["string", "number", "boolean"] });
        let single = |value: serde_json::Value| json!({ "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": value });
        let sort_key = json!({ "anyOf": [text, single(json!({ "enum": ["asc", "desc"] }))] });
        let agg = json!({
            "type": "object",
            "additionalProperties": {
                "anyOf": [
                    { "const": "count" },
                    {
                        "type": "object", "minProperties": 1, "maxProperties": 1,
                        "propertyNames": { "enum": AGG_NAMES },
                        "additionalProperties": text
                    }
                ]
            }
        });
        let join = serde_json::Value::from(generator.subschema_for::<JoinSpec>());
        let steps = [
            (
                "select",
                json!({ "type": "array", "items": { "anyOf": [text, single(text.clone())] } }),
                "Keep these columns, in this order; `{ new_name: column }` renames.",
            ),
            ("rename", text_map.clone(), "`{ old: new }`."),
            (
                "filter",
                scalar.clone(),
                "Keep the rows where the expression is true.",
            ),
            (
                "with_columns",
                json!({ "type": "object", "additionalProperties": scalar }),
                "`{ name: expression }`: add or replace columns.",
            ),
            ("join", join, "Join another table."),
            (
                "sort",
                json!({ "anyOf": [sort_key, { "type": "array", "items": sort_key }] }),
                "Columns, each ascending or `{ column: desc }`.",
            ),
            (
                "limit",
                json!({ "type": "integer", "minimum": 0 }),
                "Keep the first N rows.",
            ),
            (
                "fill_null",
                json!({ "type": "object" }),
                "`{ column: value }`: replace nulls.",
            ),
            ("cast", text_map, "`{ column: type }`."),
            (
                "distinct",
                json!({ "anyOf": [{ "const": true }, { "type": "null" }, text, { "type": "array", "items": text, "minItems": 1 }] }),
                "`true` for whole rows, or the columns that identify a row.",
            ),
            (
                "explode",
                columns.clone(),
                "One row per element of these list columns.",
            ),
            ("union", columns.clone(), "Append the rows of these tables."),
        ];
        let mut one_of: Vec<serde_json::Value> = steps
            .into_iter()
            .map(|(name, value, description)| {
                json!({
                    "type": "object",
                    "description": description,
                    "properties": { name: value },
                    "required": [name],
                    "additionalProperties": false
                })
            })
            .collect();
        one_of.push(json!({
            "type": "object",
            "description": "Group rows by these columns and aggregate: `agg: { posts: count, total: { sum: amount } }`.",
            "properties": { "group_by": columns, "agg": agg },
            "required": ["group_by", "agg"],
            "additionalProperties": false
        }));
        schemars::json_schema!({
            "description": "One step: a map with one step name (`select`, `rename`, `filter`, `with_columns`, `join`, `group_by` with `agg`, `sort`, `limit`, `fill_null`, `cast`, `distinct`, `explode`, `union`).",
            "oneOf": one_of
        })
    }
}

impl<'de> Deserialize<'de> for StepSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match &value {
            Value::Object(map) => Self::from_map(map).map_err(serde::de::Error::custom),
            Value::String(s) => Err(serde::de::Error::custom(format!(
                "a step is a map such as `- {s}: ...`{}",
                suggest(s, STEP_NAMES.iter().copied())
            ))),
            other => Err(serde::de::Error::custom(format!(
                "a step is a map such as `- select: [id, name]`, not `{other}`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn step(v: Value) -> Result<StepSpec, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_step_form() {
        assert_eq!(
            step(json!({"select": ["id", {"company": "company__name"}]})).unwrap(),
            StepSpec::Select(vec![
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
        let StepSpec::GroupBy { by, agg } = g else {
            panic!()
        };
        assert_eq!(by, vec!["userId".to_owned()]);
        assert_eq!(agg["t"].function, AggFunction::Sum);
        assert_eq!(
            step(json!({"sort": ["a", {"b": "desc"}]})).unwrap(),
            StepSpec::Sort(vec![
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
            StepSpec::Distinct(None)
        );
        assert_eq!(step(json!({"limit": 3})).unwrap(), StepSpec::Limit(3));
    }

    #[test]
    fn wrong_steps_say_what_to_write() {
        assert!(
            step(json!({"jion": {}}))
                .unwrap_err()
                .contains("did you mean `join`?")
        );
        assert!(
            step(json!({"group_by": "a"}))
                .unwrap_err()
                .contains("needs `agg`")
        );
        assert!(
            step(json!({"group_by": "a", "agg": {"n": "cnt"}}))
                .unwrap_err()
                .contains("did you mean `count`?")
        );
        assert!(
            step(json!({"select": ["a"], "limit": 3}))
                .unwrap_err()
                .contains("one step per list item")
        );
    }

    #[test]
    fn tables_of_sql_leave_ctes_out() {
        let sql = "WITH per_post AS (SELECT postId FROM comments) SELECT * FROM posts p JOIN per_post c ON c.postId = p.id";
        let mut t = sql_tables(sql).unwrap();
        t.sort();
        assert_eq!(t, vec!["comments".to_owned(), "posts".to_owned()]);
    }
}
