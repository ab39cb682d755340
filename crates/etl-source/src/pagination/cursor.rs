use serde_json::Value;

use super::{PageInfo, PageRequest, Paginator};
use crate::records::lookup;
use crate::spec::CursorSpec;

/// `pagination: { type: cursor }`: the first request without a cursor, then each response's
/// cursor (at `cursor_path`) sent back in `cursor_param`, until it is missing, null or empty,
/// or `has_more_path` says false.
#[derive(Debug)]
pub(crate) struct Cursor {
    spec: CursorSpec,
}

impl Cursor {
    pub(crate) fn new(spec: CursorSpec) -> Self {
        Self { spec }
    }

    fn request(&self, cursor: Option<String>) -> PageRequest {
        let s = &self.spec;
        let mut r = PageRequest::default();
        if let Some(cursor) = cursor {
            r = r.with(PageRequest::param(
                &s.cursor_param,
                s.cursor_body_path.as_ref(),
                cursor,
            ));
        }
        if let Some(size) = self.page_size() {
            let name = s.limit_param.as_deref().unwrap_or("limit");
            r = r.with(PageRequest::param(name, s.limit_body_path.as_ref(), size));
        }
        r
    }
}

impl Paginator for Cursor {
    fn first(&mut self) -> PageRequest {
        self.request(None)
    }

    fn next(&mut self, page: &PageInfo<'_>) -> Result<Option<PageRequest>, String> {
        // An empty page with a way on is followed: filtered scans return those. The loop
        // guard stops a way on that comes back.
        if let Some(path) = &self.spec.has_more_path {
            match lookup(page.body, path) {
                Some(Value::Bool(false)) => return Ok(None),
                Some(Value::Bool(true) | Value::Null) | None => {}
                Some(other) => {
                    return Err(format!(
                        "`has_more_path: {path}` is {other}, not true or false"
                    ));
                }
            }
        }
        let cursor = match lookup(page.body, &self.spec.cursor_path) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(format!(
                    "`cursor_path: {}` is {other}, not a string or a number",
                    self.spec.cursor_path
                ));
            }
        };
        Ok(Some(self.request(Some(cursor))))
    }

    fn page_size(&self) -> Option<u64> {
        match (
            &self.spec.limit_param,
            &self.spec.limit_body_path,
            self.spec.page_size,
        ) {
            (_, _, Some(size)) => Some(size),
            (None, None, None) => None,
            _ => Some(100),
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;
    use serde_json::json;
    use url::Url;

    use super::*;

    fn spec() -> CursorSpec {
        CursorSpec {
            cursor_param: "cursor".into(),
            cursor_path: "meta.next".into(),
            limit_param: Some("limit".into()),
            page_size: Some(50),
            has_more_path: Some("meta.more".into()),
            cursor_body_path: None,
            limit_body_path: None,
        }
    }

    fn next(p: &mut Cursor, body: &Value) -> Result<Option<PageRequest>, String> {
        let (headers, url) = (HeaderMap::new(), Url::parse("http://h/").unwrap());
        p.next(&PageInfo {
            records: 5,
            body,
            headers: &headers,
            url: &url,
        })
    }

    #[test]
    fn an_empty_page_with_a_cursor_goes_on() {
        let mut p = Cursor::new(spec());
        let (headers, url) = (HeaderMap::new(), Url::parse("http://h/").unwrap());
        let body = json!({"meta": {"next": "abc", "more": true}});
        let r = p
            .next(&PageInfo {
                records: 0,
                body: &body,
                headers: &headers,
                url: &url,
            })
            .unwrap();
        assert!(r.is_some());
    }

    #[test]
    fn follows_the_cursor_until_it_ends() {
        let mut p = Cursor::new(spec());
        assert_eq!(
            p.first().params,
            vec![("limit".to_owned(), "50".to_owned())]
        );
        let r = next(&mut p, &json!({"meta": {"next": "abc", "more": true}}))
            .unwrap()
            .unwrap();
        assert_eq!(r.params[0], ("cursor".to_owned(), "abc".to_owned()));
        assert!(
            next(&mut p, &json!({"meta": {"next": "abd", "more": false}}))
                .unwrap()
                .is_none()
        );
        assert!(
            next(&mut p, &json!({"meta": {"next": null}}))
                .unwrap()
                .is_none()
        );
        assert!(
            next(&mut p, &json!({"meta": {"next": ""}}))
                .unwrap()
                .is_none()
        );
        assert!(next(&mut p, &json!({"meta": {}})).unwrap().is_none());
        assert!(
            next(&mut p, &json!({"meta": {"next": ["x"]}}))
                .unwrap_err()
                .contains("not a string")
        );
    }
}
