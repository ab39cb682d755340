//! `etl schedule FILE...`: one long-lived process that runs each pipeline on its `schedule`.
//!
//! Each run is a child process (`etl run FILE`), so a run keeps its own lock, manifest, exit
//! code and clean-up, and a crash of one run never takes the scheduler down. A pipeline is
//! never run twice at once: a tick that comes while its previous run is still going is
//! skipped and logged. SIGTERM or SIGINT stops the scheduler: no new run starts, running
//! ones are asked to stop (they clean up and record an interrupted manifest), and the
//! scheduler exits 0 once they have.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::schedule::Schedule;

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

/// Loads every file; each must have a `schedule`. Errors are printed; `None` if any.
fn load(files: &[PathBuf]) -> Option<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut ok = true;
    for file in files {
        match crate::cli::load_pipeline(file) {
            Ok(p) => match p.schedule {
                Some(schedule) => entries.push(Entry {
                    file: file.clone(),
                    name: p.name,
                    next: schedule.next_after(Utc::now()),
                    schedule,
                    running: None,
                }),
                None => {
                    eprintln!(
                        "error: {}: has no `schedule`; add one, e.g. `schedule: \"0 2 * * *\"` \
                         (five cron fields, or six with seconds first)",
                        file.display()
                    );
                    ok = false;
                }
            },
            Err(d) => {
                eprintln!("{d}");
                ok = false;
            }
        }
    }
    ok.then_some(entries)
}

/// Runs the scheduler until a signal stops it; returns the exit code.
pub(crate) fn main(files: &[PathBuf]) -> u8 {
    use crate::cli::exit;
    let Some(mut entries) = load(files) else {
        return exit::CONFIG;
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find the etl executable to start runs with: {e}");
            return exit::FAILED;
        }
    };
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
    let runtime = match crate::cli::runtime(tokio::runtime::Builder::new_current_thread()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let mut signals = crate::cli::Signals::register();
        let stop = loop {
            tokio::select! {
                code = signals.next() => break code,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            reap(&mut entries);
            let now = Utc::now();
            for e in &mut entries {
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
                let mut command = Command::new(&exe);
                command
                    .args(crate::cli::load_args())
                    .arg("run")
                    .arg(&e.file);
                // Its own process group: a Ctrl-C or a signal to the scheduler's group reaches
                // the run once, from the scheduler, and it stops cleanly (a second signal
                // would make it stop at once, without cleaning up).
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
    exit::OK
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
