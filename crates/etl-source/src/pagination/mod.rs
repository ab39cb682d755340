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
    /// Without a stated total: the pages after the one `next` has just returned, were each
    /// to hold `records` records as the last one did, so that some can be asked for while
    /// earlier ones are still being parsed and staged. `None` when the style cannot tell (a
    /// cursor or a link is only known from the page before). `next` stays the authority:
    /// positions it does not confirm are dropped.
    fn ahead(&self, _records: u64) -> Option<Ahead> {
        None
    }
}

/// Predicted page positions, in order (see [`Paginator::ahead`]).
pub(crate) type Ahead = Box<dyn Iterator<Item = PageRequest> + Send>;

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

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use reqwest::header::HeaderMap;
    use serde_json::json;
    use url::Url;

    use super::*;
    use crate::spec::{OffsetSpec, PageSpec, ShortPage};

    /// Walks `paginator` against a server of `total` records serving at most `cap` per page;
    /// returns the record positions received, in order, and the number of requests.
    fn walk(
        mut p: Box<dyn Paginator>,
        total: u64,
        cap: u64,
        serve: impl Fn(&PageRequest) -> (u64, u64),
    ) -> (Vec<u64>, u64) {
        let (headers, url, body) = (
            HeaderMap::new(),
            Url::parse("http://h/").unwrap(),
            json!({ "total": total }),
        );
        let mut received = Vec::new();
        let mut request = Some(p.first());
        let mut requests = 0;
        while let Some(r) = request {
            requests += 1;
            assert!(requests < 10_000, "does not end");
            let (start, size) = serve(&r);
            let n = size.min(cap).min(total.saturating_sub(start));
            received.extend(start..start + n);
            request = p
                .next(&PageInfo {
                    records: n,
                    body: &body,
                    headers: &headers,
                    url: &url,
                })
                .unwrap();
        }
        (received, requests)
    }

    fn param(r: &PageRequest, name: &str) -> u64 {
        r.params
            .iter()
            .find(|(k, _)| k == name)
            .map_or(0, |(_, v)| v.parse().unwrap())
    }

    proptest! {
        #[test]
        fn offset_paging_gets_every_record_once(
            total in 0u64..400, cap in 1u64..120, page_size in 1u64..150, with_total: bool, end: bool,
        ) {
            let short_page = if end { ShortPage::End } else { ShortPage::Confirm };
            let spec = OffsetSpec {
                offset_param: "o".into(), limit_param: "l".into(), page_size, start: 0,
                total_path: with_total.then(|| "total".into()),
                offset_body_path: None, limit_body_path: None, short_page,
            };
            let (received, requests) = walk(paginator(&PaginationSpec::Offset(spec)), total, cap, |r| (param(r, "o"), param(r, "l")));
            let complete = (0..total).collect::<Vec<_>>();
            if end && cap < page_size && !with_total {
                // Trusting short pages against a capping server is the user's risk: what
                // arrives is still a prefix, in order, without duplicates.
                prop_assert_eq!(&received[..], &complete[..received.len()]);
            } else {
                prop_assert_eq!(received, complete);
            }
            let per_page = cap.min(page_size);
            prop_assert!(requests <= total.div_ceil(per_page) + 1);
        }

        #[test]
        fn page_paging_gets_every_record_once(total in 0u64..400, cap in 1u64..120, page_size in 1u64..150) {
            let spec = PageSpec {
                page_param: "p".into(), size_param: "s".into(), page_size, first_page: 1,
                total_pages_path: None, page_body_path: None, size_body_path: None,
                short_page: ShortPage::Confirm,
            };
            // The server pages by the size it really serves.
            let size = cap.min(page_size);
            let (received, _) = walk(paginator(&PaginationSpec::Page(spec)), total, cap, |r| ((param(r, "p") - 1) * size, size));
            prop_assert_eq!(received, (0..total).collect::<Vec<_>>());
        }
    }
}
