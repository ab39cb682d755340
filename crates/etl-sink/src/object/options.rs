//! `s3:` of a sink: [`S3Spec`] checked into [`S3Options`], and the client built from them,
//! the standard `AWS_*` variables and object_store's defaults (in that order of precedence).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use etl_config::ConfigError;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};

use crate::error::{Problems, problem};
use crate::spec::S3Spec;

/// How to reach the bucket of an `s3://` location, checked. A key left out is taken from the
/// `AWS_*` variables when the client is built. `Debug` never shows the credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    endpoint: Option<String>,
    region: Option<String>,
    path_style: Option<bool>,
    credentials: Option<Credentials>,
    allow_http: Option<bool>,
}

/// Keys given under the sink: used together, never mixed with the environment's.
#[derive(Clone, PartialEq, Eq)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field(
                "credentials",
                &self.credentials.as_ref().map_or("environment", |_| "***"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl S3Options {
    /// The settings given under the sink, for people, credentials masked:
    /// `endpoint `https://minio:9000`, region `eu-west-1`, path style, credentials ***`.
    /// Settings left out come from the `AWS_*` variables when the sink runs.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(endpoint) = &self.endpoint {
            parts.push(format!("endpoint `{endpoint}`"));
        }
        if let Some(region) = &self.region {
            parts.push(format!("region `{region}`"));
        }
        match self.path_style {
            Some(true) => parts.push("path style".to_owned()),
            Some(false) => parts.push("virtual-hosted style".to_owned()),
            None => {}
        }
        if self.allow_http == Some(true) {
            parts.push("plain HTTP allowed".to_owned());
        }
        parts.push(match &self.credentials {
            Some(_) => "credentials ***".to_owned(),
            None => "credentials from the environment".to_owned(),
        });
        parts.join(", ")
    }

    /// The credentials given under the sink, to take out of messages (never shown).
    pub(crate) fn secrets(&self) -> Vec<&str> {
        self.credentials.as_ref().map_or_else(Vec::new, |c| {
            [
                Some(&c.access_key_id),
                Some(&c.secret_access_key),
                c.session_token.as_ref(),
            ]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect()
        })
    }

    /// A client for `bucket`, and where it sends requests (for messages). Fails when the
    /// settings cannot work, e.g. a plain `http://` endpoint not allowed.
    pub fn store(&self, bucket: &str) -> Result<(Arc<dyn ObjectStore>, String), String> {
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let b = self.builder(bucket, env);
        let endpoint = b
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .filter(|e| !e.is_empty());
        let allow_http = b
            .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let server = match &endpoint {
            Some(endpoint) => format!("endpoint `{endpoint}`"),
            None => format!(
                "AWS, region `{}`",
                b.get_config_value(&AmazonS3ConfigKey::Region)
                    .unwrap_or_else(|| "us-east-1".to_owned())
            ),
        };
        if let Some(endpoint) = endpoint.filter(|e| e.starts_with("http://"))
            && !allow_http
        {
            return Err(format!(
                "endpoint `{endpoint}` is plain HTTP; use https, or for a test server on this \
                 machine set `s3.allow_http: true` (or AWS_ALLOW_HTTP=true)"
            ));
        }
        let store = b
            .build()
            .map_err(|e| format!("cannot use the settings for {server}: {e}"))?;
        Ok((Arc::new(store), server))
    }

    /// The client's settings: defaults of etl, then the `AWS_*` variables of `env`, then the
    /// keys of the sink. With credentials under the sink, the environment's are ignored (a
    /// session token of other keys would be sent with them).
    fn builder(
        &self,
        bucket: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> AmazonS3Builder {
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(60),
        };
        let mut b = AmazonS3Builder::new()
            .with_retry(retry)
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "10s",
            )
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "300s");
        let credential_keys = [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_TOKEN",
        ];
        for (key, value) in env {
            if !key.starts_with("AWS_")
                || (self.credentials.is_some() && credential_keys.contains(&key.as_str()))
            {
                continue;
            }
            if let Ok(config_key) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                b = b.with_config(config_key, value);
            }
        }
        b = b.with_bucket_name(bucket);
        if let Some(endpoint) = &self.endpoint {
            b = b.with_endpoint(endpoint);
        }
        if let Some(region) = &self.region {
            b = b.with_region(region);
        }
        if let Some(path_style) = self.path_style {
            b = b.with_virtual_hosted_style_request(!path_style);
        }
        if let Some(allow_http) = self.allow_http {
            b = b.with_allow_http(allow_http);
        }
        if let Some(c) = &self.credentials {
            b = b
                .with_access_key_id(&c.access_key_id)
                .with_secret_access_key(&c.secret_access_key);
            if let Some(token) = &c.session_token {
                b = b.with_token(token);
            }
        }
        b
    }
}

impl S3Spec {
    /// Checks `s3:` offline, its problems placed under `s3.<key>`.
    pub(crate) fn build(&self, p: &mut Problems) -> Option<S3Options> {
        let before = p.count();
        let endpoint = self
            .endpoint
            .as_deref()
            .and_then(|e| p.keep("s3.endpoint", endpoint(e)));
        let region = self
            .region
            .as_deref()
            .and_then(|r| p.keep("s3.region", region(r)));
        let credentials = self.credentials(p);
        (p.count() == before).then_some(S3Options {
            endpoint,
            region,
            path_style: self.path_style,
            credentials,
            allow_http: self.allow_http,
        })
    }

    /// `access_key_id` and `secret_access_key` together (or neither), `session_token` with
    /// them. A value is never repeated in a message.
    fn credentials(&self, p: &mut Problems) -> Option<Credentials> {
        let secrets = [
            ("access_key_id", &self.access_key_id),
            ("secret_access_key", &self.secret_access_key),
            ("session_token", &self.session_token),
        ];
        for (key, value) in secrets {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                p.push(
                    &format!("s3.{key}"),
                    problem("is empty")
                        .with_hint("is the variable it is read from (`${VAR}`) set?"),
                );
            }
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => Some(Credentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: self.session_token.clone(),
            }),
            (None, None) => {
                if self.session_token.is_some() {
                    p.push(
                        "s3.session_token",
                        problem("needs `access_key_id` and `secret_access_key` beside it"),
                    );
                }
                None
            }
            (Some(_), None) | (None, Some(_)) => {
                let (given, missing) = if self.access_key_id.is_some() {
                    ("access_key_id", "secret_access_key")
                } else {
                    ("secret_access_key", "access_key_id")
                };
                p.push(
                    &format!("s3.{missing}"),
                    problem(format!(
                        "is missing: `{given}` is given, and they go together"
                    ))
                    .with_hint(
                        "give both under `s3`, or neither to use AWS_ACCESS_KEY_ID and \
                             AWS_SECRET_ACCESS_KEY",
                    ),
                );
                None
            }
        }
    }
}

/// `http(s)://host[:port][/path]`, without credentials in it.
fn endpoint(text: &str) -> Result<String, ConfigError> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Err(problem(format!("`{text}` is not an http(s) URL"))
            .with_hint("e.g. `https://minio.internal:9000`"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(problem(format!("`{text}` names no host")));
    }
    if authority.contains('@') {
        return Err(problem("holds credentials")
            .with_hint("give them as `access_key_id` and `secret_access_key`"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// `eu-west-1`, `us-east-1`, ... (S3-compatible servers accept any such name).
fn region(text: &str) -> Result<String, ConfigError> {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if plain {
        Ok(text.to_owned())
    } else {
        Err(problem(format!("`{text}` is not a region name"))
            .with_hint("e.g. `eu-west-1`; lowercase letters, digits and `-`"))
    }
}

#[cfg(test)]
mod tests {
    use etl_config::KeyPath;

    use super::*;

    fn options(yaml: &str) -> Result<S3Options, Vec<String>> {
        let spec: S3Spec = serde_yaml::from_str(yaml).unwrap();
        let mut p = Problems::new(KeyPath::root().key("sinks").key("report"));
        let built = spec.build(&mut p);
        p.finish(built)
            .map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn debug_never_shows_the_credentials() {
        let o = options(
            "{ endpoint: 'http://127.0.0.1:9000', access_key_id: AKIDSECRETID, \
             secret_access_key: s3cr3t-key, session_token: t0ken-value, allow_http: true }",
        )
        .unwrap();
        let shown = format!("{o:?}");
        for secret in ["AKIDSECRETID", "s3cr3t-key", "t0ken-value"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("http://127.0.0.1:9000"), "{shown}");
        assert_eq!(o.secrets(), ["AKIDSECRETID", "s3cr3t-key", "t0ken-value"]);
        assert_eq!(
            o.describe(),
            "endpoint `http://127.0.0.1:9000`, plain HTTP allowed, credentials ***"
        );
        assert_eq!(
            S3Options::default().describe(),
            "credentials from the environment"
        );
    }

    #[test]
    fn bad_settings_are_reported_under_their_key_without_the_secret() {
        let found = options(
            "{ endpoint: 'minio:9000', region: 'EU West', secret_access_key: hunter2, \
             session_token: '' }",
        )
        .unwrap_err();
        assert_eq!(
            found,
            [
                "`sinks.report.s3.endpoint`: `minio:9000` is not an http(s) URL; e.g. \
                 `https://minio.internal:9000`",
                "`sinks.report.s3.region`: `EU West` is not a region name; e.g. `eu-west-1`; \
                 lowercase letters, digits and `-`",
                "`sinks.report.s3.session_token`: is empty; is the variable it is read from \
                 (`${VAR}`) set?",
                "`sinks.report.s3.access_key_id`: is missing: `secret_access_key` is given, and \
                 they go together; give both under `s3`, or neither to use AWS_ACCESS_KEY_ID \
                 and AWS_SECRET_ACCESS_KEY",
            ]
        );
        assert!(!found.concat().contains("hunter2"));
        assert!(
            options("{ endpoint: 'https://u:p@h' }").unwrap_err()[0].contains("holds credentials")
        );
    }

    #[test]
    fn sink_keys_win_over_the_environment_and_never_mix_credentials() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let vars = env(&[
            ("AWS_ENDPOINT_URL", "http://env:1"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "ENVID"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("AWS_SESSION_TOKEN", "envtoken"),
            ("AWS_ALLOW_HTTP", "true"),
            ("HOME", "/root"),
        ]);
        let from_env = S3Options::default().builder("b", vars.clone());
        let get = |b: &AmazonS3Builder, k: AmazonS3ConfigKey| b.get_config_value(&k);
        assert_eq!(
            get(&from_env, AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://env:1")
        );
        assert_eq!(
            get(&from_env, AmazonS3ConfigKey::Token).as_deref(),
            Some("envtoken")
        );
        let o = options(
            "{ endpoint: 'http://sink:2', region: us-east-2, access_key_id: SINKID, \
             secret_access_key: sinksecret, path_style: false }",
        )
        .unwrap();
        let b = o.builder("b", vars);
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://sink:2")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Region).as_deref(),
            Some("us-east-2")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::AccessKeyId).as_deref(),
            Some("SINKID")
        );
        assert_eq!(get(&b, AmazonS3ConfigKey::Token), None);
        assert_eq!(
            get(&b, AmazonS3ConfigKey::VirtualHostedStyleRequest).as_deref(),
            Some("true")
        );
        assert_eq!(get(&b, AmazonS3ConfigKey::Bucket).as_deref(), Some("b"));
    }

    #[test]
    fn plain_http_needs_allow_http() {
        let o = options("{ endpoint: 'http://127.0.0.1:9', allow_http: false }").unwrap();
        let err = o.store("b").map(|_| ()).unwrap_err();
        assert!(err.contains("set `s3.allow_http: true`"), "{err}");
    }
}
