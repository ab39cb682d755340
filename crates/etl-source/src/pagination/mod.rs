//! Walking through pages. One file per `pagination: { type: ... }`; each keeps its own position
//! and decides from each page whether there is another.
//!
//! Rules every style follows: positions advance by the records received, never by the page
//! size asked (servers cap page sizes silently); a short page ends nothing unless
//! `short_page: end` says the API never caps; an empty page ends the source. The driver
//! adds the loop guards (a page identical to the one before, a position seen before).

mod none;
mod offset;
mod page;

use serde_json::Value;

use crate::spec::PaginationSpec;

/// What the driver learnt from one page.
#[derive(Debug)]
pub(crate) struct PageInfo<'a> {
    /// Records on the page.
    pub(crate) records: u64,
    /// The response body, records taken out.
    pub(crate) body: &'a Value,
}

pub(crate) trait Paginator: Send {
    /// Query parameters of the current page.
    fn params(&self) -> Vec<(String, String)>;
    /// Records asked per page, if the style asks.
    fn page_size(&self) -> Option<u64>;
    /// Moves to the next page; `false` when the source is complete.
    fn advance(&mut self, page: &PageInfo<'_>) -> bool;
    /// Where it is, for messages (`offset 200`).
    fn position(&self) -> String;
}

pub(crate) fn paginator(spec: &PaginationSpec) -> Box<dyn Paginator> {
    match spec {
        PaginationSpec::Offset(s) => Box::new(offset::Offset::new(s.clone())),
        PaginationSpec::Page(s) => Box::new(page::Page::new(s.clone())),
        PaginationSpec::None {} => Box::new(none::NoPaging),
    }
}

/// A whole number at `path` in the body (totals, page counts).
fn number_at(body: &Value, path: Option<&str>) -> Option<u64> {
    let v = crate::records::lookup(body, path?)?;
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}
