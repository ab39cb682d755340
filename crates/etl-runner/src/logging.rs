//! Log lines on stderr, at the level of `-v` (or `RUST_LOG`), plain or JSON; with a progress
//! display, the lines are written around it.

use crate::cli::LogFormat;
use crate::context::Context;
use crate::progress::Progress;

/// Starts logging for this process (once; later calls change nothing).
pub(crate) fn init(ctx: &Context, progress: Option<&Progress>) {
    use tracing_subscriber::prelude::*;
    let level = match ctx.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let registry = tracing_subscriber::registry();
    // Colours on a terminal only: under cron, in a pipe or a file, plain lines.
    let ansi = {
        use std::io::IsTerminal as _;
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
    };
    let _ = match (ctx.log_format, progress) {
        (LogFormat::Json, _) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
        (LogFormat::Text, None) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
        (LogFormat::Text, Some(progress)) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(progress.writer())
                    .with_filter(filter),
            )
            .try_init(),
    };
}
