//! Paging and filtering as JSONPlaceholder does them, shared by every route: the offset and
//! page size a request asks for, the page of a list, and field filters.

use serde_json::Value;

use crate::config::MockConfig;
use crate::http::Request;

/// Page size when a page number is given without a size (JSONPlaceholder's default).
const DEFAULT_PAGE_SIZE: usize = 10;

/// Query parameters that page rather than filter.
pub(crate) const PAGING_PARAMS: [&str; 9] = [
    "_start", "_end", "_limit", "_page", "offset", "limit", "page", "per_page", "cursor",
];

pub(crate) fn field_is(item: &Value, field: &str, wanted: &str) -> bool {
    match item.get(field) {
        Some(Value::String(s)) => s == wanted,
        Some(Value::Number(n)) => n.to_string() == wanted,
        Some(Value::Bool(b)) => b.to_string() == wanted,
        _ => false,
    }
}

/// Any query parameter that is not a paging parameter and names a field filters on it, as
/// JSONPlaceholder does: whether `item` passes them.
pub(crate) fn matches_filters(request: &Request, item: &Value) -> bool {
    request
        .query
        .iter()
        .filter(|(k, _)| !PAGING_PARAMS.contains(&k.as_str()) && !k.starts_with("__"))
        .all(|(k, v)| item.get(k).is_none() || field_is(item, k, v))
}

/// The slice `[offset, offset + limit)` of `matching`, clamped if the config says so.
pub(crate) fn window(
    config: &MockConfig,
    matching: &[&Value],
    offset: usize,
    limit: Option<usize>,
) -> Vec<Value> {
    let total = matching.len();
    let mut start = offset.min(total);
    if config.clamp_paging && start == total && total > 0 {
        // Past the end: the last page again.
        let size = limit.unwrap_or(total).max(1);
        start = (total - 1) / size * size;
    }
    let end = limit.map_or(total, |l| start.saturating_add(l).min(total));
    matching[start..end].iter().map(|v| (*v).clone()).collect()
}

/// The requested offset and page size, after the configured cap.
pub(crate) fn paging(
    request: &Request,
    config: &MockConfig,
) -> Result<(usize, Option<usize>), String> {
    if config.ignore_paging {
        return Ok((0, config.max_page_size.or(Some(DEFAULT_PAGE_SIZE))));
    }
    let number = |name: &str| -> Result<Option<usize>, String> {
        request
            .query(name)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| format!("`{name}` must be a whole number, got `{v}`"))
            })
            .transpose()
    };
    let page = number("_page")?.or(number("page")?);
    let mut limit = number("_limit")?
        .or(number("limit")?)
        .or(number("per_page")?);
    if let (Some(start), Some(end)) = (number("_start")?, number("_end")?) {
        limit = limit.or(Some(end.saturating_sub(start)));
    }
    if page.is_some() && limit.is_none() {
        limit = Some(DEFAULT_PAGE_SIZE);
    }
    if let Some(cap) = config.max_page_size {
        limit = Some(limit.map_or(cap, |l| l.min(cap)));
    }
    let offset = match page {
        Some(p) => p
            .saturating_sub(1)
            .saturating_mul(limit.unwrap_or(DEFAULT_PAGE_SIZE)),
        None => number("_start")?.or(number("offset")?).unwrap_or(0),
    };
    Ok((offset, limit))
}
