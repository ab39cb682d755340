//! An OAuth2 token endpoint (client credentials) and the check of the tokens it issued.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::json;

use crate::config::OAuth2Mock;
use crate::http::{Request, Response, parse_query};

#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: Mutex<HashMap<String, Token>>,
}

#[derive(Debug)]
struct Token {
    expires: Instant,
    uses: u32,
}

impl Tokens {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Token>> {
        self.issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `POST /oauth/token`, form-encoded, credentials in the form or in basic auth.
    pub(crate) fn issue(&self, request: &Request, config: &OAuth2Mock) -> Response {
        if request.method != "POST" {
            return Response::error(405, "the token endpoint takes a POST");
        }
        let form = parse_query(&String::from_utf8_lossy(&request.body));
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if field("grant_type") != Some("client_credentials") {
            return Response::error(400, "unsupported_grant_type");
        }
        let basic = request
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "))
            .map(str::to_owned);
        let expected_basic = crate::http::base64(
            format!("{}:{}", config.client_id, config.client_secret).as_bytes(),
        );
        let form_ok = field("client_id") == Some(config.client_id.as_str())
            && field("client_secret") == Some(config.client_secret.as_str());
        if !form_ok && basic.as_deref() != Some(expected_basic.as_str()) {
            return Response::error(401, "invalid_client");
        }
        let mut issued = self.lock();
        let token = format!("mock-access-{}", issued.len() + 1);
        issued.insert(
            token.clone(),
            Token {
                expires: Instant::now() + config.expires_in,
                uses: 0,
            },
        );
        let body = json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": config.expires_in.as_secs(),
            "scope": field("scope"),
        });
        Response::json(200, body.to_string().into_bytes())
    }

    /// Whether the request carries a token this server issued, still valid.
    pub(crate) fn valid(&self, request: &Request, config: &OAuth2Mock) -> bool {
        let Some(token) = request
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
        else {
            return false;
        };
        let mut issued = self.lock();
        let Some(t) = issued.get_mut(token) else {
            return false;
        };
        t.uses += 1;
        t.expires > Instant::now() && config.max_uses.is_none_or(|max| t.uses <= max)
    }

    /// Tokens issued so far.
    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }
}
