use reqwest::RequestBuilder;

use crate::secret::Secret;

/// `auth: { type: basic, username, password }`.
#[derive(Debug, Clone)]
pub struct Basic {
    username: String,
    password: Secret,
}

impl Basic {
    pub(crate) fn new(username: String, password: Secret) -> Self {
        Self { username, password }
    }

    pub(crate) fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        request.basic_auth(&self.username, Some(self.password.expose()))
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.password
    }
}
