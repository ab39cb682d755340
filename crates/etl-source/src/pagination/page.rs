use super::{Ahead, PageInfo, PageRequest, Paginator, number_at};
use crate::spec::{PageSpec, ShortPage};

/// `pagination: { type: page }`: `?page=1&per_page=100`, then `page=2`, ...
#[derive(Debug)]
pub(crate) struct Page {
    spec: PageSpec,
    page: u64,
}

impl Page {
    pub(crate) fn new(spec: PageSpec) -> Self {
        let page = spec.first_page;
        Self { spec, page }
    }

    fn request(&self, page: u64) -> PageRequest {
        request(&self.spec, page)
    }

    /// The number of the last page, when the body states the page count.
    fn last(&self, page: &PageInfo<'_>) -> Option<u64> {
        let pages = number_at(page.body, self.spec.total_pages_path.as_deref())?;
        Some((self.spec.first_page + pages).saturating_sub(1))
    }
}

/// Page number `page`.
fn request(s: &PageSpec, page: u64) -> PageRequest {
    PageRequest::default()
        .with(PageRequest::param(
            &s.page_param,
            s.page_body_path.as_ref(),
            page,
        ))
        .with(PageRequest::param(
            &s.size_param,
            s.size_body_path.as_ref(),
            s.page_size,
        ))
}

impl Paginator for Page {
    fn first(&mut self) -> PageRequest {
        self.request(self.page)
    }

    fn next(&mut self, page: &PageInfo<'_>) -> Result<Option<PageRequest>, String> {
        if page.records == 0 {
            return Ok(None);
        }
        let last = self.last(page);
        if last.is_some_and(|last| self.page >= last) {
            return Ok(None);
        }
        self.page += 1;
        if last.is_some() {
            // A stated page count outranks a short page.
            return Ok(Some(self.request(self.page)));
        }
        if page.records < self.spec.page_size && self.spec.short_page == ShortPage::End {
            return Ok(None);
        }
        Ok(Some(self.request(self.page)))
    }

    fn page_size(&self) -> Option<u64> {
        Some(self.spec.page_size)
    }

    fn predict(&self, first: &PageInfo<'_>) -> Option<Vec<PageRequest>> {
        let last = self.last(first)?;
        Some((self.page + 1..=last).map(|p| self.request(p)).collect())
    }

    fn ahead(&self, records: u64) -> Option<Ahead> {
        if records == 0 {
            return None;
        }
        // Page numbers, not records: a page holds what the server serves per page.
        let (spec, from) = (self.spec.clone(), self.page);
        Some(Box::new((1u64..).map_while(move |k| {
            Some(request(&spec, from.checked_add(k)?))
        })))
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;
    use serde_json::json;
    use url::Url;

    use super::*;

    fn spec(first_page: u64, total_pages_path: Option<&str>) -> PageSpec {
        PageSpec {
            page_param: "page".into(),
            size_param: "per_page".into(),
            page_size: 10,
            first_page,
            total_pages_path: total_pages_path.map(str::to_owned),
            page_body_path: None,
            size_body_path: None,
            short_page: ShortPage::Confirm,
        }
    }

    #[test]
    fn counts_pages_until_an_empty_one() {
        let (headers, url, body) = (
            HeaderMap::new(),
            Url::parse("http://h/").unwrap(),
            json!([]),
        );
        let info = |records| PageInfo {
            records,
            body: &body,
            headers: &headers,
            url: &url,
        };
        let mut p = Page::new(spec(0, None));
        let mut asked = vec![p.first().params[0].1.clone()];
        for records in [10, 10, 3] {
            asked.push(p.next(&info(records)).unwrap().unwrap().params[0].1.clone());
        }
        assert!(p.next(&info(0)).unwrap().is_none());
        assert_eq!(asked, ["0", "1", "2", "3"]);
    }

    #[test]
    fn a_stated_page_count_ends_it_and_predicts_the_rest() {
        let (headers, url, body) = (
            HeaderMap::new(),
            Url::parse("http://h/").unwrap(),
            json!({"total_pages": 3}),
        );
        let info = PageInfo {
            records: 10,
            body: &body,
            headers: &headers,
            url: &url,
        };
        let mut p = Page::new(spec(1, Some("total_pages")));
        p.first();
        let predicted: Vec<String> = p
            .predict(&info)
            .unwrap()
            .iter()
            .map(|r| r.params[0].1.clone())
            .collect();
        assert_eq!(predicted, ["2", "3"]);
        assert!(p.next(&info).unwrap().is_some());
        assert!(p.next(&info).unwrap().is_some());
        assert!(p.next(&info).unwrap().is_none());
    }
}
