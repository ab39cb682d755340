use super::{Ahead, PageInfo, PageRequest, Paginator, number_at};
use crate::spec::{OffsetSpec, ShortPage};

/// `pagination: { type: offset }`: `?offset=0&limit=100`, then the offset plus the records
/// received.
#[derive(Debug)]
pub(crate) struct Offset {
    spec: OffsetSpec,
    offset: u64,
}

impl Offset {
    pub(crate) fn new(spec: OffsetSpec) -> Self {
        let offset = spec.start;
        Self { spec, offset }
    }

    fn request(&self, offset: u64) -> PageRequest {
        request(&self.spec, offset)
    }
}

/// The page at `offset`.
fn request(s: &OffsetSpec, offset: u64) -> PageRequest {
    PageRequest::default()
        .with(PageRequest::param(
            &s.offset_param,
            s.offset_body_path.as_ref(),
            offset,
        ))
        .with(PageRequest::param(
            &s.limit_param,
            s.limit_body_path.as_ref(),
            s.page_size,
        ))
}

impl Paginator for Offset {
    fn first(&mut self) -> PageRequest {
        self.request(self.offset)
    }

    fn next(&mut self, page: &PageInfo<'_>) -> Result<Option<PageRequest>, String> {
        if page.records == 0 {
            return Ok(None);
        }
        self.offset += page.records;
        if let Some(total) = number_at(page.body, self.spec.total_path.as_deref()) {
            // Offsets count from `start` (1 for 1-based APIs): the last is `start + total - 1`.
            if self.offset >= self.spec.start + total {
                return Ok(None);
            }
            // A stated total outranks a short page: more records are known to exist.
            return Ok(Some(self.request(self.offset)));
        }
        if page.records < self.spec.page_size && self.spec.short_page == ShortPage::End {
            return Ok(None);
        }
        Ok(Some(self.request(self.offset)))
    }

    fn page_size(&self) -> Option<u64> {
        Some(self.spec.page_size)
    }

    fn predict(&self, first: &PageInfo<'_>) -> Option<Vec<PageRequest>> {
        let total = number_at(first.body, self.spec.total_path.as_deref())?;
        // The first page shows the page size the server really serves.
        let step = first.records;
        if step == 0 {
            return None;
        }
        let start = self.spec.start + step;
        Some(
            (start..total)
                .step_by(usize::try_from(step).ok()?)
                .map(|o| self.request(o))
                .collect(),
        )
    }

    fn ahead(&self, records: u64) -> Option<Ahead> {
        if records == 0 {
            return None;
        }
        let (spec, from) = (self.spec.clone(), self.offset);
        Some(Box::new((1u64..).map_while(move |k| {
            let offset = from.checked_add(records.checked_mul(k)?)?;
            Some(request(&spec, offset))
        })))
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;
    use serde_json::{Value, json};
    use url::Url;

    use super::*;

    fn spec(short_page: ShortPage, total_path: Option<&str>) -> OffsetSpec {
        OffsetSpec {
            offset_param: "_start".into(),
            limit_param: "_limit".into(),
            page_size: 100,
            start: 0,
            total_path: total_path.map(str::to_owned),
            offset_body_path: None,
            limit_body_path: None,
            short_page,
        }
    }

    /// Pages a server of `total` records capping pages at `cap` would serve; returns the
    /// offsets asked.
    fn walk(mut p: Offset, total: u64, cap: u64, body: &Value) -> Vec<u64> {
        let (headers, url) = (HeaderMap::new(), Url::parse("http://h/").unwrap());
        let mut asked = vec![];
        let mut request = Some(p.first());
        while request.is_some() {
            asked.push(p.offset);
            let records = total
                .saturating_sub(p.offset)
                .min(cap)
                .min(p.spec.page_size);
            request = p
                .next(&PageInfo {
                    records,
                    body,
                    headers: &headers,
                    url: &url,
                })
                .unwrap();
        }
        asked
    }

    #[test]
    fn advances_by_the_records_received_and_confirms_short_pages() {
        let asked = walk(
            Offset::new(spec(ShortPage::Confirm, None)),
            20,
            7,
            &json!([]),
        );
        assert_eq!(asked, vec![0, 7, 14, 20]);
    }

    #[test]
    fn short_page_end_trusts_the_server() {
        let asked = walk(
            Offset::new(spec(ShortPage::End, None)),
            250,
            1000,
            &json!([]),
        );
        assert_eq!(asked, vec![0, 100, 200]);
    }

    #[test]
    fn a_stated_total_ends_without_an_empty_page_and_predicts_the_rest() {
        let body = json!({"meta": {"total": 250}});
        let p = Offset::new(spec(ShortPage::Confirm, Some("meta.total")));
        let asked = walk(
            Offset::new(spec(ShortPage::Confirm, Some("meta.total"))),
            250,
            1000,
            &body,
        );
        assert_eq!(asked, vec![0, 100, 200]);
        let (headers, url) = (HeaderMap::new(), Url::parse("http://h/").unwrap());
        // A server capping at 30: the prediction follows the records received.
        let predicted = p
            .predict(&PageInfo {
                records: 30,
                body: &body,
                headers: &headers,
                url: &url,
            })
            .unwrap();
        assert_eq!(predicted.len(), 8);
        assert_eq!(
            predicted[0].params[0],
            ("_start".to_owned(), "30".to_owned())
        );
        assert_eq!(
            predicted[7].params[0],
            ("_start".to_owned(), "240".to_owned())
        );
    }

    #[test]
    fn one_based_offsets_reach_the_last_record() {
        let body = json!({"total": 201});
        let mut s = spec(ShortPage::Confirm, Some("total"));
        s.start = 1;
        let mut p = Offset::new(s);
        let (headers, url) = (HeaderMap::new(), Url::parse("http://h/").unwrap());
        let mut asked = vec![p.offset];
        let mut request = Some(p.first());
        while request.is_some() {
            let records = (202 - p.offset).min(100);
            request = p
                .next(&PageInfo {
                    records,
                    body: &body,
                    headers: &headers,
                    url: &url,
                })
                .unwrap();
            if request.is_some() {
                asked.push(p.offset);
            }
        }
        assert_eq!(asked, vec![1, 101, 201]);
    }

    #[test]
    fn values_go_in_the_body_when_asked() {
        let mut s = spec(ShortPage::Confirm, None);
        s.offset_body_path = Some("page.offset".into());
        let r = Offset::new(s).first();
        assert_eq!(r.body, vec![("page.offset".to_owned(), json!(0))]);
        assert_eq!(r.params, vec![("_limit".to_owned(), "100".to_owned())]);
    }
}
