//! The `transforms` section as written: `sql:`, or `from:` plus `steps:`, and `checks:`.
//! These types mirror the YAML and carry no behaviour; `build` (in `transform.rs`) checks them
//! and gives a `Transform`.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

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
}

/// One step of a declarative transform as written: a map with one step name (`join: {...}`),
/// and `agg` beside `group_by`. Any value is taken here; `build` reads it into a `Step`, so
/// that every mistake is reported with its key and the word at fault.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct StepSpec(pub(crate) Value);

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

/// `join: { with, on | keys | left_on + right_on, how, suffix }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct JoinSpec {
    /// The table joined: a source or an earlier transform.
    pub with: String,
    /// Key column(s) of the same name on both sides. YAML 1.1 tools (PyYAML, yamllint) read a
    /// bare `on` as `true`: quote it (`"on": id`) or write `keys`.
    pub on: Option<OneOrMany>,
    /// The same as `on` (give one of the two), under a name no YAML loader reads as `true`.
    pub keys: Option<OneOrMany>,
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

/// The keys of `join`, as [`JoinSpec`] has them.
pub(crate) const JOIN_KEYS: [&str; 7] =
    ["with", "on", "keys", "left_on", "right_on", "how", "suffix"];

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

/// The join kinds, as written.
pub(crate) const JOIN_KINDS: [&str; 5] = ["inner", "left", "full", "semi", "anti"];

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

/// `checks:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ChecksSpec {
    /// The table must have at least this many rows.
    pub min_rows: Option<u64>,
    /// These columns must have a value in every row.
    #[serde(default)]
    pub not_null: Vec<String>,
    /// Each entry (a column, or a list of columns together) must not repeat.
    #[serde(default)]
    pub unique: Vec<OneOrMany>,
    /// Per column, the values it may hold (nulls are left to `not_null`).
    #[serde(default)]
    pub accepted_values: IndexMap<String, Vec<Value>>,
}

impl ChecksSpec {
    /// Each check as a reader would say it: `min_rows 1`, `not_null user_id`,
    /// `unique (user_id, day)`, `accepted_values status in ("open", "closed")`.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(n) = self.min_rows {
            out.push(format!("min_rows {n}"));
        }
        out.extend(self.not_null.iter().map(|c| format!("not_null {c}")));
        for u in &self.unique {
            out.push(match u {
                OneOrMany::One(c) => format!("unique {c}"),
                OneOrMany::Many(cs) => format!("unique ({})", cs.join(", ")),
            });
        }
        for (column, values) in &self.accepted_values {
            let values: Vec<String> = values.iter().map(Value::to_string).collect();
            out.push(format!(
                "accepted_values {column} in ({})",
                values.join(", ")
            ));
        }
        out
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keys_are_the_keys_of_the_join_spec() {
        let schema = serde_json::Value::from(schemars::schema_for!(JoinSpec));
        let properties: Vec<&str> = schema["properties"]
            .as_object()
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(properties, JOIN_KEYS);
        let kinds = serde_json::Value::from(schemars::schema_for!(JoinHow));
        assert_eq!(kinds["enum"], serde_json::json!(JOIN_KINDS));
    }

    #[test]
    fn a_step_is_taken_as_written() {
        let spec: TransformSpec = serde_json::from_value(serde_json::json!({
            "from": "users",
            "steps": [{"jion": {}}, "select", 3]
        }))
        .unwrap();
        assert_eq!(spec.steps.len(), 3);
        assert_eq!(spec.steps[2], StepSpec(serde_json::json!(3)));
    }
    #[test]
    fn checks_are_described_as_declared() {
        let spec: ChecksSpec = serde_json::from_value(serde_json::json!({
            "min_rows": 1,
            "not_null": ["user_id"],
            "unique": ["user_id", ["user_id", "day"]],
            "accepted_values": {"status": ["open", 2]}
        }))
        .unwrap();
        assert_eq!(
            spec.describe(),
            [
                "min_rows 1",
                "not_null user_id",
                "unique user_id",
                "unique (user_id, day)",
                "accepted_values status in (\"open\", 2)"
            ]
        );
    }
}
