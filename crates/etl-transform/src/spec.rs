use serde::Deserialize;

/// One entry of `transforms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct TransformSpec {
    /// A polars SQL query. Its tables are the sources and the transforms listed before this
    /// one, by name; nested fields are flattened columns (`company__name`).
    pub sql: String,
    /// What the transform computes (shown by `etl validate`).
    pub description: Option<String>,
}
