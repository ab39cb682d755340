//! The mutable `orders` collection, for incremental loads: `GET /orders` pages by a keyset
//! cursor over `(updated_at, id)` and filters on `updated_since`; the test API under
//! `/__orders` lists, inserts and changes orders, stamping them with a "now" that is always
//! later than every `updated_at` already served.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::config::MockConfig;
use crate::data::Dataset;
use crate::http::{Request, Response};

/// Page size when the client names none.
const DEFAULT_LIMIT: usize = 50;
/// The largest page, whatever the client asks.
const MAX_LIMIT: usize = 100;

/// Where an order sits in serving order.
type Key = (DateTime<Utc>, i64);

/// The orders, kept in serving order.
#[derive(Debug, Default)]
pub(crate) struct OrderStore {
    /// Every order by `(updated_at, id)`.
    by_key: BTreeMap<Key, Value>,
    /// Each id's `updated_at`: the way from an id to its order.
    updated: BTreeMap<i64, DateTime<Utc>>,
}

/// Why a change to the `orders` collection was refused; each maps to a status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The change is not a valid order (400).
    Invalid(String),
    /// No order has that id, or the mock serves no `orders` (404).
    NotFound(String),
    /// An order with that id exists (409).
    Conflict(String),
}

impl std::error::Error for StoreError {}

impl StoreError {
    fn status(&self) -> u16 {
        match self {
            StoreError::Invalid(_) => 400,
            StoreError::NotFound(_) => 404,
            StoreError::Conflict(_) => 409,
        }
    }

    fn response(&self) -> Response {
        Response::error(self.status(), &self.to_string())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Invalid(m) | StoreError::NotFound(m) | StoreError::Conflict(m) => {
                f.write_str(m)
            }
        }
    }
}

/// The answer when the dataset has no `orders` collection.
pub(crate) const NO_ORDERS: &str =
    "this mock serves no `orders` collection: its fixture folder has no `orders.json`";

impl OrderStore {
    /// The store of the dataset's `orders` collection, if it has one. Every order needs an
    /// integer `id`, unique, and an RFC 3339 `updated_at`.
    pub(crate) fn from_dataset(data: &Dataset) -> Result<Option<Self>, String> {
        let Some(items) = data.collection("orders") else {
            return Ok(None);
        };
        let mut store = Self::default();
        for (i, item) in items.iter().enumerate() {
            let where_ = |e: StoreError| format!("`orders` record {i}: {e}");
            let id = id_of(item).map_err(where_)?;
            let updated = time_of(item, "updated_at")
                .map_err(where_)?
                .ok_or_else(|| format!("`orders` record {i}: `updated_at` is missing"))?;
            if store.updated.contains_key(&id) {
                return Err(format!("`orders` record {i}: the id {id} is taken"));
            }
            store.put(id, updated, item.clone());
        }
        Ok(Some(store))
    }

    fn put(&mut self, id: i64, updated: DateTime<Utc>, order: Value) {
        self.updated.insert(id, updated);
        self.by_key.insert((updated, id), order);
    }

    /// Up to `limit` orders in serving order, updated at or after `since`, after the key
    /// `after`, for which `keep` holds; and the last one's key if more remain.
    fn page(
        &self,
        since: Option<DateTime<Utc>>,
        after: Option<Key>,
        limit: usize,
        keep: impl Fn(&Value) -> bool,
    ) -> (Vec<Value>, Option<Key>) {
        let from = since.map(|t| (t, i64::MIN));
        let start = match (from, after) {
            (Some(from), Some(after)) if from > after => Bound::Included(from),
            (_, Some(after)) => Bound::Excluded(after),
            (Some(from), None) => Bound::Included(from),
            (None, None) => Bound::Unbounded,
        };
        let mut matching = self
            .by_key
            .range((start, Bound::Unbounded))
            .filter(|(_, order)| keep(order));
        let page: Vec<(&Key, &Value)> = matching.by_ref().take(limit).collect();
        let next = match matching.next() {
            Some(_) => page.last().map(|(key, _)| **key),
            None => None,
        };
        (
            page.into_iter().map(|(_, order)| order.clone()).collect(),
            next,
        )
    }

    fn get(&self, id: i64) -> Option<&Value> {
        let updated = self.updated.get(&id)?;
        self.by_key.get(&(*updated, id))
    }

    /// Every order, by id.
    pub(crate) fn all(&self) -> Vec<Value> {
        self.updated
            .iter()
            .filter_map(|(id, updated)| self.by_key.get(&(*updated, *id)).cloned())
            .collect()
    }

    /// The time stamped on a write: now, to the second, but always a second past the latest
    /// `updated_at`, so that a changed order is "updated since" any earlier read.
    fn write_time(&self) -> DateTime<Utc> {
        let now = Utc::now().timestamp();
        let after_latest = self
            .by_key
            .last_key_value()
            .map_or(i64::MIN, |((updated, _), _)| updated.timestamp() + 1);
        DateTime::from_timestamp(now.max(after_latest), 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Inserts `orders` (all or none); missing `created_at` and `updated_at` are set to now.
    pub(crate) fn insert(&mut self, orders: Vec<Value>) -> Result<Vec<Value>, StoreError> {
        let stamp = format_time(self.write_time());
        let mut ids = BTreeSet::new();
        let mut staged = Vec::with_capacity(orders.len());
        for (i, mut order) in orders.into_iter().enumerate() {
            let in_order = |e: StoreError| match e {
                StoreError::Invalid(m) => StoreError::Invalid(format!("order {i}: {m}")),
                other => other,
            };
            let id = id_of(&order).map_err(in_order)?;
            if self.updated.contains_key(&id) || !ids.insert(id) {
                return Err(StoreError::Conflict(format!(
                    "order {i}: an order with id {id} exists"
                )));
            }
            if let Value::Object(fields) = &mut order {
                for field in ["created_at", "updated_at"] {
                    if fields.get(field).is_none_or(Value::is_null) {
                        fields.insert(field.to_owned(), Value::String(stamp.clone()));
                    }
                }
            }
            // Set just above when missing: the default is never used.
            let updated = time_of(&order, "updated_at")
                .map_err(in_order)?
                .unwrap_or_default();
            staged.push((id, updated, order));
        }
        let inserted = staged.iter().map(|(_, _, order)| order.clone()).collect();
        for (id, updated, order) in staged {
            self.put(id, updated, order);
        }
        Ok(inserted)
    }

    /// Sets each of `fields` on the order `id`, and its `updated_at` to now.
    pub(crate) fn update(&mut self, id: i64, fields: Value) -> Result<Value, StoreError> {
        let Value::Object(fields) = fields else {
            return Err(StoreError::Invalid(
                "the fields must be a JSON object".into(),
            ));
        };
        let Some(updated) = self.updated.get(&id).copied() else {
            return Err(StoreError::NotFound(format!("no order with id {id}")));
        };
        if fields.get("id").is_some_and(|v| v.as_i64() != Some(id)) {
            return Err(StoreError::Invalid(format!(
                "the id of order {id} cannot change"
            )));
        }
        let now = self.write_time();
        let Some(mut order) = self.by_key.remove(&(updated, id)) else {
            return Err(StoreError::NotFound(format!("no order with id {id}")));
        };
        if let Value::Object(map) = &mut order {
            map.extend(fields);
            map.insert("updated_at".into(), Value::String(format_time(now)));
        }
        self.put(id, now, order.clone());
        Ok(order)
    }
}

/// Locks the store. A panic while it is held cannot leave it half-changed (`put` is the only
/// change that touches both maps, and it cannot panic between them): keep going.
pub(crate) fn lock(store: &Mutex<OrderStore>) -> MutexGuard<'_, OrderStore> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

fn id_of(order: &Value) -> Result<i64, StoreError> {
    if !order.is_object() {
        return Err(StoreError::Invalid("not a JSON object".into()));
    }
    order["id"].as_i64().ok_or_else(|| {
        StoreError::Invalid(format!("`id` must be an integer, got `{}`", order["id"]))
    })
}

fn time_of(order: &Value, field: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    match order.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_time(s).map(Some).ok_or_else(|| {
            StoreError::Invalid(format!("`{field}` must be an RFC 3339 time, got `{s}`"))
        }),
        Some(other) => Err(StoreError::Invalid(format!(
            "`{field}` must be an RFC 3339 time, got `{other}`"
        ))),
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc())
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The cursor after `key`: hex of `updated_at|id`, opaque to clients and safe in a URL.
fn encode(key: Key) -> String {
    use std::fmt::Write as _;
    let text = format!("{}|{}", format_time(key.0), key.1);
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn decode(cursor: &str) -> Option<Key> {
    if cursor.len() % 2 != 0 || !cursor.is_ascii() {
        return None;
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let (time, id) = text.split_once('|')?;
    Some((parse_time(time)?, id.parse().ok()?))
}

/// `GET /orders?limit=N&updated_since=T&cursor=C`: `{"data": [...], "next_cursor": C | null}`.
pub(crate) fn list(
    request: &Request,
    config: &MockConfig,
    store: &Mutex<OrderStore>,
) -> (Response, usize) {
    if request.method != "GET" {
        return (read_only(), 0);
    }
    let limit = match request.query("limit").map(str::parse::<usize>).transpose() {
        Ok(limit) => limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        Err(_) => return (Response::error(400, "`limit` must be a whole number"), 0),
    };
    let limit = config
        .max_page_size
        .map_or(limit, |cap| limit.min(cap.max(1)));
    let since = match request.query("updated_since") {
        None => None,
        Some(v) => match parse_time(v) {
            Some(t) => Some(t),
            None => {
                let hint = if v.contains(' ') {
                    " (a `+` in a query must be sent as `%2B`)"
                } else {
                    ""
                };
                let message = format!(
                    "`updated_since` must be an RFC 3339 time such as \
                     `2026-11-25T00:00:00Z`, got `{v}`{hint}"
                );
                return (Response::error(400, &message), 0);
            }
        },
    };
    let after = match request.query("cursor") {
        None | Some("") => None,
        Some(c) => match decode(c) {
            Some(key) => Some(key),
            None => {
                let message = format!("`cursor` `{c}` is not a cursor of this API");
                return (Response::error(400, &message), 0);
            }
        },
    };
    let (page, next) = lock(store).page(since, after, limit, |order| {
        crate::paging::matches_filters(request, order)
    });
    let served = page.len();
    let body = json!({ "data": page, "next_cursor": next.map(encode) });
    (Response::json(200, body.to_string().into_bytes()), served)
}

/// `GET /orders/{id}`.
pub(crate) fn item(request: &Request, store: &Mutex<OrderStore>, id: &str) -> (Response, usize) {
    if request.method != "GET" {
        return (read_only(), 0);
    }
    match id.parse().ok().and_then(|id| lock(store).get(id).cloned()) {
        Some(order) => (Response::json(200, order.to_string().into_bytes()), 1),
        None => (
            Response::error(404, &format!("no resource at `{}`", request.path)),
            0,
        ),
    }
}

fn read_only() -> Response {
    Response::error(
        405,
        "`/orders` is read-only: change orders with `POST /__orders` and `PATCH /__orders/{id}`",
    )
}

/// The test API: `GET /__orders`, `POST /__orders`, `GET` and `PATCH /__orders/{id}`.
pub(crate) fn test_api(request: &Request, store: Option<&Mutex<OrderStore>>) -> Response {
    let Some(store) = store else {
        return Response::error(404, NO_ORDERS);
    };
    let rest = request.path.strip_prefix("/__orders").unwrap_or_default();
    let id = rest.trim_matches('/');
    let json = |status: u16, value: &Value| Response::json(status, value.to_string().into_bytes());
    let body = || {
        serde_json::from_slice::<Value>(&request.body)
            .map_err(|e| StoreError::Invalid(format!("the body must be JSON: {e}")))
    };
    let result = match (request.method.as_str(), id) {
        ("GET", "") => Ok(json(200, &Value::Array(lock(store).all()))),
        ("POST", "") => body().and_then(|value| match value {
            Value::Array(orders) => lock(store)
                .insert(orders)
                .map(|inserted| json(201, &Value::Array(inserted))),
            _ => Err(StoreError::Invalid(
                "the body must be a JSON array of orders".into(),
            )),
        }),
        ("GET" | "PATCH", id) => match id.parse::<i64>() {
            Err(_) => Err(StoreError::NotFound(format!(
                "no resource at `{}`",
                request.path
            ))),
            Ok(id) if request.method == "GET" => lock(store)
                .get(id)
                .map(|order| json(200, order))
                .ok_or_else(|| StoreError::NotFound(format!("no order with id {id}"))),
            Ok(id) => body()
                .and_then(|fields| lock(store).update(id, fields))
                .map(|order| json(200, &order)),
        },
        _ => Ok(Response::error(
            405,
            "use GET or POST on `/__orders`, GET or PATCH on `/__orders/{id}`",
        )),
    };
    result.unwrap_or_else(|e| e.response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::generate_orders;
    use crate::routes::{State, handle};

    fn request(method: &str, target: &str, body: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.into(),
            path: path.into(),
            query: crate::http::parse_query(query),
            headers: vec![],
            body: body.as_bytes().to_vec(),
            keep_alive: true,
            proxied: false,
        }
    }

    fn shop(count: usize) -> (Dataset, State) {
        let data = Dataset::from_collections([("orders".to_owned(), generate_orders(count, 7))]);
        let mut state = State::new();
        state.orders = OrderStore::from_dataset(&data).unwrap().map(Mutex::new);
        (data, state)
    }

    fn get(shop: &(Dataset, State), target: &str) -> (u16, Value) {
        let (response, _) = handle(
            &request("GET", target, ""),
            &MockConfig::default(),
            &shop.0,
            &shop.1,
        );
        let body = serde_json::from_slice(&response.body).unwrap();
        (response.status, body)
    }

    /// Every page from `target` on, following `next_cursor`.
    fn all_pages(shop: &(Dataset, State), target: &str) -> Vec<Value> {
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{target}&cursor={c}"),
                None => target.to_owned(),
            };
            let (status, body) = get(shop, &url);
            assert_eq!(status, 200, "{body}");
            records.extend(body["data"].as_array().unwrap().iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return records,
            }
        }
    }

    fn key(order: &Value) -> (DateTime<Utc>, i64) {
        (
            parse_time(order["updated_at"].as_str().unwrap()).unwrap(),
            order["id"].as_i64().unwrap(),
        )
    }

    #[test]
    fn paging_by_100_serves_each_order_once_in_order() {
        let shop = shop(2000);
        let records = all_pages(&shop, "/orders?limit=100");
        assert_eq!(records.len(), 2000);
        let keys: Vec<_> = records.iter().map(key).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "not in (updated_at, id) order"
        );
        let ids: BTreeSet<i64> = keys.iter().map(|k| k.1).collect();
        assert_eq!(ids.len(), 2000);
        // The default page is 50 and the cap 100; the last page has no cursor.
        assert_eq!(
            get(&shop, "/orders").1["data"].as_array().unwrap().len(),
            50
        );
        let (_, big) = get(&shop, "/orders?limit=1000");
        assert_eq!(big["data"].as_array().unwrap().len(), 100);
        let (_, small) = get(&shop, "/orders?limit=100&status=pending");
        assert!(
            small["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o["status"] == "pending")
        );
    }

    #[test]
    fn updated_since_is_inclusive_and_any_offset_is_an_instant() {
        let shop = shop(300);
        let orders = lock(shop.1.orders.as_ref().unwrap()).all();
        let mut keys: Vec<_> = orders.iter().map(key).collect();
        keys.sort();
        let pivot = keys[200].0;
        let expected = keys.iter().filter(|k| k.0 >= pivot).count();
        let utc = format_time(pivot);
        let records = all_pages(&shop, &format!("/orders?limit=7&updated_since={utc}"));
        assert_eq!(records.len(), expected);
        assert_eq!(key(&records[0]).0, pivot);
        // The same instant two hours east, `+` sent as `%2B`.
        let east = pivot
            .with_timezone(&chrono::FixedOffset::east_opt(7200).unwrap())
            .to_rfc3339()
            .replace('+', "%2B");
        let records = all_pages(&shop, &format!("/orders?limit=100&updated_since={east}"));
        assert_eq!(records.len(), expected);
    }

    #[test]
    fn a_bad_updated_since_or_a_stranger_cursor_is_a_400_naming_it() {
        let shop = shop(10);
        let (status, body) = get(&shop, "/orders?updated_since=yesterday");
        assert_eq!(status, 400);
        assert!(
            body["error"].as_str().unwrap().contains("`updated_since`"),
            "{body}"
        );
        let (status, body) = get(&shop, "/orders?updated_since=2026-11-25T00:00:00+01:00");
        assert_eq!(status, 400);
        assert!(body["error"].as_str().unwrap().contains("%2B"), "{body}");
        let (status, body) = get(&shop, "/orders?cursor=zz");
        assert_eq!(status, 400);
        assert!(
            body["error"].as_str().unwrap().contains("`cursor`"),
            "{body}"
        );
        let key = (parse_time("2026-11-03T14:05:09Z").unwrap(), 42);
        assert_eq!(decode(&encode(key)), Some(key));
        assert_eq!(decode("é"), None);
    }

    #[test]
    fn a_patch_moves_the_order_to_the_end_and_updated_since_finds_it() {
        let shop = shop(300);
        let store = shop.1.orders.as_ref().unwrap();
        let latest = lock(store).all().iter().map(key).max().unwrap().0;
        let patched = test_api(
            &request("PATCH", "/__orders/5", r#"{"status": "refunded"}"#),
            Some(store),
        );
        assert_eq!(patched.status, 200);
        let order: Value = serde_json::from_slice(&patched.body).unwrap();
        assert_eq!(
            (order["id"].as_i64(), order["status"].as_str()),
            (Some(5), Some("refunded"))
        );
        let stamp = order["updated_at"].as_str().unwrap();
        assert!(parse_time(stamp).unwrap() > latest, "{stamp} <= {latest}");
        let everything = all_pages(&shop, "/orders?limit=100");
        assert_eq!(everything.len(), 300);
        assert_eq!(everything.last(), Some(&order));
        let since = all_pages(&shop, &format!("/orders?updated_since={stamp}"));
        assert_eq!(since, vec![order.clone()]);
        assert_eq!(get(&shop, "/orders/5").1, order);
        assert_eq!(get(&shop, "/orders/301").0, 404);
        let missing = test_api(&request("PATCH", "/__orders/999", "{}"), Some(store));
        assert_eq!(missing.status, 404);
    }

    #[test]
    fn inserts_are_stamped_later_and_taken_ids_conflict() {
        let shop = shop(20);
        let store = shop.1.orders.as_ref().unwrap();
        let added = test_api(
            &request(
                "POST",
                "/__orders",
                r#"[{"id": 21, "status": "paid", "total": 9.5}]"#,
            ),
            Some(store),
        );
        assert_eq!(added.status, 201);
        let added: Value = serde_json::from_slice(&added.body).unwrap();
        let stamp = added[0]["updated_at"].as_str().unwrap();
        assert_eq!(added[0]["created_at"].as_str(), Some(stamp));
        assert_eq!(
            get(&shop, &format!("/orders?updated_since={stamp}")).1["data"],
            added
        );
        let taken = test_api(
            &request("POST", "/__orders", r#"[{"id": 22}, {"id": 3}]"#),
            Some(store),
        );
        assert_eq!(taken.status, 409);
        let all = test_api(&request("GET", "/__orders", ""), Some(store));
        let all: Value = serde_json::from_slice(&all.body).unwrap();
        let ids: Vec<i64> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, (1..=21).collect::<Vec<_>>(), "all or nothing, by id");
    }
}
