//! `etl state show|reset|publish FILE`: the incremental state of a pipeline, and the copy
//! the shards of sharded runs start from (on the stage).

use std::path::Path;
use std::process::ExitCode;

use crate::cli::StateAction;
use crate::context::Context;
use crate::error::CliError;
use crate::lock::RunLock;
use crate::shard::{self, Stage};
use crate::state::{self, State};

pub(super) fn state(ctx: &Context, action: &StateAction) -> Result<ExitCode, CliError> {
    match action {
        StateAction::Show { file, stage } => {
            let stage = stage.as_deref().map(open_stage).transpose()?;
            show(ctx, file)?;
            if let Some(stage) = stage {
                show_published(ctx, file, &stage)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        StateAction::Reset {
            file,
            source,
            stage,
        } => {
            let stage = stage.as_deref().map(open_stage).transpose()?;
            reset(ctx, file, source.as_deref())?;
            if let Some(stage) = stage {
                publish(ctx, file, &stage, true)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        StateAction::Publish { file, stage } => {
            let stage = open_stage(stage)?;
            publish(ctx, file, &stage, false)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn open_stage(url: &str) -> Result<Stage, CliError> {
    Stage::check_url(url).map_err(CliError::Usage)?;
    Stage::open(url).map_err(CliError::Failed)
}

/// Runs one stage request to completion.
fn blocking<T>(work: impl std::future::Future<Output = Result<T, String>>) -> Result<T, CliError> {
    let runtime = crate::signals::runtime(tokio::runtime::Builder::new_current_thread())?;
    runtime.block_on(work).map_err(CliError::Failed)
}

/// The copy of the state published on the stage, and whether it is this machine's.
fn show_published(ctx: &Context, file: &Path, stage: &Stage) -> Result<(), CliError> {
    let name = crate::pipeline::name_of(file);
    let local = std::fs::read(state::path(&ctx.work_dir, &name)).ok();
    let key = shard::state_key(&name);
    match blocking(stage.get(&key))? {
        None => println!(
            "{name}: no state published at `{}` (the next sharded run's shards start every \
             source from `initial`)",
            stage.show(&key)
        ),
        Some(bytes) => {
            let published: State = serde_json::from_slice(&bytes).map_err(|e| {
                CliError::Failed(format!("`{}` is not readable: {e}", stage.show(&key)))
            })?;
            let same = if local.as_deref() == Some(bytes.as_slice()) {
                "the same as the state here"
            } else {
                "not the state here: a finish here would refuse shards that start from it \
                 (`etl state publish` makes it this one)"
            };
            println!(
                "{name}: state of run {} ({}) published at `{}`: {same}",
                published.run_id,
                published.updated_at,
                stage.show(&key)
            );
        }
    }
    Ok(())
}

/// Makes the stage's copy this machine's state: published; after a reset that left no state,
/// removed.
fn publish(ctx: &Context, file: &Path, stage: &Stage, after_reset: bool) -> Result<(), CliError> {
    let root = &ctx.work_dir;
    let name = crate::pipeline::name_of(file);
    let key = shard::state_key(&name);
    let local = state::path(root, &name);
    // Not while a finish here may be saving the state.
    let _lock = RunLock::acquire(
        root,
        &name,
        "state-publish",
        &chrono::Utc::now().to_rfc3339(),
    )?;
    match State::load(root, &name)? {
        Some(st) => {
            let bytes = std::fs::read(&local)
                .map_err(|e| CliError::Failed(format!("cannot read `{}`: {e}", local.display())))?;
            blocking(stage.put(&key, bytes))?;
            println!(
                "{name}: published the state of run {} at `{}`",
                st.run_id,
                stage.show(&key)
            );
        }
        None if after_reset => {
            let had = blocking(stage.get(&key))?.is_some();
            if had {
                blocking(stage.delete(&key))?;
                println!("{name}: removed {}", stage.show(&key));
            }
        }
        None => {
            return Err(CliError::Usage(format!(
                "{name}: no state in `{}` to publish (no incremental run has succeeded here)",
                local.display()
            )));
        }
    }
    Ok(())
}

fn show(ctx: &Context, file: &Path) -> Result<(), CliError> {
    let root = &ctx.work_dir;
    let name = crate::pipeline::name_of(file);
    let Some(state) = State::load(root, &name)? else {
        println!(
            "{name}: no state in `{}` (no incremental run has succeeded here)",
            state::path(root, &name).display()
        );
        return Ok(());
    };
    println!(
        "{name}: state of run {} ({}), in `{}`",
        state.run_id,
        state.updated_at,
        state::path(root, &name).display()
    );
    for (source, s) in &state.sources {
        let cursor = s.cursor.as_ref().map_or_else(
            || "none".to_owned(),
            |v| v.as_str().map_or_else(|| v.to_string(), str::to_owned),
        );
        println!("  {source}: {} = {cursor}", s.cursor_field);
        if !s.parents.is_empty() {
            println!("    {} parent cursors", s.parents.len());
        }
        if let Some(t) = &s.table {
            println!(
                "    merged table `{}`: {} rows, {} bytes",
                t.path, t.rows, t.bytes
            );
        }
    }
    Ok(())
}

fn reset(ctx: &Context, file: &Path, source: Option<&str>) -> Result<(), CliError> {
    let root = &ctx.work_dir;
    let name = crate::pipeline::name_of(file);
    if let Some(s) = source {
        // The source must exist in the pipeline, when the file can be read.
        if let Ok(p) = ctx.load_pipeline(file) {
            if !p.sources.iter().any(|x| x.name == *s) {
                let names: Vec<&str> = p.sources.iter().map(|x| x.name.as_str()).collect();
                let hint = etl_config::did_you_mean(s, names.iter().copied())
                    .map_or_else(String::new, |d| format!("; did you mean `{d}`?"));
                return Err(CliError::Usage(format!(
                    "`{s}` is not a source of `{name}`{hint}"
                )));
            }
        }
    }
    let _lock = RunLock::acquire(root, &name, "state-reset", &chrono::Utc::now().to_rfc3339())?;
    let removed = state::reset(root, &name, source)?;
    if removed.is_empty() {
        println!("{name}: nothing to reset");
    }
    for r in removed {
        println!("{name}: removed {r}");
    }
    Ok(())
}
