use super::{PageInfo, Paginator, number_at};
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
}

impl Paginator for Page {
    fn params(&self) -> Vec<(String, String)> {
        vec![
            (self.spec.page_param.clone(), self.page.to_string()),
            (
                self.spec.size_param.clone(),
                self.spec.page_size.to_string(),
            ),
        ]
    }

    fn page_size(&self) -> Option<u64> {
        Some(self.spec.page_size)
    }

    fn advance(&mut self, page: &PageInfo<'_>) -> bool {
        if page.records == 0 {
            return false;
        }
        if let Some(pages) = number_at(page.body, self.spec.total_pages_path.as_deref()) {
            // Page numbers count from `first_page`: the last is `first_page + pages - 1`.
            if self.page + 1 >= self.spec.first_page + pages {
                return false;
            }
        }
        self.page += 1;
        !(page.records < self.spec.page_size && self.spec.short_page == ShortPage::End)
    }

    fn position(&self) -> String {
        format!("{} {}", self.spec.page_param, self.page)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(first_page: u64, total_pages_path: Option<&str>) -> PageSpec {
        PageSpec {
            page_param: "page".into(),
            size_param: "per_page".into(),
            page_size: 10,
            first_page,
            total_pages_path: total_pages_path.map(str::to_owned),
            short_page: ShortPage::Confirm,
        }
    }

    #[test]
    fn counts_pages_until_an_empty_one() {
        let mut p = Page::new(spec(0, None));
        let body = json!([]);
        let mut asked = vec![p.page];
        for records in [10, 10, 3] {
            assert!(p.advance(&PageInfo {
                records,
                body: &body
            }));
            asked.push(p.page);
        }
        assert!(!p.advance(&PageInfo {
            records: 0,
            body: &body
        }));
        assert_eq!(asked, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_stated_page_count_ends_it() {
        let body = json!({"total_pages": 2});
        let mut p = Page::new(spec(1, Some("total_pages")));
        assert!(p.advance(&PageInfo {
            records: 10,
            body: &body
        }));
        assert!(!p.advance(&PageInfo {
            records: 10,
            body: &body
        }));
    }
}
