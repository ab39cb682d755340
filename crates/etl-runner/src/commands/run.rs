//! `etl run FILE`: one run of a pipeline, under its lock, with signals handled, a summary on
//! stdout and a manifest whatever the outcome.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::cli::{LogFormat, ShardArgs, WindowArgs};
use crate::context::Context;
use crate::error::{CliError, RunFailure};
use crate::lock::RunLock;
use crate::logging;
use crate::manifest::{Manifest, Outcome, RunOptionsEntry};
use crate::pipeline::Pipeline;
use crate::progress::{Progress, ProgressMode};
use crate::run::{Cancel, Plan, RunClock, RunOptions, RunReport};
use crate::shard::{self, Mode, Sharding};
use crate::signals::{Signals, runtime};
use crate::summary;

pub(super) fn run(
    ctx: &Context,
    file: &Path,
    args: &WindowArgs,
    shard: &ShardArgs,
    mode: ProgressMode,
) -> Result<ExitCode, CliError> {
    let checked = sharding(shard).and_then(|sharding| {
        let pipeline = ctx.load_pipeline(file).map_err(CliError::from)?;
        let options = RunOptions {
            root: ctx.work_dir.clone(),
            since: args.since.clone(),
            until: args.until.clone(),
            save_state: args.save_state,
            only: args.only.clone(),
            sharding,
        };
        let plan = options.plan(&pipeline)?;
        Ok((pipeline, plan))
    });
    let (pipeline, plan) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            logging::init(ctx, None);
            return Err(e);
        }
    };
    let json_logs = ctx.log_format == LogFormat::Json;
    // A finish fetches nothing; a shard other than 0 fetches only the `for_each` sources.
    let fetched: Vec<bool> = match plan.sharding.as_ref().map(|s| s.mode) {
        None => plan.sources.clone(),
        Some(Mode::Finish) => vec![false; plan.sources.len()],
        Some(Mode::Shard(k)) => shard::roles(&pipeline)
            .iter()
            .zip(&plan.sources)
            .map(|(role, on)| *on && role.fetched_by(k))
            .collect(),
    };
    let wanted = Progress::wanted(mode, ctx.quiet, json_logs) && fetched.contains(&true);
    let display = wanted.then(|| {
        let sources: Vec<(String, Option<String>)> = pipeline
            .sources
            .iter()
            .zip(&fetched)
            .filter(|(_, runs)| **runs)
            .map(|(s, _)| {
                (
                    s.name.clone(),
                    s.for_each.as_ref().map(|f| f.source.clone()),
                )
            })
            .collect();
        Progress::new(&sources, mode)
    });
    logging::init(ctx, display.as_ref());
    let runner = Runner {
        ctx,
        file,
        args,
        pipeline: &pipeline,
        plan: &plan,
    };
    runner.run(display)
}

/// `--shard`, `--finish`, `--run-id`, `--stage` and `--wait` checked together.
fn sharding(args: &ShardArgs) -> Result<Option<Sharding>, CliError> {
    let usage = |m: String| CliError::Usage(m);
    let mode = match (&args.shard, args.finish) {
        (Some(k), _) => Mode::Shard(shard::parse_shard(k).map_err(usage)?),
        (None, true) => Mode::Finish,
        (None, false) => {
            let given: Vec<&str> = [
                ("--run-id", args.run_id.is_some()),
                ("--stage", args.stage.is_some()),
                ("--wait", args.wait.is_some()),
            ]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(flag, _)| flag)
            .collect();
            if given.is_empty() {
                return Ok(None);
            }
            let verb = if given.len() == 1 {
                "belongs"
            } else {
                "belong"
            };
            return Err(usage(format!(
                "{} {verb} to a sharded run: add --shard K/N (a shard) or --finish",
                given.join(" and ")
            )));
        }
    };
    let flag = if args.finish { "--finish" } else { "--shard" };
    let Some(run_id) = args.run_id.clone() else {
        return Err(usage(format!(
            "{flag} needs --run-id ID, the same for every shard and the finish"
        )));
    };
    shard::check_run_id(&run_id).map_err(usage)?;
    let Some(stage) = args.stage.clone() else {
        return Err(usage(format!(
            "{flag} needs --stage URL (`s3://bucket/prefix` or a folder), the same for every \
             shard and the finish"
        )));
    };
    crate::shard::Stage::check_url(&stage).map_err(usage)?;
    let wait = args
        .wait
        .as_deref()
        .map(|w| {
            w.parse::<etl_source::HumanDuration>()
                .map(|d| d.0)
                .map_err(|e| usage(format!("--wait `{w}`: {e}")))
        })
        .transpose()?;
    Ok(Some(Sharding {
        run_id,
        stage,
        mode,
        wait,
    }))
}

/// The runtime of a run: half the cores (one at least) run the requests and read the pages;
/// the other half are left to the staging threads (one per source), which turn the pages
/// into columns meanwhile. With every core a worker, the workers, the staging threads and
/// polars' pool contend for them: on 2 cores at large scale, eight alternating runs each
/// took a median 1.50 s of CPU and 14,100 context switches with 2 workers, 1.36 s and 7,300
/// with one, which was the faster (median 1.39x the floor against 1.42x;
/// docs/performance.md). `TOKIO_WORKER_THREADS` still decides when it is set.
fn fetch_runtime() -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        builder.worker_threads((cores / 2).max(1));
    }
    builder
}

/// One `etl run` once the pipeline is loaded and the options checked.
struct Runner<'a> {
    ctx: &'a Context,
    file: &'a Path,
    args: &'a WindowArgs,
    pipeline: &'a Pipeline,
    plan: &'a Plan,
}

impl Runner<'_> {
    fn run(&self, display: Option<Progress>) -> Result<ExitCode, CliError> {
        let runtime = runtime(fetch_runtime())?;
        let mut clock = RunClock::now();
        let started_at = chrono::Utc::now();
        // A shard runs beside the other shards of its run, on this machine too: its own lock.
        let mut lock_name = self.pipeline.name.clone();
        if let Some(sharding) = &self.plan.sharding {
            clock.run_id.clone_from(&sharding.run_id);
            if let Mode::Shard(shard) = sharding.mode {
                clock.run_id = format!("{}-shard-{}", sharding.run_id, shard.index);
                lock_name = format!("{}-shard-{}", self.pipeline.name, shard.index);
            }
        }
        let _lock = RunLock::acquire(
            &self.ctx.work_dir,
            &lock_name,
            &clock.run_id,
            &started_at.to_rfc3339(),
        )?;
        let cancel = Cancel::default();
        let signal = Arc::new(AtomicU8::new(0));
        {
            // Registered before the run starts, so that no signal finds the default handler.
            let mut signals = {
                let _entered = runtime.enter();
                Signals::register()
            };
            let (cancel, signal) = (cancel.clone(), Arc::clone(&signal));
            runtime.spawn(async move {
                let code = signals.next().await;
                signal.store(code, Ordering::SeqCst);
                tracing::warn!(signal = code, "Stopping: a signal asked the run to stop.");
                cancel.cancel();
                // A second signal does not wait for the clean-up.
                let code = signals.next().await;
                eprintln!("error: a second signal: stopping at once");
                std::process::exit(i32::from(code));
            });
        }
        let progress = display
            .clone()
            .map(|d| Arc::new(d) as Arc<dyn etl_source::ProgressSink>);
        let outcome = runtime.block_on(crate::run::run(
            self.pipeline,
            &clock,
            &cancel,
            self.plan,
            progress,
        ));
        if let Some(display) = display {
            display.finish();
        }
        // Blocking work still running (a DNS lookup) must not hold the exit up.
        runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        let code = signal.load(Ordering::SeqCst);
        let manifest = self.write_manifest(&clock, started_at, outcome.as_ref(), code != 0);
        self.report(&clock, outcome, code, manifest)
    }

    /// Writes the run's manifest and prunes old ones; where it went, if it could be written.
    fn write_manifest(
        &self,
        clock: &RunClock,
        started_at: chrono::DateTime<chrono::Utc>,
        result: Result<&RunReport, &RunFailure>,
        interrupted: bool,
    ) -> Option<PathBuf> {
        let root = &self.ctx.work_dir;
        let manifest = Manifest::of(Outcome {
            pipeline: &self.pipeline.name,
            file: self.file,
            clock,
            started_at,
            result,
            interrupted,
            options: RunOptionsEntry {
                since: self.args.since.clone(),
                until: self.args.until.clone(),
                save_state: self.args.save_state,
                only: self.args.only.clone(),
                shard: self.plan.sharding.as_ref().and_then(|s| match s.mode {
                    Mode::Shard(shard) => Some(shard.to_string()),
                    Mode::Finish => None,
                }),
                finish: self
                    .plan
                    .sharding
                    .as_ref()
                    .is_some_and(|s| s.mode == Mode::Finish),
                stage: self.plan.sharding.as_ref().map(|s| s.stage.clone()),
            },
        });
        let path = match manifest.write(root) {
            Ok(path) => path,
            Err(e) => {
                eprintln!(
                    "warning: cannot write the run manifest under `{}`: {e}",
                    root.join("runs").display()
                );
                return None;
            }
        };
        let keep_days = self.pipeline.keep_manifest_days;
        match Manifest::prune(root, &self.pipeline.name, keep_days, chrono::Utc::now()) {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(
                    removed = removed.len(),
                    keep_days,
                    "Removed old run manifests."
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Could not remove old run manifests."),
        }
        Some(path)
    }

    /// The summary on stdout, or the error with the sources that had finished.
    fn report(
        &self,
        clock: &RunClock,
        outcome: Result<RunReport, RunFailure>,
        signal: u8,
        manifest: Option<PathBuf>,
    ) -> Result<ExitCode, CliError> {
        let mut stdout = std::io::stdout().lock();
        match outcome {
            Ok(report) => {
                if !self.ctx.quiet {
                    let _ = stdout.write_all(summary::render(&report).as_bytes());
                    if let Some(path) = manifest {
                        let _ = writeln!(stdout, "\nmanifest: {}", path.display());
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(_) if signal != 0 => Err(CliError::Interrupted {
                pipeline: self.pipeline.name.clone(),
                run_id: clock.run_id.clone(),
                code: signal,
            }),
            Err(failure) => {
                if !failure.sources.is_empty() && !self.ctx.quiet {
                    let _ = stdout.write_all(summary::sources_table(&failure.sources).as_bytes());
                }
                let _ = stdout.flush();
                Err(CliError::Run {
                    pipeline: self.pipeline.name.clone(),
                    run_id: clock.run_id.clone(),
                    failure: Box::new(failure),
                })
            }
        }
    }
}
