use super::{PageInfo, Paginator, number_at};
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
}

impl Paginator for Offset {
    fn params(&self) -> Vec<(String, String)> {
        vec![
            (self.spec.offset_param.clone(), self.offset.to_string()),
            (
                self.spec.limit_param.clone(),
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
        self.offset += page.records;
        if let Some(total) = number_at(page.body, self.spec.total_path.as_deref()) {
            if self.offset >= total {
                return false;
            }
        }
        !(page.records < self.spec.page_size && self.spec.short_page == ShortPage::End)
    }

    fn position(&self) -> String {
        format!("{} {}", self.spec.offset_param, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn spec(short_page: ShortPage, total_path: Option<&str>) -> OffsetSpec {
        OffsetSpec {
            offset_param: "_start".into(),
            limit_param: "_limit".into(),
            page_size: 100,
            start: 0,
            total_path: total_path.map(str::to_owned),
            short_page,
        }
    }

    /// Pages a server of `total` records capping pages at `cap` would serve; returns the
    /// offsets asked.
    fn walk(mut p: Offset, total: u64, cap: u64, body: &Value) -> Vec<u64> {
        let mut asked = Vec::new();
        loop {
            asked.push(p.offset);
            let records = total
                .saturating_sub(p.offset)
                .min(cap)
                .min(p.spec.page_size);
            if !p.advance(&PageInfo { records, body }) {
                return asked;
            }
        }
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
    fn a_stated_total_ends_without_an_empty_page() {
        let body = json!({"meta": {"total": 200}});
        let asked = walk(
            Offset::new(spec(ShortPage::Confirm, Some("meta.total"))),
            200,
            1000,
            &body,
        );
        assert_eq!(asked, vec![0, 100]);
    }
}
