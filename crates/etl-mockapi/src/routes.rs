//! Routing, paging, auth and the rate limit: everything but the faults.

use std::sync::Mutex;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::config::{AuthRequirement, MockConfig, RateLimit};
use crate::data::Dataset;
use crate::http::{Request, Response, base64};
use crate::oauth::Tokens;
use crate::order_store::{self, OrderStore};
use crate::paging::{PAGING_PARAMS, field_is, matches_filters, paging, window};
use crate::styles;

/// What the mock remembers between requests.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) window: Mutex<Window>,
    pub(crate) tokens: Tokens,
    /// The mutable `orders` collection, when the dataset has one.
    pub(crate) orders: Option<Mutex<OrderStore>>,
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            window: Mutex::new(Window::new()),
            tokens: Tokens::default(),
            orders: None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Window {
    started: Instant,
    used: u32,
}

impl Window {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            used: 0,
        }
    }
}

/// Answers a request; returns the response and the number of records in it.
pub(crate) fn handle(
    request: &Request,
    config: &MockConfig,
    data: &Dataset,
    state: &State,
) -> (Response, usize) {
    let limit_headers = match config.rate_limit {
        Some(limit) => match take_permit(config, limit, &state.window) {
            Ok(headers) => headers,
            Err(refused) => return (refused, 0),
        },
        None => Vec::new(),
    };
    if let Some(oauth) = &config.oauth2 {
        if request.path == "/oauth/token" {
            return (state.tokens.issue(request, oauth), 0);
        }
        if !state.tokens.valid(request, oauth) {
            return (Response::error(401, "invalid_token"), 0);
        }
    }
    if let Some(auth) = &config.auth {
        if !authorized(auth, request) {
            // Like careless real APIs, it echoes what it was given: clients must keep that
            // out of their logs.
            let given = [
                request.header("authorization"),
                request.header("x-api-key"),
                request.query("api_key"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            return (
                Response::error(
                    401,
                    &format!("missing or invalid credentials: got `{given}`"),
                ),
                0,
            );
        }
    }
    let (mut response, items) = route(request, config, data, state);
    response.headers.extend(limit_headers);
    (response, items)
}

fn take_permit(
    config: &MockConfig,
    limit: RateLimit,
    window: &Mutex<Window>,
) -> Result<Vec<(String, String)>, Response> {
    let mut w = window
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    if now.duration_since(w.started) >= limit.window {
        w.started = now;
        w.used = 0;
    }
    let reset = limit.window.saturating_sub(now.duration_since(w.started));
    // Whole seconds, rounded up, as servers send them.
    let reset_secs = (reset.as_secs() + u64::from(reset.subsec_nanos() > 0)).max(1);
    let prefix = if config.ietf_rate_headers {
        "RateLimit"
    } else {
        "X-RateLimit"
    };
    let quota = |remaining: u32| {
        vec![
            (format!("{prefix}-Limit"), limit.requests.to_string()),
            (format!("{prefix}-Remaining"), remaining.to_string()),
            (format!("{prefix}-Reset"), reset_secs.to_string()),
        ]
    };
    if w.used >= limit.requests {
        let retry_after = if config.retry_after_date {
            httpdate_after(reset_secs)
        } else {
            reset_secs.to_string()
        };
        let mut refused =
            Response::error(429, "rate limit exceeded").with_header("Retry-After", &retry_after);
        refused.headers.extend(quota(0));
        return Err(refused);
    }
    w.used += 1;
    Ok(if limit.advertise {
        quota(limit.requests - w.used)
    } else {
        Vec::new()
    })
}

/// An HTTP date `secs` seconds from now, rounded up to the second.
fn httpdate_after(secs: u64) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(secs + 1))
}

fn authorized(auth: &AuthRequirement, request: &Request) -> bool {
    match auth {
        AuthRequirement::Bearer(token) => {
            request.header("authorization") == Some(format!("Bearer {token}").as_str())
        }
        AuthRequirement::Header { name, value } => request.header(name) == Some(value.as_str()),
        AuthRequirement::Query { name, value } => request.query(name) == Some(value.as_str()),
        AuthRequirement::Basic { username, password } => {
            let expected = format!(
                "Basic {}",
                base64(format!("{username}:{password}").as_bytes())
            );
            request.header("authorization") == Some(expected.as_str())
        }
    }
}

fn route(
    request: &Request,
    config: &MockConfig,
    data: &Dataset,
    state: &State,
) -> (Response, usize) {
    let segments: Vec<&str> = request.path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(orders) = &state.orders {
        match segments.as_slice() {
            ["orders"] => return order_store::list(request, config, orders),
            ["orders", id] => return order_store::item(request, orders, id),
            _ => {}
        }
    }
    if request.method != "GET" && request.method != "POST" {
        return (Response::error(405, "only GET and POST are served"), 0);
    }
    // `/cursor/...`, `/next/...`, `/link/...`: the same data, paged in another style;
    // `POST /search/{name}`: paging values in the JSON body.
    let (style, rest) = match segments.split_first() {
        Some((&s @ ("cursor" | "next" | "link" | "search"), rest)) => (Some(s), rest),
        _ => (None, segments.as_slice()),
    };
    if style == Some("search") && request.method != "POST" {
        return (
            Response::error(405, "`/search/...` takes a POST with a JSON body"),
            0,
        );
    }
    // Other routes over `orders` (`/cursor/orders`) see its current state too.
    let orders = state
        .orders
        .as_ref()
        .filter(|_| rest.contains(&"orders"))
        .map(|store| order_store::lock(store).all());
    let collection = |name: &str| match &orders {
        Some(orders) if name == "orders" => Some(orders.as_slice()),
        _ => data.collection(name),
    };
    // Unfiltered pages of a fixture collection, in the plain style: from the serialised
    // records, without touching a `Value`.
    if style.is_none() && orders.is_none() && config.envelope.is_none() && !config.clamp_paging {
        if let Some(response) = fast_list(request, config, data, rest) {
            return response;
        }
    }
    let items: Vec<&Value> = match rest {
        [name] => match collection(name) {
            Some(items) => items.iter().collect(),
            None => return not_found(request),
        },
        [name, id] if style.is_none() => {
            return match collection(name).and_then(|items| find_by_id(data, name, items, id)) {
                Some(item) => (Response::json(200, item.to_string().into_bytes()), 1),
                None => not_found(request),
            };
        }
        [parent, id, child] => {
            let (Some(parents), Some(children)) = (collection(parent), collection(child)) else {
                return not_found(request);
            };
            if find_by_id(data, parent, parents, id).is_none() {
                return not_found(request);
            }
            let key = format!("{}Id", parent.strip_suffix('s').unwrap_or(parent));
            if orders.is_some() {
                children.iter().filter(|c| field_is(c, &key, id)).collect()
            } else {
                let index = data.children_by(child, &key);
                let at = index.get(*id).map_or(&[][..], Vec::as_slice);
                at.iter().map(|i| &children[*i]).collect()
            }
        }
        _ => return not_found(request),
    };
    let matching = filter(request, items);
    match style {
        None => list(request, config, &matching),
        Some("cursor") => styles::cursor(request, config, &matching),
        Some("next") => styles::next_url(request, config, &matching),
        Some("link") => styles::link_header(request, config, &matching),
        Some(_) => styles::search(request, config, &matching),
    }
}

fn not_found(request: &Request) -> (Response, usize) {
    (
        Response::error(404, &format!("no resource at `{}`", request.path)),
        0,
    )
}

/// The record with `id` among `items`, the collection `name`: through the dataset's index
/// of that collection (a fan-out asks once per parent record), or by a scan when `items` is
/// not the fixture collection (the live `orders`).
fn find_by_id<'a>(data: &Dataset, name: &str, items: &'a [Value], id: &str) -> Option<&'a Value> {
    if data
        .collection(name)
        .is_some_and(|c| std::ptr::eq(c, items))
    {
        let index = data.children_by(name, "id");
        return index.get(id).and_then(|at| items.get(*at.first()?));
    }
    items.iter().find(|item| field_is(item, "id", id))
}

/// A page of `/{name}` or `/{parent}/{id}/{child}` straight from the serialised records, when
/// no query parameter filters them; `None` when one does (or the route is another).
fn fast_list(
    request: &Request,
    config: &MockConfig,
    data: &Dataset,
    rest: &[&str],
) -> Option<(Response, usize)> {
    let filtered = request
        .query
        .iter()
        .any(|(k, _)| !PAGING_PARAMS.contains(&k.as_str()) && !k.starts_with("__"));
    if filtered {
        return None;
    }
    let (raw, positions): (&[Box<str>], Option<Vec<usize>>) = match rest {
        [name] => (data.raw(name)?, None),
        [parent, id, child] => {
            find_by_id(data, parent, data.collection(parent)?, id)?;
            let key = format!("{}Id", parent.strip_suffix('s').unwrap_or(parent));
            let index = data.children_by(child, &key);
            (
                data.raw(child)?,
                Some(index.get(*id).cloned().unwrap_or_default()),
            )
        }
        _ => return None,
    };
    let total = positions.as_ref().map_or(raw.len(), Vec::len);
    let (offset, limit) = match paging(request, config) {
        Ok(paging) => paging,
        Err(message) => return Some((Response::error(400, &message), 0)),
    };
    let start = offset.min(total);
    let end = limit.map_or(total, |l| start.saturating_add(l).min(total));
    let mut body = Vec::with_capacity((end - start) * 256 + 2);
    body.push(b'[');
    for (n, i) in (start..end).enumerate() {
        if n > 0 {
            body.push(b',');
        }
        let at = positions.as_ref().map_or(i, |p| p[i]);
        body.extend_from_slice(raw[at].as_bytes());
    }
    body.push(b']');
    let response = Response::json(200, body).with_header("X-Total-Count", &total);
    Some((response, end - start))
}

fn filter<'a>(request: &Request, items: Vec<&'a Value>) -> Vec<&'a Value> {
    items
        .into_iter()
        .filter(|item| matches_filters(request, item))
        .collect()
}

fn list(request: &Request, config: &MockConfig, matching: &[&Value]) -> (Response, usize) {
    let total = matching.len();
    let (offset, limit) = match paging(request, config) {
        Ok(paging) => paging,
        Err(message) => return (Response::error(400, &message), 0),
    };
    let page = window(config, matching, offset, limit);
    let served = page.len();
    let body = match &config.envelope {
        Some(path) => envelope(path, Value::Array(page), total, offset, limit),
        None => Value::Array(page),
    };
    let response =
        Response::json(200, body.to_string().into_bytes()).with_header("X-Total-Count", &total);
    (response, served)
}

fn envelope(path: &str, list: Value, total: usize, offset: usize, limit: Option<usize>) -> Value {
    let mut value = list;
    for key in path.rsplit('.') {
        let mut map = Map::new();
        map.insert(key.to_owned(), value);
        value = Value::Object(map);
    }
    if let Value::Object(map) = &mut value {
        map.insert(
            "meta".into(),
            serde_json::json!({ "total": total, "offset": offset, "limit": limit }),
        );
    }
    value
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;

    /// A GET request for `target` (path and query), as the server would parse it.
    pub(crate) fn request(target: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: "GET".into(),
            path: path.into(),
            query: crate::http::parse_query(query),
            headers: vec![],
            body: vec![],
            keep_alive: true,
            proxied: false,
        }
    }

    fn dataset() -> Dataset {
        let users = (1..=25).map(|i| serde_json::json!({ "id": i, "name": format!("u{i}") }));
        let posts = (1..=50).map(|i| serde_json::json!({ "id": i, "userId": (i % 5) + 1 }));
        Dataset::from_collections([
            ("users".to_owned(), users.collect()),
            ("posts".to_owned(), posts.collect()),
        ])
    }

    fn ids(response: &Response) -> Vec<i64> {
        let v: Value = serde_json::from_slice(&response.body).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_i64().unwrap())
            .collect()
    }

    fn get(target: &str, config: &MockConfig) -> Response {
        handle(&request(target), config, &dataset(), &State::new()).0
    }

    #[test]
    fn pages_with_every_parameter_style() {
        let c = MockConfig::default();
        assert_eq!(ids(&get("/users?_start=20&_limit=3", &c)), vec![21, 22, 23]);
        assert_eq!(
            ids(&get("/users?_page=3&_limit=10", &c)),
            vec![21, 22, 23, 24, 25]
        );
        assert_eq!(ids(&get("/users?offset=24&limit=10", &c)), vec![25]);
        assert_eq!(ids(&get("/users?page=2&per_page=2", &c)), vec![3, 4]);
        assert_eq!(ids(&get("/users?_start=30&_limit=10", &c)).len(), 0);
        assert_eq!(ids(&get("/users", &c)).len(), 25);
    }

    #[test]
    fn the_cap_shrinks_pages_and_page_numbers_follow_it() {
        let c = MockConfig {
            max_page_size: Some(7),
            ..MockConfig::default()
        };
        assert_eq!(
            ids(&get("/users?_start=0&_limit=100", &c)),
            (1..=7).collect::<Vec<_>>()
        );
        assert_eq!(
            ids(&get("/users?page=2&per_page=100", &c)),
            (8..=14).collect::<Vec<_>>()
        );
    }

    #[test]
    fn clamping_serves_the_last_page_past_the_end() {
        let c = MockConfig {
            clamp_paging: true,
            ..MockConfig::default()
        };
        assert_eq!(
            ids(&get("/users?offset=40&limit=10", &c)),
            vec![21, 22, 23, 24, 25]
        );
        assert_eq!(
            ids(&get("/users?page=9&per_page=10", &c)),
            vec![21, 22, 23, 24, 25]
        );
    }

    #[test]
    fn http_dates_are_well_formed() {
        let d = httpdate_after(0);
        assert!(d.ends_with(" GMT") && d.len() == 29, "{d}");
        assert_eq!(&d[3..5], ", ");
    }

    #[test]
    fn nested_routes_and_filters() {
        let c = MockConfig::default();
        let r = get("/users/2/posts", &c);
        assert_eq!(ids(&r), vec![1, 6, 11, 16, 21, 26, 31, 36, 41, 46]);
        assert_eq!(ids(&get("/posts?userId=2&_limit=2", &c)), vec![1, 6]);
        assert_eq!(get("/users/99", &c).status, 404);
        let one: Value = serde_json::from_slice(&get("/users/3", &c).body).unwrap();
        assert_eq!(one["id"], 3);
        assert_eq!(get("/nothing", &c).status, 404);
        // Served from the indexes: an unknown parent is still a 404, paging still applies.
        assert_eq!(get("/users/99/posts", &c).status, 404);
        assert_eq!(get("/users/99/posts?_limit=5", &c).status, 404);
        assert_eq!(
            ids(&get("/users/2/posts?_start=8&_limit=5", &c)),
            vec![41, 46]
        );
    }

    #[test]
    fn the_envelope_wraps_the_list() {
        let c = MockConfig {
            envelope: Some("data.items".into()),
            ..MockConfig::default()
        };
        let v: Value = serde_json::from_slice(&get("/users?_limit=2", &c).body).unwrap();
        assert_eq!(v["data"]["items"].as_array().unwrap().len(), 2);
        assert_eq!(v["meta"]["total"], 25);
    }

    #[test]
    fn auth_is_checked() {
        let c = MockConfig {
            auth: Some(AuthRequirement::Basic {
                username: "Aladdin".into(),
                password: "open sesame".into(),
            }),
            ..MockConfig::default()
        };
        assert_eq!(get("/users", &c).status, 401);
        let mut r = request("/users");
        r.headers.push((
            "Authorization".into(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into(),
        ));
        assert_eq!(handle(&r, &c, &dataset(), &State::new()).0.status, 200);
    }

    #[test]
    fn the_rate_limit_answers_429_with_retry_after() {
        let c = MockConfig {
            rate_limit: Some(RateLimit {
                requests: 2,
                window: Duration::from_secs(5),
                advertise: true,
            }),
            ..MockConfig::default()
        };
        let window = State::new();
        let statuses: Vec<u16> = (0..3)
            .map(|_| handle(&request("/users"), &c, &dataset(), &window).0.status)
            .collect();
        assert_eq!(statuses, vec![200, 200, 429]);
        let refused = handle(&request("/users"), &c, &dataset(), &window).0;
        let retry_after = refused
            .headers
            .iter()
            .find(|(n, _)| n == "Retry-After")
            .unwrap();
        assert!(
            matches!(retry_after.1.as_str(), "4" | "5"),
            "{retry_after:?}"
        );
    }
}
