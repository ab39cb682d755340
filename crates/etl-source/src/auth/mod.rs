//! Credentials attached to requests. One file per `auth: { type: ... }`.

mod api_key;
mod basic;
mod bearer;

use reqwest::RequestBuilder;

use crate::secret::Secret;
use crate::spec::AuthSpec;

/// Built credentials, ready to attach.
#[derive(Debug, Clone)]
pub enum Auth {
    Bearer(bearer::Bearer),
    ApiKey(api_key::ApiKey),
    Basic(basic::Basic),
}

impl Auth {
    /// Builds credentials from the spec; `key` is where the spec sits, for error messages.
    pub(crate) fn build(spec: &AuthSpec, key: &str) -> Result<Self, crate::Error> {
        Ok(match spec {
            AuthSpec::Bearer { token } => Auth::Bearer(bearer::Bearer::new(token.clone(), key)?),
            AuthSpec::ApiKey {
                key: value,
                header,
                query,
            } => Auth::ApiKey(api_key::ApiKey::new(
                value.clone(),
                header.as_deref(),
                query.as_deref(),
                key,
            )?),
            AuthSpec::Basic { username, password } => {
                Auth::Basic(basic::Basic::new(username.clone(), password.clone(), key)?)
            }
        })
    }

    pub(crate) fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Auth::Bearer(a) => a.apply(request),
            Auth::ApiKey(a) => a.apply(request),
            Auth::Basic(a) => a.apply(request),
        }
    }

    /// The values to keep out of every message.
    pub(crate) fn secrets(&self) -> Vec<&Secret> {
        match self {
            Auth::Bearer(a) => vec![a.secret()],
            Auth::ApiKey(a) => vec![a.secret()],
            Auth::Basic(a) => a.secrets().to_vec(),
        }
    }
}

fn empty_secret(key: &str, field: &str) -> crate::Error {
    crate::Error::Config {
        key: format!("{key}.{field}"),
        message: "is empty; set the environment variable it names, or give the value".into(),
    }
}
