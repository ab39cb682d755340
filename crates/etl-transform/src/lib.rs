//! etl-transform
