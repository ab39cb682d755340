use super::{PageInfo, PageRequest, Paginator};

/// `pagination: { type: none }`: one request.
#[derive(Debug)]
pub(crate) struct NoPaging;

impl Paginator for NoPaging {
    fn first(&mut self) -> PageRequest {
        PageRequest::default()
    }

    fn next(&mut self, _page: &PageInfo<'_>) -> Result<Option<PageRequest>, String> {
        Ok(None)
    }

    fn page_size(&self) -> Option<u64> {
        None
    }
}
