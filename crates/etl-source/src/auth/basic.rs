use etl_config::{ConfigError, KeyPath};
use reqwest::RequestBuilder;

use crate::secret::Secret;

/// `auth: { type: basic, username, password }`.
#[derive(Debug, Clone)]
pub struct Basic {
    username: String,
    password: Secret,
    /// `base64(username:password)`, as it travels: kept out of messages too.
    encoded: Secret,
}

impl Basic {
    pub(crate) fn new(
        username: String,
        password: Secret,
        key: &KeyPath,
    ) -> Result<Self, ConfigError> {
        if password.expose().is_empty() {
            return Err(super::empty_secret(key, "password"));
        }
        if username.contains(':') {
            return Err(ConfigError::new(
                key.key("username"),
                "cannot contain `:` in basic authentication",
            ));
        }
        let encoded = Secret::new(base64(
            format!("{username}:{}", password.expose()).as_bytes(),
        ));
        Ok(Self {
            username,
            password,
            encoded,
        })
    }

    pub(crate) fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        request.basic_auth(&self.username, Some(self.password.expose()))
    }

    pub(crate) fn secrets(&self) -> [&Secret; 2] {
        [&self.password, &self.encoded]
    }
}

fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_rfc_7617() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"a:b"), "YTpi");
        assert_eq!(base64(b"ab:"), "YWI6");
    }
}
