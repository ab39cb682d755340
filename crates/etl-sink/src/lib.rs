//! etl-sink
