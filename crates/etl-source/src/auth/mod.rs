//! Credentials attached to requests. One file per `auth: { type: ... }`.

mod api_key;
mod basic;
mod bearer;
mod oauth2;

use etl_config::{ConfigError, KeyPath};
use reqwest::RequestBuilder;

pub(crate) use oauth2::{OAuth2, TokenError};

use crate::secret::Secret;
use crate::spec::AuthSpec;

/// Built credentials, ready to attach.
#[derive(Debug, Clone)]
pub enum Auth {
    Bearer(bearer::Bearer),
    ApiKey(api_key::ApiKey),
    Basic(basic::Basic),
    OAuth2(oauth2::OAuth2),
}

impl Auth {
    /// Builds credentials from the spec; `key` is where the spec sits, for error messages.
    pub(crate) fn build(spec: &AuthSpec, key: &KeyPath) -> Result<Self, ConfigError> {
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
            AuthSpec::Oauth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => Auth::OAuth2(oauth2::OAuth2::new(
                token_url,
                client_id.clone(),
                client_secret.clone(),
                scope.clone(),
                key,
            )?),
        })
    }

    /// Attaches the credentials; `token` is the OAuth2 token fetched for this request.
    pub(crate) fn apply(&self, request: RequestBuilder, token: Option<&Secret>) -> RequestBuilder {
        match (self, token) {
            (Auth::Bearer(a), _) => a.apply(request),
            (Auth::ApiKey(a), _) => a.apply(request),
            (Auth::Basic(a), _) => a.apply(request),
            (Auth::OAuth2(_), Some(t)) => request.bearer_auth(t.expose()),
            (Auth::OAuth2(_), None) => request,
        }
    }

    /// The values to keep out of every message.
    pub(crate) fn secrets(&self) -> Vec<Secret> {
        match self {
            Auth::Bearer(a) => vec![a.secret().clone()],
            Auth::ApiKey(a) => vec![a.secret().clone()],
            Auth::Basic(a) => a.secrets().into_iter().cloned().collect(),
            Auth::OAuth2(a) => a.secrets(),
        }
    }

    /// The name of a query parameter carrying the credential, if any (`api_key`).
    pub(crate) fn query_param(&self) -> Option<&str> {
        match self {
            Auth::ApiKey(a) => a.query_param(),
            _ => None,
        }
    }
}

fn empty_secret(key: &KeyPath, field: &str) -> ConfigError {
    ConfigError::new(key.key(field), "is empty")
        .with_hint("set the environment variable it names, or give the value")
}
