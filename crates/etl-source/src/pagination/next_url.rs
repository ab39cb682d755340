use serde_json::Value;

use super::{PageInfo, PageRequest, Paginator, resolve};
use crate::records::lookup;
use crate::spec::NextUrlSpec;

/// `pagination: { type: next_url }`: the next page's URL from the body (`next_url_path`),
/// absolute or relative to the page it came from.
#[derive(Debug)]
pub(crate) struct NextUrl {
    spec: NextUrlSpec,
}

impl NextUrl {
    pub(crate) fn new(spec: NextUrlSpec) -> Self {
        Self { spec }
    }
}

impl Paginator for NextUrl {
    fn first(&mut self) -> PageRequest {
        PageRequest::default()
    }

    fn next(&mut self, page: &PageInfo<'_>) -> Result<Option<PageRequest>, String> {
        // An empty page with a way on is followed: filtered scans return those. The loop
        // guard stops a way on that comes back.
        match lookup(page.body, &self.spec.next_url_path) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(PageRequest {
                url: Some(resolve(page.url, s)?),
                ..PageRequest::default()
            })),
            Some(other) => Err(format!(
                "`next_url_path: {}` is {other}, not a URL",
                self.spec.next_url_path
            )),
        }
    }

    fn page_size(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;
    use serde_json::json;
    use url::Url;

    use super::*;

    #[test]
    fn resolves_relative_and_absolute_links() {
        let mut p = NextUrl::new(NextUrlSpec {
            next_url_path: "links.next".into(),
        });
        let (headers, url) = (
            HeaderMap::new(),
            Url::parse("http://h:8/v1/items?offset=0").unwrap(),
        );
        let mut next = |body: Value| {
            p.next(&PageInfo {
                records: 3,
                body: &body,
                headers: &headers,
                url: &url,
            })
        };
        let r = next(json!({"links": {"next": "/v1/items?offset=3"}}))
            .unwrap()
            .unwrap();
        assert_eq!(r.url.unwrap().as_str(), "http://h:8/v1/items?offset=3");
        let r = next(json!({"links": {"next": "https://other/x"}}))
            .unwrap()
            .unwrap();
        assert_eq!(r.url.unwrap().as_str(), "https://other/x");
        assert!(next(json!({"links": {"next": null}})).unwrap().is_none());
        assert!(
            next(json!({"links": {"next": "ftp://x/y"}}))
                .unwrap_err()
                .contains("not http")
        );
    }
}
