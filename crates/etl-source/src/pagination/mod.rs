//! Walking through pages. One file per `pagination: { type: ... }`; each keeps its own
//! position and decides from each page what to ask next.
//!
//! Rules every style follows: positions advance by the records received, never by the page
//! size asked (servers cap page sizes silently); a short page ends nothing unless
//! `short_page: end` says the API never caps; an empty page ends the source. The driver adds
//! the loop guards (a position seen before, a page identical to the one before) and the
//! origin rules for next links.

mod cursor;
mod link_header;
mod next_url;
mod none;
mod offset;
mod page;

use std::fmt::Write as _;

use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

use crate::spec::PaginationSpec;

/// One page to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PageRequest {
    /// A URL to fetch as it is (a next link); `None`: the source's URL.
    pub(crate) url: Option<Url>,
    /// Query parameters added to the source's.
    pub(crate) params: Vec<(String, String)>,
    /// Values set in the JSON body at dotted paths.
    pub(crate) body: Vec<(String, Value)>,
}

impl PageRequest {
    /// Identity of the position, for the loop guard.
    pub(crate) fn key(&self) -> String {
        let mut key = self.url.as_ref().map(Url::to_string).unwrap_or_default();
        for (k, v) in &self.params {
            let _ = write!(key, "&{k}={v}");
        }
        for (k, v) in &self.body {
            let _ = write!(key, "&{k}:{v}");
        }
        key
    }

    /// A value or parameter in the query or the body.
    fn param(name: &str, body_path: Option<&String>, value: impl Into<Value> + ToString) -> Place {
        match body_path {
            Some(path) => Place::Body(path.clone(), value.into()),
            None => Place::Query(name.to_owned(), value.to_string()),
        }
    }

    fn with(mut self, place: Place) -> Self {
        match place {
            Place::Query(k, v) => self.params.push((k, v)),
            Place::Body(k, v) => self.body.push((k, v)),
        }
        self
    }
}

enum Place {
    Query(String, String),
    Body(String, Value),
}

/// What the driver learnt from one page.
#[derive(Debug)]
pub(crate) struct PageInfo<'a> {
    /// Records on the page.
    pub(crate) records: u64,
    /// The response body, records taken out.
    pub(crate) body: &'a Value,
    pub(crate) headers: &'a HeaderMap,
    /// The URL the page came from, for resolving relative links.
    pub(crate) url: &'a Url,
}

pub(crate) trait Paginator: Send {
    /// The first page.
    fn first(&mut self) -> PageRequest;
    /// The page after `page`, or `None` when the source is complete. An error is a response
    /// that cannot be followed (a malformed next link).
    fn next(&mut self, page: &PageInfo<'_>) -> Result<Option<PageRequest>, String>;
    /// Records asked per page, if the style asks.
    fn page_size(&self) -> Option<u64>;
    /// Every remaining page, when the first page tells how many there are (a total), so that
    /// they can be fetched in parallel. `next` stays the authority: a prediction it does not
    /// confirm is dropped.
    fn predict(&self, _first: &PageInfo<'_>) -> Option<Vec<PageRequest>> {
        None
    }
}

pub(crate) fn paginator(spec: &PaginationSpec) -> Box<dyn Paginator> {
    match spec {
        PaginationSpec::Offset(s) => Box::new(offset::Offset::new(s.clone())),
        PaginationSpec::Page(s) => Box::new(page::Page::new(s.clone())),
        PaginationSpec::Cursor(s) => Box::new(cursor::Cursor::new(s.clone())),
        PaginationSpec::NextUrl(s) => Box::new(next_url::NextUrl::new(s.clone())),
        PaginationSpec::LinkHeader(_) => Box::new(link_header::LinkHeader),
        PaginationSpec::None {} => Box::new(none::NoPaging),
    }
}

/// A whole number at `path` in the body (totals, page counts).
fn number_at(body: &Value, path: Option<&str>) -> Option<u64> {
    let v = crate::records::lookup(body, path?)?;
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A next link as found in a response, resolved against the page's URL.
fn resolve(base: &Url, link: &str) -> Result<Url, String> {
    let url = base
        .join(link.trim())
        .map_err(|e| format!("the next link `{link}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("the next link `{link}` is not http or https"));
    }
    Ok(url)
}
