//! The pipeline file: read (`load.rs`, the one `serde_yaml` call), `${VAR}`-resolved
//! (`env.rs`), deserialised section by section into the spec types (`spec.rs`, through the
//! typed deserializer of `de.rs`), then built into a checked [`Pipeline`] by the leaf crates,
//! the graph checked (`graph.rs`). Every problem is a [`etl_config::ConfigError`], placed in
//! the file by `diagnostic.rs`.

mod columns;
mod de;
pub(crate) mod diagnostic;
mod env;
mod graph;
mod load;
mod spec;

use std::path::{Path, PathBuf};

use etl_config::ConfigError;
use etl_sink::SinkConfig;
use etl_source::SourceConfig;
use etl_transform::Transform;
use indexmap::IndexMap;

pub use diagnostic::{Diagnostic, Diagnostics};
pub(crate) use load::name_of;
pub(crate) use spec::json_schema;
pub use spec::{PipelineSpec, SourceExtras};

pub(crate) use columns::Kept;
use diagnostic::Collector;
use load::{Broken, Document};
use spec::DEFAULT_KEEP_DAYS;

/// A checked pipeline, ready to run.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub description: Option<String>,
    pub file: PathBuf,
    pub sources: Vec<SourceConfig>,
    pub transforms: Vec<Transform>,
    pub sinks: Vec<SinkConfig>,
    /// Per source (by name): `checks` and `schema`.
    pub source_extras: IndexMap<String, SourceExtras>,
    /// When `etl schedule` runs it.
    pub schedule: Option<crate::schedule::Schedule>,
    /// Run manifests older than this are removed after each run.
    pub keep_manifest_days: u32,
}

impl Pipeline {
    /// Transforms that no sink reads, directly or through other transforms.
    pub fn unused_transforms(&self) -> Vec<String> {
        let mut needed: Vec<String> = self.sinks.iter().map(|s| s.from.clone()).collect();
        for t in self.transforms.iter().rev() {
            if needed.contains(&t.name) {
                needed.extend(t.inputs().map(str::to_owned));
            }
        }
        self.transforms
            .iter()
            .filter(|t| !needed.contains(&t.name))
            .map(|t| t.name.clone())
            .collect()
    }

    /// Reads, parses, resolves and checks a pipeline file with an environment and `--set`
    /// overrides (`key.path=value`), reporting every problem at once.
    pub fn load(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &[String],
    ) -> Result<Self, Diagnostics> {
        let text = load::read(path)?;
        let mut c = Collector::new(path, &text);
        let pipeline = load::parse(&text, env, overrides, &mut c)
            .map(|Document { spec, broken }| build(&spec, &broken, path, &mut c));
        match pipeline {
            Some(p) if c.found.is_empty() => Ok(p),
            _ => Err(c.finish()),
        }
    }
}

fn build(spec: &PipelineSpec, broken: &Broken, path: &Path, c: &mut Collector<'_>) -> Pipeline {
    let name = check_header(spec, path, c);
    if spec.sources.is_empty() && broken.names.is_empty() {
        c.at(
            "sources",
            "declares no source; add at least one under `sources:`",
        );
    }
    let sources = build_sources(spec, broken, c);
    graph::check_parents(spec, c);
    let transforms = build_transforms(spec, broken, c);
    if spec.sinks.is_empty() && broken.names.is_empty() {
        c.at(
            "sinks",
            "is empty; declare at least one sink, or nothing will be written",
        );
    }
    graph::check_sink_inputs(spec, broken, c);
    let mut sinks = Vec::new();
    for (sink, s) in &spec.sinks {
        check_name(c, "sinks", sink);
        collect(c, s.build(sink), &mut sinks);
    }
    let schedule = spec
        .schedule
        .as_ref()
        .and_then(|s| match crate::schedule::Schedule::parse(s) {
            Ok(s) => Some(s),
            Err(e) => {
                c.error(e);
                None
            }
        });
    let keep_manifest_days = spec.manifests.map_or(DEFAULT_KEEP_DAYS, |m| m.keep_days);
    if keep_manifest_days == 0 {
        c.at(
            "manifests.keep_days",
            "must be at least 1 (the newest manifest is always kept)",
        );
    }
    let mut pipeline = Pipeline {
        name,
        description: spec.description.clone(),
        file: path.to_owned(),
        sources,
        transforms,
        sinks,
        source_extras: spec
            .sources
            .iter()
            .map(|(n, e)| (n.clone(), e.extras.clone()))
            .collect(),
        schedule,
        keep_manifest_days,
    };
    let kept = pipeline.kept_columns();
    for (source, kept) in pipeline.sources.iter_mut().zip(kept) {
        source.stage_columns = match kept {
            Kept::All(_) => None,
            Kept::Named(names) => Some(names),
        };
    }
    pipeline
}

/// `version` and `name`; returns the pipeline's name (the file's stem by default).
fn check_header(spec: &PipelineSpec, path: &Path, c: &mut Collector<'_>) -> String {
    if spec.version != 1 {
        c.error(
            ConfigError::new(
                "version",
                format!("`{}` is not a format version this etl reads", spec.version),
            )
            .with_hint("write `version: 1`"),
        );
    }
    let name = match &spec.name {
        Some(n) => n.clone(),
        None => path
            .file_stem()
            .map_or_else(|| "pipeline".into(), |s| s.to_string_lossy().into_owned()),
    };
    if name.is_empty()
        || name
            .chars()
            .any(|ch| ch.is_control() || ch == '/' || ch == '\\')
    {
        c.at(
            "name",
            "must be a non-empty name without slashes or control characters",
        );
    }
    name
}

fn build_sources(spec: &PipelineSpec, broken: &Broken, c: &mut Collector<'_>) -> Vec<SourceConfig> {
    let mut sources = Vec::new();
    for (source, entry) in &spec.sources {
        check_name(c, "sources", source);
        // Without `http`, the sources' defaults are unknown: they are not built.
        if !broken.http {
            collect(
                c,
                etl_source::build(source, &entry.spec, &spec.http),
                &mut sources,
            );
        }
    }
    sources
}

fn build_transforms(spec: &PipelineSpec, broken: &Broken, c: &mut Collector<'_>) -> Vec<Transform> {
    let mut transforms = Vec::new();
    for (position, (name, t)) in spec.transforms.iter().enumerate() {
        check_name(c, "transforms", name);
        if spec.sources.contains_key(name) {
            c.error(
                ConfigError::new(
                    format!("transforms.{name}"),
                    format!("`{name}` is also a source"),
                )
                .with_hint("give the transform another name"),
            );
        }
        if let Some(built) = collect_one(c, etl_transform::build(name, t)) {
            graph::check_transform_inputs(spec, broken, position, &built, c);
            transforms.push(built);
        }
    }
    transforms
}

/// A leaf's build: the object, or its errors reported.
fn collect_one<T>(c: &mut Collector<'_>, built: Result<T, Vec<ConfigError>>) -> Option<T> {
    match built {
        Ok(t) => Some(t),
        Err(errors) => {
            for e in errors {
                c.error(e);
            }
            None
        }
    }
}

fn collect<T>(c: &mut Collector<'_>, built: Result<T, Vec<ConfigError>>, into: &mut Vec<T>) {
    into.extend(collect_one(c, built));
}

/// Names become SQL table names and file names: keep them plain.
fn check_name(c: &mut Collector<'_>, section: &str, name: &str) {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    if !ok {
        c.error(
            ConfigError::new(
                etl_config::KeyPath::root().key(section).key(name),
                format!("`{}` is not a usable name", name.escape_debug()),
            )
            .with_hint("use letters, digits and `_`, starting with a letter or `_`"),
        );
    }
}
