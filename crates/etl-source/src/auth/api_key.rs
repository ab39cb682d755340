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
        at: &str,
    ) -> Result<Self, crate::Error> {
        if key.expose().trim().is_empty() {
            return Err(super::empty_secret(at, "key"));
        }
        let place = match (header, query) {
            (Some(_), Some(_)) => {
                return Err(crate::Error::Config {
                    key: at.to_owned(),
                    message: "give either `header` or `query`, not both".into(),
                });
            }
            (None, Some("")) => {
                return Err(crate::Error::Config {
                    key: format!("{at}.query"),
                    message: "is empty; name the query parameter that carries the key".into(),
                });
            }
            (None, Some(q)) => Place::Query(q.to_owned()),
            (h, None) => {
                let name = h.unwrap_or("X-API-Key");
                Place::Header(
                    HeaderName::try_from(name).map_err(|_| crate::Error::Config {
                        key: format!("{at}.header"),
                        message: format!("`{name}` is not a valid header name"),
                    })?,
                )
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
