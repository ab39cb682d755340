//! `auth: { type: oauth2_client_credentials }`: a token from the token endpoint, cached,
//! refreshed shortly before it expires and once when the API answers 401.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use etl_config::{ConfigError, KeyPath};
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use crate::redact::{display_url, redact};
use crate::secret::Secret;

/// Refresh this long before the stated expiry (or at 90% of a short lifetime).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Shortest lifetime a token is kept for (`expires_in: 0` would mean a token per request).
const MIN_LIFETIME: Duration = Duration::from_secs(5);
/// Lifetime assumed when the token endpoint states none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct OAuth2 {
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    scope: Option<String>,
    /// Shared by every clone: one token for all of a source's requests.
    cache: Arc<tokio::sync::Mutex<Option<Cached>>>,
    /// Every token received, to keep out of messages.
    seen: Arc<Mutex<Vec<Secret>>>,
}

#[derive(Debug)]
struct Cached {
    token: Secret,
    refresh_at: Instant,
}

/// Why no token could be had.
#[derive(Debug)]
pub(crate) enum TokenError {
    /// The endpoint failed in a way that may pass (5xx, connection, timeout).
    Transient(String),
    /// The endpoint refused (invalid client, bad scope).
    Permanent(String),
}

impl OAuth2 {
    pub(crate) fn new(
        token_url: &str,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
        key: &KeyPath,
    ) -> Result<Self, ConfigError> {
        let token_url = Url::parse(token_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                ConfigError::new(
                    key.key("token_url"),
                    format!("`{token_url}` is not an http or https URL"),
                )
            })?;
        if client_secret.expose().is_empty() {
            return Err(super::empty_secret(key, "client_secret"));
        }
        Ok(Self {
            token_url,
            client_id,
            client_secret,
            scope,
            cache: Arc::default(),
            seen: Arc::default(),
        })
    }

    /// A valid token: the cached one, or a new one from the token endpoint.
    pub(crate) async fn token(
        &self,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Secret, TokenError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let (token, lifetime) = self.fetch(client, timeout).await?;
        // A token said to last no time at all is still used for a few seconds.
        let lifetime = lifetime.max(MIN_LIFETIME);
        let margin = REFRESH_MARGIN.min(lifetime / 10);
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime - margin,
        });
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(token.clone());
        tracing::debug!(token_url = %display_url(&self.token_url, &[]), lifetime_s = lifetime.as_secs(), "Fetched an OAuth2 token.");
        Ok(token)
    }

    /// Drops `used` from the cache (the API refused it), so the next call fetches anew.
    pub(crate) async fn invalidate(&self, used: &Secret) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| c.token == *used) {
            *cache = None;
        }
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> Result<(Secret, Duration), TokenError> {
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            form.append_pair("client_id", &self.client_id);
            form.append_pair("client_secret", self.client_secret.expose());
            if let Some(scope) = &self.scope {
                form.append_pair("scope", scope);
            }
            form.finish()
        };
        let shown = display_url(&self.token_url, &[]);
        let response = client
            .post(self.token_url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                TokenError::Transient(format!("token endpoint {shown}: {}", e.without_url()))
            })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| {
            TokenError::Transient(format!("token endpoint {shown}: {}", e.without_url()))
        })?;
        let text = redact(
            &String::from_utf8_lossy(&body),
            [self.client_secret.expose()],
        );
        let excerpt: String = text.chars().take(200).collect();
        if status == 408 || status == 429 || status >= 500 {
            return Err(TokenError::Transient(format!(
                "token endpoint {shown} answered {status}"
            )));
        }
        if !(200..300).contains(&status) {
            return Err(TokenError::Permanent(format!(
                "token endpoint {shown} answered {status}: {excerpt}; check `client_id`, \
                 `client_secret` and `scope`"
            )));
        }
        let json: Value = serde_json::from_slice(&body).map_err(|_| {
            TokenError::Transient(format!("token endpoint {shown} answered with invalid JSON"))
        })?;
        let token = json
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                TokenError::Permanent(format!(
                    "token endpoint {shown} answered without `access_token`"
                ))
            })?;
        let lifetime = json
            .get("expires_in")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        Ok((Secret::new(token), lifetime))
    }

    pub(crate) fn secrets(&self) -> Vec<Secret> {
        let mut all = vec![self.client_secret.clone()];
        all.extend(
            self.seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .cloned(),
        );
        all
    }
}
