//! The source sections of a pipeline file, as written: `http` and each entry of `sources`.
//! These types carry no behaviour; [`crate::build`] turns them into a [`crate::SourceConfig`].

use indexmap::IndexMap;
use serde::Deserialize;

use crate::duration::HumanDuration;
use crate::secret::Secret;

/// `http`: defaults for every source. Any source may override any of these keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct HttpSpec {
    /// Base URL that endpoints are joined to, e.g. `https://api.example.com/v1`.
    pub base_url: Option<String>,
    /// Time allowed for one attempt (connect, send, read the whole body). Default `30s`.
    pub timeout: Option<HumanDuration>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Query parameters sent with every request.
    #[serde(default)]
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
}

/// One entry of `sources`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SourceSpec {
    /// Path joined to `base_url` (`/users`), or an absolute URL on the same origin.
    pub endpoint: String,
    /// `GET` (default) or `POST`.
    #[serde(default)]
    pub method: Method,
    /// JSON body sent with `POST`.
    pub body: Option<serde_json::Value>,
    /// Extra query parameters (added to `http.params`).
    #[serde(default)]
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
}

/// HTTP method of a source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
}

/// `auth`: one of `bearer`, `api_key`, `basic`.
#[derive(Debug, Clone, Deserialize)]
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
}

/// `rate_limit`: at most `requests` per `per`, with bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RateLimitSpec {
    /// Requests allowed per `per`.
    pub requests: u32,
    /// The period (default `1s`).
    #[serde(default = "one_second")]
    pub per: HumanDuration,
    /// Requests that may go at once after an idle spell (default 1).
    pub burst: Option<u32>,
}

fn one_second() -> HumanDuration {
    HumanDuration::from_secs(1)
}

/// `retry`: how transient failures are retried.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
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

/// `pagination`: one of `offset`, `page`, `none`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaginationSpec {
    /// `?offset=0&limit=100`, then `offset=100`, ...: offsets advance by the records received.
    Offset(OffsetSpec),
    /// `?page=1&per_page=100`, then `page=2`, ...
    Page(PageSpec),
    /// One request.
    None {},
}

/// What a page with fewer records than asked means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShortPage {
    /// Ask once more: the server may cap page sizes silently. The source ends on an empty page.
    #[default]
    Confirm,
    /// The API never caps page sizes: a short page is the last.
    End,
}

/// `pagination: { type: offset, ... }`.
#[derive(Debug, Clone, Deserialize)]
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
    /// Dotted path of the total record count in the response body; reaching it ends the source.
    pub total_path: Option<String>,
    /// `confirm` (default) or `end`.
    #[serde(default)]
    pub short_page: ShortPage,
}

/// `pagination: { type: page, ... }`.
#[derive(Debug, Clone, Deserialize)]
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
    /// Dotted path of the page count in the response body; reaching it ends the source.
    pub total_pages_path: Option<String>,
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FlattenOptionsSpec {
    /// Between a parent's and a child's name (default `__`).
    pub separator: Option<String>,
    /// Levels of nesting flattened; deeper objects are kept as JSON text. Default: all.
    pub max_depth: Option<u32>,
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
