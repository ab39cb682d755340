//! `etl-config`: what every crate's config stage shares.
//!
//! A leaf crate's `build()` turns its `*Spec` (the YAML as written) into runtime objects and
//! reports every problem as a [`ConfigError`]: the [`KeyPath`] of the offending key, what is
//! wrong, and optionally a hint (what to do) and the word to underline. The runner turns
//! those into diagnostics with line, column and caret without reading their text.
//! [`did_you_mean`] is the one typo matcher of the project.

mod error;
mod key;
mod suggest;

pub use error::ConfigError;
pub use key::{KeyPath, Segment};
pub use suggest::{did_you_mean, hint_or_list, quote_list};
