//! etl-runner
