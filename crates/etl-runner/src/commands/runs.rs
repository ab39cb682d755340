//! `etl runs FILE`: the recent runs of a pipeline, from its manifests.

use std::path::Path;
use std::process::ExitCode;

use crate::context::Context;
use crate::error::CliError;
use crate::manifest::Manifest;

pub(super) fn runs(ctx: &Context, file: &Path, limit: usize) -> Result<ExitCode, CliError> {
    let name = crate::pipeline::name_of(file);
    let folder = crate::manifest::folder(&ctx.work_dir, &name);
    let manifests = Manifest::list(&ctx.work_dir, &name)
        .map_err(|e| CliError::Failed(format!("cannot read `{}`: {e}", folder.display())))?;
    if manifests.is_empty() {
        println!(
            "{name}: no runs recorded in `{}` (runs are recorded in the working directory they ran in)",
            folder.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<22}  {:<11}  {:<25}  {:>9}  {:>9}  error",
        "run", "status", "started", "time", "records"
    );
    for m in manifests.iter().take(limit) {
        let records: u64 = m.sources.iter().map(|s| s.records).sum();
        let error: String = m.error.as_deref().unwrap_or("").chars().take(80).collect();
        println!(
            "{:<22}  {:<11}  {:<25}  {:>8.2}s  {records:>9}  {error}",
            m.run_id, m.status, m.started_at, m.duration_s
        );
    }
    Ok(ExitCode::SUCCESS)
}
