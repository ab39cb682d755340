//! Progress of running sources, for a live display: each source reports [`ProgressEvent`]s to
//! the [`ProgressSink`] given to [`crate::Extractor::with_progress`] (`etl run` on a terminal
//! draws them). Without a sink nothing is sent. Log lines stay `tracing` events.

use std::fmt;
use std::time::Duration;

/// Something that happened to one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// The source started fetching (a `for_each` child: after its parent finished).
    Started,
    /// One page was fetched and staged.
    Page { records: u64 },
    /// The source waits `wait` before a request. Waits under 50 ms are not reported.
    Waiting { wait: Duration, reason: WaitReason },
    /// The source finished fetching, successfully.
    Finished,
}

/// Why a source waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// The host's request budget (`rate_limit`, or a quota the server stated).
    RateLimit,
    /// Before retrying a transient failure (`status 503`, a timeout, ...); the wait is
    /// reported before it starts.
    Retry { failure: String },
}

impl fmt::Display for WaitReason {
    /// `rate limit`, or `retry: <failure>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RateLimit => f.write_str("rate limit"),
            Self::Retry { failure } => write!(f, "retry: {failure}"),
        }
    }
}

/// Where progress events go: called from every source's task, so it must be cheap and must
/// not block.
pub trait ProgressSink: Send + Sync + fmt::Debug {
    /// `event` happened to the source named `source`.
    fn event(&self, source: &str, event: ProgressEvent);
}

/// Waits shorter than this are not worth showing.
const SHOWN_WAIT: Duration = Duration::from_millis(50);

/// One source's reporter: sends its events to the sink, if there is one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress<'a> {
    sink: Option<&'a dyn ProgressSink>,
    source: &'a str,
}

impl<'a> Progress<'a> {
    pub(crate) fn new(sink: Option<&'a dyn ProgressSink>, source: &'a str) -> Self {
        Self { sink, source }
    }

    fn send(self, event: ProgressEvent) {
        if let Some(sink) = self.sink {
            sink.event(self.source, event);
        }
    }

    pub(crate) fn started(self) {
        self.send(ProgressEvent::Started);
    }

    pub(crate) fn page(self, records: u64) {
        self.send(ProgressEvent::Page { records });
    }

    pub(crate) fn wait(self, wait: Duration, reason: WaitReason) {
        if wait >= SHOWN_WAIT {
            self.send(ProgressEvent::Waiting { wait, reason });
        }
    }

    pub(crate) fn finished(self) {
        self.send(ProgressEvent::Finished);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<(String, ProgressEvent)>>);

    impl ProgressSink for Recorder {
        fn event(&self, source: &str, event: ProgressEvent) {
            self.0.lock().unwrap().push((source.to_owned(), event));
        }
    }

    #[test]
    fn short_waits_are_not_reported() {
        let sink = Recorder::default();
        let p = Progress::new(Some(&sink), "posts");
        p.wait(Duration::from_millis(10), WaitReason::RateLimit);
        p.wait(Duration::from_millis(60), WaitReason::RateLimit);
        Progress::new(None, "posts").page(3);
        let events = sink.0.into_inner().unwrap();
        assert_eq!(
            events,
            [(
                "posts".to_owned(),
                ProgressEvent::Waiting {
                    wait: Duration::from_millis(60),
                    reason: WaitReason::RateLimit
                }
            )]
        );
        let retry = WaitReason::Retry {
            failure: "status 503".into(),
        };
        assert_eq!(retry.to_string(), "retry: status 503");
    }
}
