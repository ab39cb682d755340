//! The source sections of a pipeline file, as written: `http` and each entry of `sources`.
//! These types carry no behaviour; [`crate::build`] turns them into a [`crate::SourceConfig`].

use indexmap::IndexMap;
use serde::Deserialize;

use crate::duration::HumanDuration;
use crate::secret::Secret;

/// `http`: defaults for every source. Any source may override any of these keys.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct HttpSpec {
    /// Base URL that endpoints are joined to, e.g. `https://api.example.com/v1`.
    pub base_url: Option<String>,
    /// Time allowed for one attempt (connect, send, read the whole body). Default `30s`.
    pub timeout: Option<HumanDuration>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Query parameters sent with every request. A value may be written as text, a number
    /// or a boolean; it is sent as text (`per_page: 30` as `per_page=30`).
    #[serde(default, deserialize_with = "params")]
    #[schemars(schema_with = "params_schema")]
    pub params: IndexMap<String, String>,
    /// Credentials, attached to requests to `base_url`'s origin only.
    pub auth: Option<AuthSpec>,
    /// Client-side request budget, shared by every request to the same host.
    pub rate_limit: Option<RateLimitSpec>,
    /// Retry policy for transient failures.
    pub retry: Option<RetrySpec>,
    /// How to walk through pages.
    pub pagination: Option<PaginationSpec>,
    /// Where the records are in a response: a dotted path, or auto-detected.
    pub records: Option<String>,
    /// The longest single wait a server may impose (`Retry-After`, rate-limit resets)
    /// before the run fails instead. Default `15m`.
    pub max_wait: Option<HumanDuration>,
    /// Other hosts (`api2.example.com`, `cdn.example.com:8443`) trusted with credentials
    /// when a next link or redirect leads there.
    pub allowed_hosts: Option<Vec<String>>,
    /// Follow next links and redirects to other origins, without credentials. Default
    /// `false`: such a link fails the source.
    pub follow_foreign_links: Option<bool>,
    /// TLS settings: a private CA, a client certificate.
    pub tls: Option<TlsSpec>,
    /// Requests of one source in flight at once (parent/child fan-out, parallel pages).
    /// Default 4.
    pub concurrency: Option<u32>,
    /// The largest response body accepted (`64MiB` by default); a larger one fails the
    /// source without being read whole.
    pub max_response_size: Option<crate::ByteSize>,
}

/// Query parameters: each value a string, a number or a boolean, kept as its text.
fn params<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<IndexMap<String, String>, D::Error> {
    struct Text(String);
    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            crate::scalar::text(deserializer, "a string, a number or a boolean").map(Text)
        }
    }
    let map = IndexMap::<String, Text>::deserialize(deserializer)?;
    Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
}

fn params_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": { "type": ["string", "number", "boolean"] }
    })
}

/// `tls: { ca_file, client_cert, client_key }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct TlsSpec {
    /// PEM file of CA certificates trusted in addition to the system's.
    pub ca_file: Option<String>,
    /// PEM file of the client certificate (chain), for mutual TLS.
    pub client_cert: Option<String>,
    /// PEM file of the client certificate's private key.
    pub client_key: Option<String>,
}

/// `for_each: { source, key }`: one request series per record of another source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ForEachSpec {
    /// The parent source.
    pub source: String,
    /// The parent field whose value fills `{key}` in `endpoint`, `params` and `body`.
    pub key: String,
}

/// One entry of `sources`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SourceSpec {
    /// Path joined to `base_url` (`/users`), or an absolute URL on the same origin.
    pub endpoint: String,
    /// `GET` (default) or `POST`.
    #[serde(default)]
    pub method: Method,
    /// JSON body sent with `POST`.
    pub body: Option<serde_json::Value>,
    /// Extra query parameters (added to `http.params`); text, numbers or booleans, sent as
    /// text.
    #[serde(default, deserialize_with = "params")]
    #[schemars(schema_with = "params_schema")]
    pub params: IndexMap<String, String>,
    /// Extra headers (added to `http.headers`).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Overrides `http.base_url`.
    pub base_url: Option<String>,
    /// Overrides `http.timeout`.
    pub timeout: Option<HumanDuration>,
    /// Overrides `http.auth`.
    pub auth: Option<AuthSpec>,
    /// Overrides `http.rate_limit`.
    pub rate_limit: Option<RateLimitSpec>,
    /// Overrides `http.retry`.
    pub retry: Option<RetrySpec>,
    /// Overrides `http.pagination`.
    pub pagination: Option<PaginationSpec>,
    /// Overrides `http.records`.
    pub records: Option<String>,
    /// Overrides `http.max_wait`.
    pub max_wait: Option<HumanDuration>,
    /// Overrides `http.allowed_hosts`.
    pub allowed_hosts: Option<Vec<String>>,
    /// Overrides `http.follow_foreign_links`.
    pub follow_foreign_links: Option<bool>,
    /// Overrides `http.tls`.
    pub tls: Option<TlsSpec>,
    /// Overrides `http.concurrency`.
    pub concurrency: Option<u32>,
    /// Overrides `http.max_response_size`.
    pub max_response_size: Option<crate::ByteSize>,
    /// One request series per record of another source: `{ source: posts, key: id }`.
    pub for_each: Option<ForEachSpec>,
    /// Parent fields copied into each child record as `_{parent}_{field}`.
    #[serde(default)]
    pub include_from_parent: Vec<String>,
    /// Nested objects become `parent__child` columns: `true` (default), `false`, or
    /// `{ separator, max_depth }`.
    pub flatten: Option<FlattenSpec>,
    /// Stop after this many pages (the summary says so; exit code 0).
    pub max_pages: Option<u64>,
    /// Stop after this many records (the summary says so; exit code 0).
    pub max_records: Option<u64>,
    /// Accept zero records instead of failing the run. Default `false`.
    #[serde(default)]
    pub allow_empty: bool,
    /// A field or list of fields identifying a record: duplicates within a run are
    /// dropped, and an incremental source keeps a merged table of everything loaded.
    pub primary_key: Option<PrimaryKeySpec>,
    /// Fetch only what changed since the last successful run.
    pub incremental: Option<IncrementalSpec>,
}

/// `primary_key: id` or `primary_key: [order_id, line]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum PrimaryKeySpec {
    One(String),
    Many(Vec<String>),
}

impl PrimaryKeySpec {
    /// The key's fields, in order.
    pub fn fields(&self) -> Vec<String> {
        match self {
            Self::One(f) => vec![f.clone()],
            Self::Many(f) => f.clone(),
        }
    }
}

/// `incremental: { cursor_field, param, initial, lookback }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct IncrementalSpec {
    /// The record field whose largest value is the next run's start (`updated_at`); a
    /// date-time or an integer; a dotted path reaches into nested objects.
    pub cursor_field: String,
    /// The query parameter that takes the start (`updated_since`). Instead, `{since}` may
    /// appear in `endpoint`, `params` or `body`.
    pub param: Option<String>,
    /// Where the first run starts (`"2026-01-01T00:00:00Z"`, or an integer). Without it the
    /// first run fetches everything.
    pub initial: Option<ScalarSpec>,
    /// How far before the stored cursor each run starts: a duration (`1h`) for date-times,
    /// a number for integer cursors.
    pub lookback: Option<ScalarSpec>,
    /// The query parameter that takes `--until` (`{until}` works too); without it records
    /// after `--until` are left out as they arrive.
    pub until_param: Option<String>,
    /// strftime format of date-times sent to the API (default RFC 3339 in UTC,
    /// `2026-01-01T00:00:00Z`; `%s` for epoch seconds).
    pub format: Option<String>,
}

/// A value written as a number or as text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ScalarSpec {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for ScalarSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

/// HTTP method of a source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
}

impl Method {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// `auth`: one of `bearer`, `api_key`, `basic`, `oauth2_client_credentials`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthSpec {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token, usually `${API_TOKEN}`.
        token: Secret,
    },
    /// A key sent in a header (default `X-API-Key`) or a query parameter.
    ApiKey {
        /// The key, usually `${API_KEY}`.
        key: Secret,
        /// Header to send it in (default `X-API-Key`).
        header: Option<String>,
        /// Query parameter to send it in, instead of a header.
        query: Option<String>,
    },
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password, usually `${API_PASSWORD}`.
        password: Secret,
    },
    /// OAuth2 client credentials: a token from `token_url`, cached and refreshed.
    Oauth2ClientCredentials {
        /// The token endpoint, e.g. `https://auth.example.com/oauth/token`.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret, usually `${CLIENT_SECRET}`.
        client_secret: Secret,
        /// Scopes asked for, space-separated.
        scope: Option<String>,
    },
}

/// `rate_limit`: at most `requests` per `per`, with bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RateLimitSpec {
    /// Requests allowed per `per`.
    #[schemars(range(min = 1))]
    pub requests: u32,
    /// The period (default `1s`).
    #[serde(default = "one_second")]
    pub per: HumanDuration,
    /// Requests that may go at once after an idle spell (default 1).
    pub burst: Option<u32>,
    /// In a sharded run (`etl run --shard K/N`): the budget is each shard's own (default
    /// false: the N shards share it, each taking `requests` per N x `per`).
    #[serde(default)]
    pub per_shard: bool,
}

impl RateLimitSpec {
    /// One shard's share when `shards` processes fetch together: the same requests over
    /// `shards` times the period (bursts divided too, at least 1), unless `per_shard`.
    #[must_use]
    pub fn shared_by(self, shards: u32) -> Self {
        if self.per_shard || shards <= 1 {
            return self;
        }
        Self {
            per: HumanDuration(self.per.0 * shards),
            burst: self.burst.map(|b| (b / shards).max(1)),
            ..self
        }
    }
}

fn one_second() -> HumanDuration {
    HumanDuration::from_secs(1)
}

/// `retry`: how transient failures are retried.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RetrySpec {
    /// Attempts per request, the first included (default 5). 429s that say when to come back
    /// are not counted: `max_elapsed` and `max_wait` bound them.
    pub max_attempts: Option<u32>,
    /// First backoff (default `500ms`); doubles each retry, with jitter.
    pub initial_backoff: Option<HumanDuration>,
    /// Longest backoff (default `30s`).
    pub max_backoff: Option<HumanDuration>,
    /// Total time one request may spend retrying (default `10m`).
    pub max_elapsed: Option<HumanDuration>,
}

/// `pagination`: one of `offset`, `page`, `cursor`, `next_url`, `link_header`, `none`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaginationSpec {
    /// `?offset=0&limit=100`, then `offset=100`, ...: offsets advance by the records received.
    Offset(OffsetSpec),
    /// `?page=1&per_page=100`, then `page=2`, ...
    Page(PageSpec),
    /// A cursor from each response, sent back for the next page.
    Cursor(CursorSpec),
    /// A next-page URL from each response body.
    NextUrl(NextUrlSpec),
    /// RFC 8288 `Link: <...>; rel="next"` headers.
    LinkHeader(LinkHeaderSpec),
    /// One request.
    None {},
}

/// `pagination: { type: cursor, ... }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct CursorSpec {
    /// Query parameter the cursor is sent in (default `cursor`).
    #[serde(default = "default_cursor_param")]
    pub cursor_param: String,
    /// Dotted path of the next cursor in the response body (default `next_cursor`).
    #[serde(default = "default_cursor_path")]
    pub cursor_path: String,
    /// Query parameter of the page size, if the API takes one.
    pub limit_param: Option<String>,
    /// Records asked per page, sent in `limit_param` (default 100 when `limit_param` is set).
    pub page_size: Option<u64>,
    /// Dotted path of a boolean saying whether more pages follow.
    pub has_more_path: Option<String>,
    /// Put the cursor in the JSON body at this dotted path instead of a query parameter.
    pub cursor_body_path: Option<String>,
    /// Put the page size in the JSON body at this dotted path instead of a query parameter.
    pub limit_body_path: Option<String>,
}

/// `pagination: { type: next_url, ... }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct NextUrlSpec {
    /// Dotted path of the next page's URL (absolute or relative) in the body (default `next`).
    #[serde(default = "default_next_url_path")]
    pub next_url_path: String,
}

/// `pagination: { type: link_header }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct LinkHeaderSpec {}

/// What a page with fewer records than asked means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShortPage {
    /// Ask once more: the server may cap page sizes silently. The source ends on an empty page.
    #[default]
    Confirm,
    /// The API never caps page sizes: a short page is the last.
    End,
}

/// `pagination: { type: offset, ... }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct OffsetSpec {
    /// Query parameter of the offset (default `offset`).
    #[serde(default = "default_offset_param")]
    pub offset_param: String,
    /// Query parameter of the page size (default `limit`).
    #[serde(default = "default_limit_param")]
    pub limit_param: String,
    /// Records asked per page (default 100).
    #[serde(default = "default_page_size")]
    pub page_size: u64,
    /// First offset (default 0).
    #[serde(default)]
    pub start: u64,
    /// Dotted path of the total record count in the response body; reaching it ends the
    /// source, and lets the remaining pages be fetched in parallel.
    pub total_path: Option<String>,
    /// Put the offset in the JSON body at this dotted path instead of a query parameter.
    pub offset_body_path: Option<String>,
    /// Put the page size in the JSON body at this dotted path instead of a query parameter.
    pub limit_body_path: Option<String>,
    /// `confirm` (default) or `end`.
    #[serde(default)]
    pub short_page: ShortPage,
}

/// `pagination: { type: page, ... }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PageSpec {
    /// Query parameter of the page number (default `page`).
    #[serde(default = "default_page_param")]
    pub page_param: String,
    /// Query parameter of the page size (default `per_page`).
    #[serde(default = "default_size_param")]
    pub size_param: String,
    /// Records asked per page (default 100).
    #[serde(default = "default_page_size")]
    pub page_size: u64,
    /// Number of the first page (default 1).
    #[serde(default = "default_first_page")]
    pub first_page: u64,
    /// Dotted path of the page count in the response body; reaching it ends the source, and
    /// lets the remaining pages be fetched in parallel.
    pub total_pages_path: Option<String>,
    /// Put the page number in the JSON body at this dotted path instead of a query parameter.
    pub page_body_path: Option<String>,
    /// Put the page size in the JSON body at this dotted path instead of a query parameter.
    pub size_body_path: Option<String>,
    /// `confirm` (default) or `end`.
    #[serde(default)]
    pub short_page: ShortPage,
}

fn default_offset_param() -> String {
    "offset".into()
}
fn default_limit_param() -> String {
    "limit".into()
}
fn default_page_param() -> String {
    "page".into()
}
fn default_size_param() -> String {
    "per_page".into()
}
fn default_cursor_param() -> String {
    "cursor".into()
}
fn default_cursor_path() -> String {
    "next_cursor".into()
}
fn default_next_url_path() -> String {
    "next".into()
}
fn default_page_size() -> u64 {
    100
}
fn default_first_page() -> u64 {
    1
}

/// `flatten`: `true`, `false`, or `{ separator, max_depth }`.
#[derive(Debug, Clone)]
pub enum FlattenSpec {
    /// `true` or `false`.
    Enabled(bool),
    /// Options.
    Options(FlattenOptionsSpec),
}

/// `flatten: { separator, max_depth }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FlattenOptionsSpec {
    /// Between a parent's and a child's name (default `__`).
    pub separator: Option<String>,
    /// Levels of nesting flattened; deeper objects are kept as JSON text. Default: all.
    pub max_depth: Option<u32>,
}

impl schemars::JsonSchema for FlattenSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FlattenSpec".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let options = generator.subschema_for::<FlattenOptionsSpec>();
        schemars::json_schema!({
            "description": "`true` (default): nested objects become `parent__child` columns; `false` keeps them as JSON text; or `{ separator, max_depth }`.",
            "anyOf": [{ "type": "boolean" }, options]
        })
    }
}

impl<'de> Deserialize<'de> for FlattenSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FlattenSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`true`, `false` or `{ separator, max_depth }`")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(FlattenSpec::Enabled(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                FlattenOptionsSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(FlattenSpec::Options)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_takes_scalar_params() {
        for schema in [
            serde_json::to_value(schemars::schema_for!(HttpSpec)).unwrap(),
            serde_json::to_value(schemars::schema_for!(SourceSpec)).unwrap(),
        ] {
            let params = &schema["properties"]["params"];
            assert_eq!(
                params["additionalProperties"],
                serde_json::json!({ "type": ["string", "number", "boolean"] })
            );
            assert_eq!(params["default"], serde_json::json!({}));
            assert!(params["description"].as_str().unwrap().contains("text"));
        }
    }
}
