//! The pipeline file: its top-level spec, and the checked [`Pipeline`] built from it.

use std::path::{Path, PathBuf};

use etl_sink::{SinkConfig, SinkSpec};
use etl_source::{HttpSpec, SourceConfig, SourceSpec};
use etl_transform::TransformSpec;
use indexmap::IndexMap;
use serde::Deserialize;

use crate::diagnostic::{Collector, Diagnostics, did_you_mean};
use crate::load::{self, Broken, Document};

/// The whole pipeline file, format version 1.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PipelineSpec {
    /// Format version; must be `1`.
    pub version: u32,
    /// Name used in output paths and logs (default: the file's stem).
    pub name: Option<String>,
    /// What the pipeline is for.
    pub description: Option<String>,
    /// When `etl schedule` runs it: five or six cron fields, or `{ cron, timezone }`.
    pub schedule: Option<crate::schedule::ScheduleSpec>,
    /// How long run manifests are kept.
    pub manifests: Option<ManifestsSpec>,
    /// Defaults for every source.
    #[serde(default)]
    pub http: HttpSpec,
    /// REST endpoints to fetch, by name.
    pub sources: IndexMap<String, SourceSpec>,
    /// Per source: `checks` and `schema`, applied by the runner to its table.
    #[serde(skip)]
    pub source_extras: IndexMap<String, SourceExtras>,
    /// polars transforms, by name, in order.
    #[serde(default)]
    pub transforms: IndexMap<String, TransformSpec>,
    /// Output files, by name.
    #[serde(default)]
    pub sinks: IndexMap<String, SinkSpec>,
}

/// What the runner applies to a source's table: declared types, then data checks.
#[derive(Debug, Clone, Default)]
pub struct SourceExtras {
    pub checks: Option<etl_transform::ChecksSpec>,
    pub schema: IndexMap<String, etl_transform::ColumnHint>,
}

/// `manifests: { keep_days: 90 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ManifestsSpec {
    /// Manifests older than this many days are removed after each run (default 90; the
    /// newest is always kept).
    pub keep_days: u32,
}

/// Run manifests are kept this many days unless `manifests.keep_days` says otherwise.
pub(crate) const DEFAULT_KEEP_DAYS: u32 = 90;

/// Top-level keys, in the order the reference lists them.
pub(crate) const TOP_LEVEL_KEYS: [&str; 9] = [
    "version",
    "name",
    "description",
    "schedule",
    "manifests",
    "http",
    "sources",
    "transforms",
    "sinks",
];

/// A checked pipeline, ready to run.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub description: Option<String>,
    pub file: PathBuf,
    pub sources: Vec<SourceConfig>,
    pub transforms: Vec<(String, TransformSpec)>,
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
        for (name, spec) in self.transforms.iter().rev() {
            if needed.contains(name) {
                needed.extend(spec.inputs().unwrap_or_default());
            }
        }
        self.transforms
            .iter()
            .filter(|(n, _)| !needed.contains(n))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Reads, parses, resolves and checks a pipeline file, reporting every problem at once.
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        Self::load_with_env(path, &|name| std::env::var(name).ok())
    }

    /// [`Pipeline::load`] with another environment (tests).
    pub fn load_with_env(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Diagnostics> {
        Self::load_with(path, env, &[])
    }

    /// [`Pipeline::load`] with an environment and `--set` overrides (`key.path=value`).
    pub fn load_with(
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
            _ => {
                let mut found = c.found;
                found.sort_by_key(|d| d.position.map_or((usize::MAX, 0), |p| p));
                Err(Diagnostics(found))
            }
        }
    }
}

fn build(spec: &PipelineSpec, broken: &Broken, path: &Path, c: &mut Collector<'_>) -> Pipeline {
    if spec.version != 1 {
        c.at(
            "version",
            format!(
                "`{}` is not a format version this etl reads; write `version: 1`",
                spec.version
            ),
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
    if spec.sources.is_empty() && broken.names.is_empty() {
        c.at(
            "sources",
            "declares no source; add at least one under `sources:`",
        );
    }
    let mut sources = Vec::new();
    for (source, s) in &spec.sources {
        check_name(c, "sources", source);
        if broken.http {
            continue;
        }
        match etl_source::build(source, s, &spec.http) {
            Ok(built) => sources.push(built),
            Err(errors) => {
                for e in errors {
                    report_config(c, &e.to_string());
                }
            }
        }
    }
    check_parents(spec, c);
    let mut transforms = Vec::new();
    for (transform, t) in &spec.transforms {
        check_name(c, "transforms", transform);
        if spec.sources.contains_key(transform) {
            c.at(
                &format!("transforms.{transform}"),
                format!("`{transform}` is also a source; give the transform another name"),
            );
        }
        check_transform(spec, broken, transform, t, c);
        transforms.push((transform.clone(), t.clone()));
    }
    if spec.sinks.is_empty() && broken.names.is_empty() {
        c.at(
            "sinks",
            "is empty; declare at least one sink, or nothing will be written",
        );
    }
    let mut tables: Vec<&str> = Vec::new();
    for name in spec.sources.keys().chain(spec.transforms.keys()) {
        if !tables.contains(&name.as_str()) {
            tables.push(name);
        }
    }
    let mut sinks = Vec::new();
    for (sink, s) in &spec.sinks {
        check_name(c, "sinks", sink);
        if !tables.contains(&s.from.as_str()) && !broken.names.contains(&s.from) {
            let hint = match did_you_mean(&s.from, tables.iter().copied()) {
                Some(m) => format!("; did you mean `{m}`?"),
                None if tables.is_empty() => String::new(),
                None => format!(
                    "; name a source or transform: {}",
                    tables
                        .iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            c.at(
                &format!("sinks.{sink}.from"),
                format!("`{}` is neither a source nor a transform{hint}", s.from),
            );
        }
        match s.build(sink) {
            Ok(built) => sinks.push(built),
            Err(errors) => {
                for e in errors {
                    report_config(c, &e.to_string());
                }
            }
        }
    }
    let schedule = spec
        .schedule
        .as_ref()
        .and_then(|s| match crate::schedule::Schedule::parse(s) {
            Ok(s) => Some(s),
            Err(m) => {
                c.at("schedule", m);
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
    Pipeline {
        name,
        description: spec.description.clone(),
        file: path.to_owned(),
        sources,
        transforms,
        sinks,
        source_extras: spec.source_extras.clone(),
        schedule,
        keep_manifest_days,
    }
}

/// A transform is `sql:` or `from:` + `steps:`, and reads only tables that exist before it
/// (sources and earlier transforms): an unknown name, a later transform (a cycle) or itself
/// is reported with a did-you-mean.
fn check_transform(
    spec: &PipelineSpec,
    broken: &Broken,
    name: &str,
    t: &TransformSpec,
    c: &mut Collector<'_>,
) {
    let at = format!("transforms.{name}");
    match (&t.sql, &t.from) {
        (Some(sql), None) => {
            if !t.steps.is_empty() {
                c.at(
                    &format!("{at}.steps"),
                    "goes with `from:`, not with `sql:`; keep one of the two",
                );
            }
            if sql.trim().is_empty() {
                c.at(&format!("{at}.sql"), "is empty; write the query");
                return;
            }
        }
        (None, Some(_)) => {
            if t.steps.is_empty() {
                c.at(
                    &format!("{at}.steps"),
                    "is missing: `from:` needs `steps:` (a list such as `- select: [id, name]`)",
                );
            }
        }
        (Some(_), Some(_)) => {
            c.at(
                &format!("{at}.from"),
                "goes with `steps:`, not with `sql:`; keep one of the two",
            );
            return;
        }
        (None, None) => {
            c.at(
                &at,
                "needs `sql:` (a polars SQL query) or `from:` with `steps:`",
            );
            return;
        }
    }
    let inputs = match t.input_keys() {
        Ok(i) => i,
        Err(m) => {
            c.at(&format!("{at}.sql"), format!("does not parse: {m}"));
            return;
        }
    };
    let position = spec.transforms.get_index_of(name).unwrap_or(0);
    let before: Vec<&str> = spec
        .sources
        .keys()
        .map(String::as_str)
        .chain(spec.transforms.keys().take(position).map(String::as_str))
        .collect();
    let mut reported = Vec::new();
    for (input, key) in inputs {
        if reported.contains(&input) {
            continue;
        }
        reported.push(input.clone());
        if before.contains(&input.as_str()) || broken.names.contains(&input) {
            continue;
        }
        let message = if input == name {
            format!(
                "`{input}` reads itself; a transform reads the sources and the transforms before it"
            )
        } else if spec.transforms.contains_key(&input) {
            format!(
                "reads `{input}`, a transform defined after this one; move `{input}` above \
                 `{name}` (transforms read the sources and the transforms before them, so \
                 they can never go round in a circle)"
            )
        } else {
            let hint = match did_you_mean(&input, before.iter().copied()) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!("the tables here are {}", before.join(", ")),
            };
            format!("reads `{input}`, which is neither a source nor an earlier transform; {hint}")
        };
        c.at(&format!("{at}.{key}"), message);
    }
}

/// `for_each` names an existing source, and parents form no cycle.
fn check_parents(spec: &PipelineSpec, c: &mut Collector<'_>) {
    for (name, source) in &spec.sources {
        let Some(each) = &source.for_each else {
            continue;
        };
        if each.source == *name {
            continue; // reported by the source's own build
        }
        if !spec.sources.contains_key(&each.source) {
            let hint = match did_you_mean(&each.source, spec.sources.keys().map(String::as_str)) {
                Some(m) => format!("did you mean `{m}`?"),
                None => "name another source of this pipeline".to_owned(),
            };
            c.at(
                &format!("sources.{name}.for_each.source"),
                format!("`{}` is not a source; {hint}", each.source),
            );
            continue;
        }
        // Follow the parents up: coming back here is a cycle.
        let mut chain = vec![name.as_str()];
        let mut at = each.source.as_str();
        while let Some(parent) = spec.sources.get(at) {
            if at == name {
                chain.push(at);
                c.at(
                    &format!("sources.{name}.for_each.source"),
                    format!(
                        "sources depend on each other in a circle: {}",
                        chain.join(" -> ")
                    ),
                );
                break;
            }
            chain.push(at);
            match &parent.for_each {
                Some(e) if chain.len() <= spec.sources.len() + 1 => at = &e.source,
                _ => break,
            }
        }
    }
}

/// Errors from the leaf crates read "`key`: message".
fn report_config(c: &mut Collector<'_>, text: &str) {
    if let Some(rest) = text.strip_prefix('`') {
        if let Some((key, message)) = rest.split_once("`: ") {
            c.at(key, message);
            return;
        }
    }
    c.at_position(None, text);
}

/// Names become SQL table names and file names: keep them plain.
fn check_name(c: &mut Collector<'_>, section: &str, name: &str) {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    if !ok {
        c.at(
            &format!("{section}.{name}"),
            format!(
                "`{}` is not a usable name; use letters, digits and `_`, starting with a letter or `_`",
                name.escape_debug()
            ),
        );
    }
}
