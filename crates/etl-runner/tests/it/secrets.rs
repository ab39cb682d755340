//! Credentials never appear in stdout, stderr (debug JSON logs) or any file written, through
//! success, retries and failure, even when the server echoes them back.

use etl_mockapi::{AuthRequirement, Faults, MockConfig};

use crate::{engagement_with, etl, files, mock};

const AUTH_LINE: &str =
    "# auth: { type: bearer, token: \"${API_TOKEN}\" }   # JSONPlaceholder needs none";

#[test]
#[allow(clippy::too_many_lines)] // one scenario: a success, retries and a failure, every output read
fn secrets_stay_secret_through_success_retries_and_failure() {
    let cases = [
        (
            "bearer",
            AuthRequirement::Bearer("sekret-bearer-7f3a".into()),
            "{ type: bearer, token: \"${SECRET}\" }",
        ),
        (
            "api_key header",
            AuthRequirement::Header {
                name: "X-API-Key".into(),
                value: "sekret-header-91c2".into(),
            },
            "{ type: api_key, key: \"${SECRET}\" }",
        ),
        (
            "api_key query",
            AuthRequirement::Query {
                name: "api_key".into(),
                value: "sekret-query-55d0".into(),
            },
            "{ type: api_key, key: \"${SECRET}\", query: api_key }",
        ),
        (
            "basic",
            AuthRequirement::Basic {
                username: "etl".into(),
                password: "sekret-basic-a8e4".into(),
            },
            "{ type: basic, username: etl, password: \"${SECRET}\" }",
        ),
    ];
    for (name, requirement, auth) in cases {
        let secret = match &requirement {
            AuthRequirement::Bearer(v) => v.clone(),
            AuthRequirement::Header { value, .. } | AuthRequirement::Query { value, .. } => {
                value.clone()
            }
            AuthRequirement::Basic { password, .. } => password.clone(),
        };
        let auth_line = format!("auth: {auth}");
        let retries = [
            (AUTH_LINE, auth_line.as_str()),
            (
                "retry: { max_attempts: 5, initial_backoff: 500ms, max_backoff: 30s, max_elapsed: 5m }",
                "retry: { max_attempts: 3, initial_backoff: 5ms, max_backoff: 20ms }",
            ),
            ("  rate_limit: { requests: 10, per: 1s, burst: 5 }\n", ""),
        ];
        let env = |s: &str| vec![("SECRET", s.to_owned()), ("RUST_LOG", "debug".to_owned())];
        let faults = Faults {
            status_500: 0.2,
            truncate: 0.1,
            seed: 3,
            ..Faults::default()
        };
        let runs = [
            // Success, with retries on the way.
            (
                MockConfig {
                    auth: Some(requirement.clone()),
                    faults,
                    ..MockConfig::default()
                },
                secret.clone(),
                0,
            ),
            // Failure: the server wants another secret, and echoes the one it got.
            (
                MockConfig {
                    auth: Some(match &requirement {
                        AuthRequirement::Bearer(_) => AuthRequirement::Bearer("other".into()),
                        AuthRequirement::Header { name, .. } => AuthRequirement::Header {
                            name: name.clone(),
                            value: "other".into(),
                        },
                        AuthRequirement::Query { name, .. } => AuthRequirement::Query {
                            name: name.clone(),
                            value: "other".into(),
                        },
                        AuthRequirement::Basic { username, .. } => AuthRequirement::Basic {
                            username: username.clone(),
                            password: "other".into(),
                        },
                    }),
                    ..MockConfig::default()
                },
                secret.clone(),
                1,
            ),
            // Failure after retries: every answer a 503.
            (
                MockConfig {
                    auth: Some(requirement.clone()),
                    faults: Faults {
                        status_503: 1.0,
                        ..Faults::default()
                    },
                    ..MockConfig::default()
                },
                secret.clone(),
                1,
            ),
        ];
        for (config, secret, code) in runs {
            let api = mock(config);
            let vars = env(&secret);
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("p.yaml"), engagement_with(&retries)).unwrap();
            let url = api.url();
            let mut all = vars.clone();
            all.push(("API_BASE_URL", &url));
            let out = etl(dir.path(), &["--log-format", "json", "run", "p.yaml"], &all);
            assert_eq!(out.code, code, "{name}: {out:?}");
            let basic = format!("etl:{secret}");
            let mut needles = vec![secret.clone()];
            if name == "basic" {
                needles.push(base64(basic.as_bytes()));
            }
            let mut haystacks = vec![
                ("stdout", out.stdout.clone()),
                ("stderr", out.stderr.clone()),
            ];
            for file in files(dir.path()) {
                let text = String::from_utf8_lossy(&std::fs::read(dir.path().join(&file)).unwrap())
                    .into_owned();
                haystacks.push(("a file", text));
            }
            for needle in &needles {
                for (place, text) in &haystacks {
                    if *place == "a file" && text.contains("${SECRET}") {
                        continue; // the pipeline file names the variable, not its value
                    }
                    assert!(
                        !text.contains(needle.as_str()),
                        "{name}: `{needle}` in {place}"
                    );
                }
            }
            let first = out.stderr.lines().next().unwrap_or("{}");
            assert!(
                first.starts_with('{') || first.starts_with("error:"),
                "{name}: logs are JSON: {first}"
            );
        }
    }
}

fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                TABLE[(n >> (18 - 6 * i)) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    out
}
