use etl_config::{ConfigError, KeyPath};
use reqwest::RequestBuilder;
use reqwest::header::HeaderName;

use crate::secret::Secret;

/// `auth: { type: api_key, key, header | query }`.
#[derive(Debug, Clone)]
pub struct ApiKey {
    key: Secret,
    place: Place,
}

#[derive(Debug, Clone)]
enum Place {
    Header(HeaderName),
    Query(String),
}

impl ApiKey {
    pub(crate) fn new(
        key: Secret,
        header: Option<&str>,
        query: Option<&str>,
        at: &KeyPath,
    ) -> Result<Self, ConfigError> {
        if key.expose().trim().is_empty() {
            return Err(super::empty_secret(at, "key"));
        }
        let place = match (header, query) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    at.clone(),
                    "give either `header` or `query`, not both",
                ));
            }
            (None, Some("")) => {
                return Err(ConfigError::new(at.key("query"), "is empty")
                    .with_hint("name the query parameter that carries the key"));
            }
            (None, Some(q)) => Place::Query(q.to_owned()),
            (h, None) => {
                let name = h.unwrap_or("X-API-Key");
                Place::Header(HeaderName::try_from(name).map_err(|_| {
                    ConfigError::new(
                        at.key("header"),
                        format!("`{name}` is not a valid header name"),
                    )
                })?)
            }
        };
        Ok(Self { key, place })
    }

    pub(crate) fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.place {
            Place::Header(name) => request.header(name.clone(), self.key.expose()),
            Place::Query(name) => request.query(&[(name.as_str(), self.key.expose())]),
        }
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.key
    }

    pub(crate) fn query_param(&self) -> Option<&str> {
        match &self.place {
            Place::Query(name) => Some(name),
            Place::Header(_) => None,
        }
    }
}
