//! `--only`, `--since`, `--until` and `--save-state` checked against a pipeline: which sources,
//! transforms and sinks run, and from which cursor.

use std::path::PathBuf;

use etl_source::Cursor;

use crate::error::CliError;
use crate::pipeline::Pipeline;

/// How to run: the working-data folder, a backfill window, a subset of sources.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Working data (`.etl`): state, merged tables.
    pub root: PathBuf,
    /// `--since`: start every incremental source here instead of at its stored cursor.
    pub since: Option<String>,
    /// `--until`: leave out records after this cursor.
    pub until: Option<String>,
    /// `--save-state`: save the state after a `--since`/`--until` run too.
    pub save_state: bool,
    /// `--only`: run these sources, and the transforms and sinks that need nothing else.
    pub only: Vec<String>,
    /// `--shard K/N` or `--finish`, with `--run-id` and `--stage`.
    pub sharding: Option<crate::shard::Sharding>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            root: PathBuf::from(".etl"),
            since: None,
            until: None,
            save_state: false,
            only: Vec::new(),
            sharding: None,
        }
    }
}

/// [`RunOptions`] checked against a pipeline: what runs, from where.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sources: Vec<bool>,
    pub transforms: Vec<bool>,
    pub sinks: Vec<bool>,
    /// Per source: a sink that reads it (directly or through transforms) is left out.
    pub partial: Vec<bool>,
    pub(crate) since: Option<Cursor>,
    pub(crate) until: Option<Cursor>,
    pub(crate) save_state: bool,
    pub(crate) root: PathBuf,
    pub(crate) sharding: Option<crate::shard::Sharding>,
}

/// What runs when only some sources do.
struct Selection {
    transforms: Vec<bool>,
    sinks: Vec<bool>,
    partial: Vec<bool>,
}

impl RunOptions {
    /// Checks the options against `pipeline` (no network, no state read): unknown sources,
    /// a child without its parent, unreadable `--since`/`--until`.
    pub fn plan(&self, pipeline: &Pipeline) -> Result<Plan, CliError> {
        if self.sharding.is_some() && !self.only.is_empty() {
            return Err(CliError::Usage(
                "--only does not go with --shard or --finish: every shard fetches its share of \
                 every source, and the finish needs them all"
                    .to_owned(),
            ));
        }
        if self.sharding.is_some() {
            crate::shard::check_pipeline_name(&pipeline.name).map_err(CliError::Usage)?;
        }
        let sources = self.selected_sources(pipeline)?;
        let Selection {
            transforms,
            sinks,
            partial,
        } = select(pipeline, &sources);
        let (since, until) = self.window(pipeline)?;
        Ok(Plan {
            sources,
            transforms,
            sinks,
            partial,
            since,
            until,
            save_state: self.save_state || (since.is_none() && until.is_none()),
            root: self.root.clone(),
            sharding: self.sharding.clone(),
        })
    }

    /// Per source, whether `--only` runs it; a child needs its parent.
    fn selected_sources(&self, pipeline: &Pipeline) -> Result<Vec<bool>, CliError> {
        let names: Vec<&str> = pipeline.sources.iter().map(|s| s.name.as_str()).collect();
        let mut sources = vec![self.only.is_empty(); names.len()];
        for wanted in &self.only {
            let Some(i) = names.iter().position(|n| n == wanted) else {
                let hint = etl_config::did_you_mean(wanted, names.iter().copied())
                    .map_or_else(String::new, |d| format!("; did you mean `{d}`?"));
                return Err(CliError::Usage(format!(
                    "--only: `{wanted}` is not a source of `{}`{hint} (its sources: {})",
                    pipeline.name,
                    names.join(", ")
                )));
            };
            sources[i] = true;
        }
        for (i, source) in pipeline.sources.iter().enumerate() {
            let Some(each) = source.for_each.as_ref().filter(|_| sources[i]) else {
                continue;
            };
            if names
                .iter()
                .position(|n| *n == each.source)
                .is_some_and(|p| !sources[p])
            {
                return Err(CliError::Usage(format!(
                    "--only: `{}` is fetched for each record of `{}`, which this run leaves out; add it: --only {},{}",
                    source.name,
                    each.source,
                    each.source,
                    self.only.join(",")
                )));
            }
        }
        Ok(sources)
    }

    /// `--since` and `--until`, read and checked.
    fn window(&self, pipeline: &Pipeline) -> Result<(Option<Cursor>, Option<Cursor>), CliError> {
        let parse = |flag: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| Cursor::parse(v).map_err(|m| CliError::Usage(format!("{flag}: {m}"))))
                .transpose()
        };
        let since = parse("--since", &self.since)?;
        let until = parse("--until", &self.until)?;
        if let (Some(a), Some(b)) = (since, until) {
            let after = b
                .is_after(a)
                .map_err(|m| CliError::Usage(format!("--since and --until: {m}")))?;
            if !after {
                return Err(CliError::Usage(format!(
                    "--until ({b}) must be after --since ({a})"
                )));
            }
        }
        if (since.is_some() || until.is_some())
            && !pipeline.sources.iter().any(|s| s.incremental.is_some())
        {
            return Err(CliError::Usage(format!(
                "--since and --until apply to incremental sources, and `{}` has none",
                pipeline.name
            )));
        }
        Ok((since, until))
    }
}

/// The transforms and sinks whose every input runs, and the sources read by a sink left out.
fn select(pipeline: &Pipeline, sources: &[bool]) -> Selection {
    let names: Vec<&str> = pipeline.sources.iter().map(|s| s.name.as_str()).collect();
    // A transform runs when every table it reads is there.
    let mut available: Vec<&str> = names
        .iter()
        .zip(sources)
        .filter(|(_, on)| **on)
        .map(|(n, _)| *n)
        .collect();
    let mut known: Vec<&str> = names.clone();
    let mut transforms = Vec::new();
    // The sources each source or transform reads, through transforms.
    let mut sources_of: Vec<(&str, Vec<usize>)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, vec![i]))
        .collect();
    for t in &pipeline.transforms {
        let used: Vec<&str> = known
            .iter()
            .filter(|k| t.inputs().any(|w| w == **k))
            .copied()
            .collect();
        let ready = used.iter().all(|k| available.contains(k));
        transforms.push(ready);
        if ready {
            available.push(&t.name);
        }
        let mut from: Vec<usize> = sources_of
            .iter()
            .filter(|(n, _)| used.contains(n))
            .flat_map(|(_, r)| r.iter().copied())
            .collect();
        from.sort_unstable();
        from.dedup();
        sources_of.push((&t.name, from));
        known.push(&t.name);
    }
    let sinks: Vec<bool> = pipeline
        .sinks
        .iter()
        .map(|s| available.contains(&s.from.as_str()))
        .collect();
    let mut partial = vec![false; names.len()];
    for (sink, on) in pipeline.sinks.iter().zip(&sinks) {
        if *on {
            continue;
        }
        if let Some((_, from)) = sources_of.iter().find(|(n, _)| *n == sink.from) {
            for i in from {
                partial[*i] = true;
            }
        }
    }
    Selection {
        transforms,
        sinks,
        partial,
    }
}
