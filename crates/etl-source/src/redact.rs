//! What a message may show of a request: URLs without their user and password, values of
//! sensitive query parameters masked, known secrets taken out of any text. A leaf: it uses no
//! other module of the crate.

use url::Url;

/// What a masked value is shown as.
const MASK: &str = "***";

/// Names of query parameters (and headers) whose values are masked wherever they are shown.
pub(crate) fn is_sensitive_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "signature",
        "auth",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Headers that carry credentials: those named like a sensitive parameter, and `Cookie`.
pub(crate) fn is_sensitive_header(name: &str) -> bool {
    is_sensitive_param(name) || name.eq_ignore_ascii_case("cookie")
}

/// The value of parameter `name` as shown: masked when the name is sensitive.
fn masked<'a>(name: &str, value: &'a str) -> &'a str {
    if is_sensitive_param(name) {
        MASK
    } else {
        value
    }
}

/// `name=value` as shown in a message (not URL-encoded), the value masked when sensitive.
pub(crate) fn shown_param(name: &str, value: &str) -> String {
    format!("{name}={}", masked(name, value))
}

/// The URL of a request as shown to people, with `params` added to its query: user and
/// password removed, sensitive values masked.
pub(crate) fn display_url(url: &Url, params: &[(String, String)]) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    let existing: Vec<(String, String)> = shown
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if existing.is_empty() && params.is_empty() {
        shown.set_query(None);
        return shown.to_string();
    }
    {
        let mut q = shown.query_pairs_mut();
        q.clear();
        for (k, v) in existing.iter().chain(params) {
            q.append_pair(k, masked(k, v));
        }
    }
    shown.to_string()
}

/// A URL as written in the pipeline, made safe to show: as [`display_url`] when it parses, as
/// written otherwise.
pub(crate) fn display_written_url(written: &str) -> String {
    Url::parse(written).map_or_else(|_| written.to_owned(), |u| display_url(&u, &[]))
}

/// `text` with every occurrence of each secret (and of its URL-encoded form) replaced by
/// `***`.
pub(crate) fn redact<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_owned();
    for value in secrets {
        if value.len() < 3 {
            // Too short to search for without masking unrelated text; such values are
            // never shown by etl's own messages, which are built from redacted parts.
            continue;
        }
        out = out.replace(value, MASK);
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        if encoded != value {
            out = out.replace(&encoded, MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_mask_sensitive_params() {
        let url = Url::parse("https://user:pw@h/x?a=1").unwrap();
        let shown = display_url(
            &url,
            &[
                ("api_key".into(), "s3cret".into()),
                ("page".into(), "2".into()),
            ],
        );
        assert_eq!(shown, "https://h/x?a=1&api_key=***&page=2");
        assert_eq!(shown_param("access_token", "abc"), "access_token=***");
        assert_eq!(shown_param("page", "2"), "page=2");
        assert_eq!(display_written_url("not a url"), "not a url");
        assert!(is_sensitive_header("Cookie") && is_sensitive_header("X-API-Key"));
        assert!(!is_sensitive_header("Accept"));
    }

    #[test]
    fn redacts_plain_and_encoded_forms() {
        assert_eq!(redact("x=a+b%2Fc y=a b/c", ["a b/c"]), "x=*** y=***");
        assert_eq!(redact("id=ab", ["ab"]), "id=ab");
    }
}
