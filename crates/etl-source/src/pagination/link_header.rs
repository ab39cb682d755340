use super::{PageInfo, PageRequest, Paginator, resolve};

/// `pagination: { type: link_header }`: RFC 8288 `Link: <url>; rel="next"`, relative URLs
/// resolved against the page they came from.
#[derive(Debug)]
pub(crate) struct LinkHeader;

impl Paginator for LinkHeader {
    fn first(&mut self) -> PageRequest {
        PageRequest::default()
    }

    fn next(&mut self, page: &PageInfo<'_>) -> Result<Option<PageRequest>, String> {
        // An empty page with a way on is followed: filtered scans return those. The loop
        // guard stops a way on that comes back.
        for value in page.headers.get_all(reqwest::header::LINK) {
            let text = value
                .to_str()
                .map_err(|_| "a `Link` header is not text".to_owned())?;
            if let Some(next) = next_link(text) {
                return Ok(Some(PageRequest {
                    url: Some(resolve(page.url, next)?),
                    ..PageRequest::default()
                }));
            }
        }
        Ok(None)
    }

    fn page_size(&self) -> Option<u64> {
        None
    }
}

/// The target of the link whose `rel` includes `next`.
fn next_link(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        // Parameters run until the comma before the next link (`, <`).
        let after = &rest[close + 1..];
        let boundary = after
            .match_indices(',')
            .find(|(c, _)| after[c + 1..].trim_start().starts_with('<'))
            .map(|(c, _)| c);
        let params = &after[..boundary.unwrap_or(after.len())];
        for param in params.split(';') {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
            {
                return Some(target);
            }
        }
        rest = &after[boundary.map_or(after.len(), |c| c + 1)..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rel_next_among_others() {
        let h = r#"<https://api/x?page=1>; rel="first", <https://api/x?page=3>; rel="next", <https://api/x?page=9>; rel="last""#;
        assert_eq!(next_link(h), Some("https://api/x?page=3"));
        assert_eq!(
            next_link(r#"</x?a=1,2>; rel="prev next"; title="n""#),
            Some("/x?a=1,2")
        );
        assert_eq!(
            next_link("<https://api/x?page=9>; rel=next"),
            Some("https://api/x?page=9")
        );
        assert_eq!(next_link(r#"<https://api/x?page=1>; rel="first""#), None);
        assert_eq!(next_link(""), None);
    }
}
