//! `etl plan FILE`: what a run would do, without a request.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use super::{plural, shape};
use crate::context::Context;
use crate::error::CliError;
use crate::pipeline::{Kept, Pipeline};
use crate::state::State;

pub(super) fn plan(ctx: &Context, file: &Path) -> Result<ExitCode, CliError> {
    let pipeline = ctx.load_pipeline(file)?;
    let mut out = format!(
        "{}: {} ({})\n",
        pipeline.name,
        shape(&pipeline),
        file.display()
    );
    if let Some(f) = &ctx.env_file {
        let _ = writeln!(
            out,
            "--env-file {}: {} variable(s) (the environment wins)",
            f.display(),
            ctx.env_vars.len()
        );
    }
    for o in &ctx.set {
        let _ = writeln!(out, "--set {o}");
    }
    if let Some(s) = &pipeline.schedule {
        let _ = writeln!(out, "schedule: `{}` ({})", s.text, s.timezone);
    }
    sources(ctx, &pipeline, &mut out);
    transforms(&pipeline, &mut out);
    out.push_str("\nsinks:\n");
    for sink in &pipeline.sinks {
        let _ = writeln!(
            out,
            "  {}: {} from `{}` to {}",
            sink.name,
            sink.format_name(),
            sink.from,
            sink.describe_target()
        );
    }
    let unused = pipeline.unused_transforms();
    if !unused.is_empty() {
        let _ = writeln!(
            out,
            "\nnot computed (no sink reads them): {}",
            unused.join(", ")
        );
    }
    out.push_str("\nNo request was made.\n");
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Each source's first request, and where an incremental one starts.
fn sources(ctx: &Context, pipeline: &Pipeline, out: &mut String) {
    let state = State::load(&ctx.work_dir, &pipeline.name).ok().flatten();
    out.push_str(
        "\nsources, fetched concurrently (a for_each child after its parent); first requests:\n",
    );
    let all_kept = pipeline.kept_columns();
    // Every name some source keeps; a source that keeps fewer says which it leaves out.
    let union: std::collections::BTreeSet<String> = all_kept
        .iter()
        .filter_map(|k| match k {
            Kept::Named(names) => Some(names.iter().cloned()),
            Kept::All(_) => None,
        })
        .flatten()
        .collect();
    let mut projected = None;
    for (source, kept) in pipeline.sources.iter().zip(all_kept) {
        let window = match (&source.incremental, &state) {
            (Some(_), Some(st)) => st.window(&source.name).unwrap_or_default(),
            _ => etl_source::Window::default(),
        };
        let _ = writeln!(
            out,
            "  {}: {}",
            source.name,
            source.first_request(&window).replace("\n    ", "\n      ")
        );
        if let Some(inc) = &source.incremental {
            let from = window.stored.map_or_else(
                || "`initial` (no state yet)".to_owned(),
                |c| format!("the stored cursor {c}"),
            );
            let _ = writeln!(
                out,
                "      incremental on `{}`, from {from}",
                inc.field_name()
            );
        }
        let _ = match kept {
            Kept::All(why) => writeln!(out, "      stages every column: {why}"),
            Kept::Named(names) => {
                let left_out: Vec<String> = union
                    .iter()
                    .filter(|n| !names.contains(*n))
                    .map(|n| format!("`{n}`"))
                    .collect();
                projected = Some(union.clone());
                if left_out.is_empty() {
                    writeln!(out, "      stages only the columns the pipeline names")
                } else {
                    writeln!(
                        out,
                        "      stages only the columns the pipeline names, less {}: named only \
                         as another table's (`t.name`)",
                        left_out.join(", ")
                    )
                }
            }
        };
    }
    // Only worth saying where a source fans out: sharding splits `for_each` parents.
    if pipeline.sources.iter().any(|s| s.for_each.is_some()) {
        let roles = crate::shard::roles(pipeline);
        let each: Vec<String> = pipeline
            .sources
            .iter()
            .zip(&roles)
            .map(|(s, r)| {
                let caveat = if *r == crate::shard::Role::Follows
                    && s.include_from_parent.is_empty()
                {
                    " (once per key in each shard: a key found in two shards' parents stops the \
                     finish; `include_from_parent` gives each parent record its own series)"
                } else {
                    ""
                };
                format!("{} {}{caveat}", s.name, r.describe())
            })
            .collect();
        let _ = writeln!(out, "  with --shard K/N: {}", each.join("; "));
    }
    if let Some(names) = projected {
        let shown: Vec<String> = names
            .into_iter()
            .filter(|n| !etl_transform::is_reserved(n))
            .collect();
        let _ = writeln!(
            out,
            "  names in the transforms, checks and keys (a source stages its columns of these \
             names, whatever their case, less those left out above; SQL keywords too, not \
             listed): {}",
            shown.join(", ")
        );
    }
}

fn transforms(pipeline: &Pipeline, out: &mut String) {
    if pipeline.transforms.is_empty() {
        return;
    }
    out.push_str("\ntransforms, in order:\n");
    for t in &pipeline.transforms {
        let kind = match &t.kind {
            etl_transform::TransformKind::Sql { .. } => "sql".to_owned(),
            etl_transform::TransformKind::Steps { steps, .. } => {
                format!("{} step{}", steps.len(), plural(steps.len()))
            }
        };
        let reads = t.inputs().collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "  {}: {kind}, reads {reads}", t.name);
    }
}
