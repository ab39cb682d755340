//! Progress events for a live display: each is a `TRACE` event with target [`TARGET`], which a
//! terminal display (`etl run` on a terminal) listens to and plain logs leave out.

use std::time::Duration;

/// The `tracing` target of every progress event.
pub const TARGET: &str = "etl::progress";

/// Waits shorter than this are not worth showing.
const SHOWN_WAIT: Duration = Duration::from_millis(50);

/// The source started fetching (a `for_each` child: after its parent finished).
pub(crate) fn started(source: &str) {
    tracing::trace!(target: TARGET, event = "started", source, "Source started.");
}

/// One page was fetched and staged, with `records` records.
pub(crate) fn page(source: &str, records: u64) {
    tracing::trace!(target: TARGET, event = "page", source, records, "Page.");
}

/// The source waits `wait` before its next request, because of `reason`.
pub(crate) fn wait(source: &str, wait: Duration, reason: &str) {
    if wait >= SHOWN_WAIT {
        tracing::trace!(
            target: TARGET,
            event = "wait",
            source,
            wait_ms = wait.as_millis() as u64,
            reason,
            "Waiting."
        );
    }
}

/// The source finished fetching.
pub(crate) fn finished(source: &str) {
    tracing::trace!(target: TARGET, event = "finished", source, "Source finished.");
}
