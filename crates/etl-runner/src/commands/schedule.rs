//! `etl schedule FILE...`: one long-lived process that runs each pipeline on its `schedule`.
//!
//! Each run is a child process (`etl run FILE`), so a run keeps its own lock, manifest, exit
//! code and clean-up, and a crash of one run never takes the scheduler down. A pipeline is
//! never run twice at once: a tick that comes while its previous run is still going is
//! skipped and logged. SIGTERM or SIGINT stops the scheduler: no new run starts, running
//! ones are asked to stop (they clean up and record an interrupted manifest), and the
//! scheduler exits 0 once they have.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::context::Context;
use crate::error::{CliError, exit};
use crate::pipeline::{Diagnostic, Diagnostics};
use crate::schedule::Schedule;
use crate::signals::{Signals, runtime};

/// One scheduled pipeline.
struct Entry {
    file: PathBuf,
    name: String,
    schedule: Schedule,
    next: Option<DateTime<Utc>>,
    running: Option<(Child, Instant)>,
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Loads every file; each must have a `schedule`. Every problem of every file is reported.
fn load(ctx: &Context, files: &[PathBuf]) -> Result<Vec<Entry>, CliError> {
    let mut entries = Vec::new();
    let mut invalid = Vec::new();
    for file in files {
        match ctx.load_pipeline(file) {
            Ok(p) => match p.schedule {
                Some(schedule) => entries.push(Entry {
                    file: file.clone(),
                    name: p.name,
                    next: schedule.next_after(Utc::now()),
                    schedule,
                    running: None,
                }),
                None => invalid.push(Diagnostics(vec![Diagnostic {
                    file: file.clone(),
                    position: None,
                    key: String::new(),
                    message: "has no `schedule`; add one, e.g. `schedule: \"0 2 * * *\"` (five \
                              cron fields, or six with seconds first)"
                        .to_owned(),
                    excerpt: None,
                }])),
            },
            Err(d) => invalid.push(d),
        }
    }
    if invalid.is_empty() {
        Ok(entries)
    } else {
        Err(CliError::Invalid(invalid))
    }
}

/// Runs the scheduler until a signal stops it.
pub(super) fn schedule(ctx: &Context, files: &[PathBuf]) -> Result<ExitCode, CliError> {
    let mut entries = load(ctx, files)?;
    let exe = std::env::current_exe().map_err(|e| {
        CliError::Failed(format!(
            "cannot find the etl executable to start runs with: {e}"
        ))
    })?;
    for e in &entries {
        match e.next {
            Some(next) => println!(
                "{} {}: scheduled `{}` ({}), next run {}",
                now_text(),
                e.name,
                e.schedule.text,
                e.schedule.timezone,
                next.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            None => println!(
                "{} {}: `{}` never fires; it will not run",
                now_text(),
                e.name,
                e.schedule.text
            ),
        }
    }
    let runtime = runtime(tokio::runtime::Builder::new_current_thread())?;
    let args = ctx.load_args();
    runtime.block_on(async {
        let mut signals = Signals::register();
        let stop = loop {
            tokio::select! {
                code = signals.next() => break code,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            reap(&mut entries);
            start_due(&mut entries, &exe, &args);
        };
        let name = if stop == exit::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        println!(
            "{} stopping ({name}): no new runs; waiting for running ones",
            now_text()
        );
        for e in &mut entries {
            if let Some((child, _)) = &e.running {
                terminate(child);
            }
        }
        while entries.iter().any(|e| e.running.is_some()) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            reap(&mut entries);
        }
        println!("{} stopped", now_text());
    });
    Ok(ExitCode::SUCCESS)
}

/// Starts the runs that are due, unless the previous run of the pipeline is still going.
fn start_due(entries: &mut [Entry], exe: &Path, args: &[String]) {
    let now = Utc::now();
    for e in entries {
        let Some(due) = e.next else { continue };
        if now < due {
            continue;
        }
        e.next = e.schedule.next_after(now);
        if e.running.is_some() {
            println!(
                "{} {}: skipped the run due at {}: the previous run is still going",
                now_text(),
                e.name,
                due.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
            continue;
        }
        let mut command = Command::new(exe);
        command.args(args).arg("run").arg(&e.file);
        // Its own process group: a Ctrl-C or a signal to the scheduler's group reaches the run
        // once, from the scheduler, and it stops cleanly (a second signal would make it stop
        // at once, without cleaning up).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        match command.spawn() {
            Ok(child) => {
                println!(
                    "{} {}: run started (process {})",
                    now_text(),
                    e.name,
                    child.id()
                );
                e.running = Some((child, Instant::now()));
            }
            Err(err) => {
                println!("{} {}: cannot start a run: {err}", now_text(), e.name);
            }
        }
    }
}

/// Logs and forgets runs that have ended.
fn reap(entries: &mut [Entry]) {
    for e in entries {
        let Some((child, started)) = &mut e.running else {
            continue;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                let code = status
                    .code()
                    .map_or_else(|| "a signal".to_owned(), |c| format!("exit code {c}"));
                let next = e.next.map_or_else(
                    || "none".to_owned(),
                    |n| n.to_rfc3339_opts(SecondsFormat::Secs, true),
                );
                println!(
                    "{} {}: run {} with {code} in {:.1}s; next run {next}",
                    now_text(),
                    e.name,
                    if status.success() {
                        "succeeded"
                    } else {
                        "failed"
                    },
                    started.elapsed().as_secs_f64()
                );
                e.running = None;
            }
            Ok(None) => {}
            Err(err) => {
                println!("{} {}: cannot check the run: {err}", now_text(), e.name);
                e.running = None;
            }
        }
    }
}

/// Asks a run to stop the way a signal would: it cleans up and records the interruption.
/// (`kill -TERM`: this crate has no unsafe code, so no `libc::kill`.)
fn terminate(child: &Child) {
    #[cfg(unix)]
    {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        if !sent.is_ok_and(|s| s.success()) {
            println!(
                "{} cannot send SIGTERM to process {}; waiting for it to end",
                now_text(),
                child.id()
            );
        }
    }
    #[cfg(not(unix))]
    {
        let _ = child;
    }
}
