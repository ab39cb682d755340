//! The same data paged in the other styles APIs use: cursors, next links in the body, `Link`
//! headers, and a POST search with paging values in the JSON body.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::config::{CursorMode, MockConfig};
use crate::http::{Request, Response};
use crate::paging::{PAGING_PARAMS, paging, window};

/// Page size when the client names none.
const DEFAULT_LIMIT: usize = 10;

fn capped(config: &MockConfig, limit: Option<usize>) -> usize {
    let limit = limit.unwrap_or(DEFAULT_LIMIT).max(1);
    config.max_page_size.map_or(limit, |cap| limit.min(cap))
}

fn encode(offset: usize) -> String {
    format!("c{:08x}", offset ^ 0x005a_5a5a)
}

fn decode(cursor: &str) -> Option<usize> {
    let hex = cursor.strip_prefix('c')?;
    usize::from_str_radix(hex, 16).ok().map(|n| n ^ 0x005a_5a5a)
}

/// `GET /cursor/{name}?cursor=C&limit=N`:
/// `{"data": [...], "next_cursor": "..." | null, "has_more": bool, "total": N}`.
pub(crate) fn cursor(
    request: &Request,
    config: &MockConfig,
    matching: &[&Value],
) -> (Response, usize) {
    let limit = match request.query("limit").map(str::parse::<usize>).transpose() {
        Ok(l) => capped(config, l),
        Err(_) => return (Response::error(400, "`limit` must be a whole number"), 0),
    };
    let offset = match request.query("cursor") {
        None | Some("") => 0,
        Some(c) => match decode(c) {
            Some(o) => o,
            None => {
                return (
                    Response::error(400, &format!("`{c}` is not a cursor of this API")),
                    0,
                );
            }
        },
    };
    let offset = if config.ignore_paging { 0 } else { offset };
    let total = matching.len();
    let page = window(config, matching, offset, Some(limit));
    let served = page.len();
    let next_offset = offset + served;
    let has_more = next_offset < total;
    let next = has_more.then(|| match config.cursor_mode {
        CursorMode::Advancing => encode(next_offset),
        // The cursor of the second page, forever.
        CursorMode::Stuck => encode(limit),
        // A, B, then A again.
        CursorMode::Cycle if offset >= 2 * limit => encode(limit),
        CursorMode::Cycle => encode(next_offset),
    });
    let body = json!({ "data": page, "next_cursor": next, "has_more": has_more, "total": total });
    (Response::json(200, body.to_string().into_bytes()), served)
}

/// Where links point: the foreign origin if configured, else this server (absolute links) or
/// no origin at all (relative links).
fn link(request: &Request, config: &MockConfig, path_and_query: &str) -> String {
    if let Some(foreign) = &config.foreign_links {
        return format!("{}{path_and_query}", foreign.trim_end_matches('/'));
    }
    if config.absolute_links {
        let host = request.header("host").unwrap_or("127.0.0.1");
        return format!("http://{host}{path_and_query}");
    }
    path_and_query.to_owned()
}

/// The request's other query parameters (filters), kept in links.
fn kept_query(request: &Request) -> String {
    let mut kept = String::new();
    for (k, v) in request
        .query
        .iter()
        .filter(|(k, _)| !PAGING_PARAMS.contains(&k.as_str()))
    {
        let _ = write!(kept, "&{k}={v}");
    }
    kept
}

/// `GET /next/{name}?offset=O&limit=N`: `{"results": [...], "count": N, "next": URL | null}`.
pub(crate) fn next_url(
    request: &Request,
    config: &MockConfig,
    matching: &[&Value],
) -> (Response, usize) {
    let (offset, limit) = match paging(request, config) {
        Ok(p) => p,
        Err(message) => return (Response::error(400, &message), 0),
    };
    let limit = capped(config, limit);
    let total = matching.len();
    let page = window(config, matching, offset, Some(limit));
    let served = page.len();
    let next_offset = offset + served;
    let next = (next_offset < total).then(|| {
        let query = format!("?offset={next_offset}&limit={limit}{}", kept_query(request));
        link(request, config, &format!("{}{query}", request.path))
    });
    let body = json!({ "results": page, "count": total, "next": next });
    (Response::json(200, body.to_string().into_bytes()), served)
}

/// `GET /link/{name}?page=P&per_page=N`: a bare list, and RFC 8288 `Link` with `first`,
/// `last` and, unless on the last page, `next`.
pub(crate) fn link_header(
    request: &Request,
    config: &MockConfig,
    matching: &[&Value],
) -> (Response, usize) {
    let size = match paging(request, config) {
        Ok((_, limit)) => capped(config, limit),
        Err(message) => return (Response::error(400, &message), 0),
    };
    let page_number: usize = request
        .query("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let page_number = if config.ignore_paging { 1 } else { page_number };
    let total = matching.len();
    let page = window(config, matching, (page_number - 1) * size, Some(size));
    let served = page.len();
    let last = total.div_ceil(size).max(1);
    let url = |p: usize| {
        link(
            request,
            config,
            &format!(
                "{}?page={p}&per_page={size}{}",
                request.path,
                kept_query(request)
            ),
        )
    };
    let mut links = vec![
        format!("<{}>; rel=\"first\"", url(1)),
        format!("<{}>; rel=\"last\"", url(last)),
    ];
    if page_number < last {
        links.push(format!("<{}>; rel=\"next\"", url(page_number + 1)));
    }
    let response = Response::json(200, Value::Array(page).to_string().into_bytes())
        .with_header("Link", &links.join(", "))
        .with_header("X-Total-Count", &total);
    (response, served)
}

/// `POST /search/{name}` with `{"offset": O, "limit": N, "filter": {field: value}}`:
/// `{"results": [...], "total": N}`.
pub(crate) fn search(
    request: &Request,
    config: &MockConfig,
    matching: &[&Value],
) -> (Response, usize) {
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(v) => v,
        Err(e) => {
            return (
                Response::error(400, &format!("the body must be JSON: {e}")),
                0,
            );
        }
    };
    let number = |key: &str| body.get(key).and_then(Value::as_u64).map(|n| n as usize);
    let offset = if config.ignore_paging {
        0
    } else {
        number("offset").unwrap_or(0)
    };
    let limit = capped(config, number("limit"));
    let filtered: Vec<&Value> = match body.get("filter").and_then(Value::as_object) {
        Some(filter) => matching
            .iter()
            .copied()
            .filter(|item| filter.iter().all(|(k, v)| item.get(k) == Some(v)))
            .collect(),
        None => matching.to_vec(),
    };
    let total = filtered.len();
    let page = window(config, &filtered, offset, Some(limit));
    let served = page.len();
    let body = json!({ "results": page, "total": total });
    (Response::json(200, body.to_string().into_bytes()), served)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_strangers() {
        assert_eq!(decode(&encode(1234)), Some(1234));
        assert_eq!(decode("zzz"), None);
    }
}
