use etl_config::{ConfigError, KeyPath};
use reqwest::RequestBuilder;

use crate::secret::Secret;

/// `auth: { type: bearer, token }`: `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct Bearer {
    token: Secret,
}

impl Bearer {
    pub(crate) fn new(token: Secret, key: &KeyPath) -> Result<Self, ConfigError> {
        if token.expose().trim().is_empty() {
            return Err(super::empty_secret(key, "token"));
        }
        Ok(Self { token })
    }

    pub(crate) fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(self.token.expose())
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.token
    }
}
