use super::{PageInfo, Paginator};

/// `pagination: { type: none }`: one request.
#[derive(Debug)]
pub(crate) struct NoPaging;

impl Paginator for NoPaging {
    fn params(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    fn page_size(&self) -> Option<u64> {
        None
    }

    fn advance(&mut self, _page: &PageInfo<'_>) -> bool {
        false
    }

    fn position(&self) -> String {
        "the only page".into()
    }
}
