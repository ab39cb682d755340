//! `etl-mockapi`: a local REST API over fixture data.
//!
//! It serves every `*.json` file of a fixture folder (an array of objects) as a collection,
//! in the shape of JSONPlaceholder: `/users`, `/users/3`, `/posts/7/comments`. It pages with
//! JSONPlaceholder's parameters (`_start`/`_limit`, `_page`/`_limit`) and generic ones
//! (`offset`/`limit`, `page`/`per_page`), and can misbehave on purpose: a page-size cap, a
//! required credential, a fixed-window rate limit answering 429, and seeded faults (500, 503,
//! dropped connections, truncated bodies, latency). `GET /__stats` reports what it served,
//! request targets included.
//!
//! A collection named `orders` is different: it is mutable, for testing incremental loads.
//! `GET /orders` pages it by an opaque keyset cursor over `(updated_at, id)` and filters it
//! with `updated_since`; the test API under `/__orders` (or [`MockServer::add_orders`] and
//! [`MockServer::update_order`]) inserts and changes orders, stamping them later than every
//! `updated_at` served so far. [`generate_orders`] invents them (`fixtures/shop/orders.json`).
//!
//! The main types are [`MockConfig`] (what to serve and how to misbehave), [`MockServer`]
//! (a running server on its own thread, stopped on drop) and [`Stats`] (what it saw).
//! It is used by etl's tests, by `make demo`, by the benchmarks, and by users as a sandbox.

pub mod bench;
mod config;
mod data;
mod faults;
mod http;
mod oauth;
mod order_store;
mod orders;
mod paging;
mod routes;
mod server;
mod stats;
mod styles;

pub use config::{
    AuthRequirement, CursorMode, Faults, MockConfig, OAuth2Mock, RateLimit, TlsServer,
};
pub use data::Dataset;
pub use order_store::StoreError;
pub use orders::generate_orders;
pub use server::MockServer;
pub use stats::Stats;
