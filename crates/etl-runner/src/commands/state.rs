//! `etl state show|reset FILE`: the incremental state of a pipeline.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::StateAction;
use crate::context::Context;
use crate::error::CliError;
use crate::lock::RunLock;
use crate::state::{self, State};

pub(super) fn state(ctx: &Context, action: &StateAction) -> Result<ExitCode, CliError> {
    match action {
        StateAction::Show { file } => show(ctx, file),
        StateAction::Reset { file, source } => reset(ctx, file, source.as_deref()),
    }
}

fn show(ctx: &Context, file: &Path) -> Result<ExitCode, CliError> {
    let root = &ctx.work_dir;
    let name = crate::pipeline::name_of(file);
    let Some(state) = State::load(root, &name)? else {
        println!(
            "{name}: no state in `{}` (no incremental run has succeeded here)",
            state::path(root, &name).display()
        );
        return Ok(ExitCode::SUCCESS);
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
    Ok(ExitCode::SUCCESS)
}

fn reset(ctx: &Context, file: &Path, source: Option<&str>) -> Result<ExitCode, CliError> {
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
    Ok(ExitCode::SUCCESS)
}
