//! Reading a pipeline file: the one place `serde_yaml` is called, then `${VAR}` resolution
//! on string values, then typed deserialisation section by section, so that one bad source
//! does not hide the problems of the others.

use std::path::Path;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use serde_yaml::Value;

use crate::diagnostic::{Collector, Diagnostic, Diagnostics, did_you_mean};
use crate::env::{EnvError, interpolate};
use crate::pipeline::{PipelineSpec, TOP_LEVEL_KEYS};

/// Pipeline files larger than this are refused unread.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

pub(crate) struct Document {
    pub(crate) spec: PipelineSpec,
    pub(crate) broken: Broken,
}

pub(crate) fn read(path: &Path) -> Result<String, Diagnostics> {
    let fail = |message: String| {
        Diagnostics(vec![Diagnostic {
            file: path.to_owned(),
            position: None,
            key: String::new(),
            message,
            excerpt: None,
        }])
    };
    let meta =
        std::fs::metadata(path).map_err(|e| fail(format!("cannot read the pipeline file: {e}")))?;
    if meta.is_dir() {
        return Err(fail(
            "is a folder; give the path of a pipeline file (`.yaml`)".into(),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail(format!(
            "is {} bytes; pipeline files are limited to {MAX_FILE_BYTES} bytes",
            meta.len()
        )));
    }
    let bytes =
        std::fs::read(path).map_err(|e| fail(format!("cannot read the pipeline file: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = before.split(|b| *b == b'\n').count();
        fail(format!(
            "is not UTF-8 text (invalid bytes on line {line}); save it as UTF-8"
        ))
    })
}

/// Parses the text; every problem goes to `c`.
pub(crate) fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &[String],
    c: &mut Collector<'_>,
) -> Option<Document> {
    let mut doc: Value = match parse_yaml(text) {
        Ok(v) => v,
        Err(e) => {
            let position = e.location().map(|l| (l.line(), l.column()));
            let message = e.to_string();
            // serde_yaml appends " at line L column C"; the position is shown before.
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            let line_of = |p: Option<(usize, usize)>| {
                p.and_then(|(l, _)| text.lines().nth(l.saturating_sub(1)))
                    .unwrap_or("")
            };
            let mut position = position;
            let why = match message.as_str() {
                "repetition limit exceeded" => {
                    " (aliases expand into too many values; write the values out)".to_owned()
                }
                "recursion limit exceeded" => " (values nest too deeply)".to_owned(),
                m if m.contains("duplicate entry with key") => {
                    // serde_yaml points at the first entry; point at the second.
                    if let Some(second) = duplicate_of(text, m, position) {
                        position = Some(second);
                    }
                    "; keep one of them".to_owned()
                }
                _ if line_of(position).starts_with('\t')
                    || line_of(position).trim_start_matches(' ').starts_with('\t') =>
                {
                    " (this line is indented with a tab; YAML indents with spaces only)".to_owned()
                }
                _ => String::new(),
            };
            c.at_position(position, format!("is not valid YAML: {message}{why}"));
            return None;
        }
    };
    walk(&mut doc, "", env, c);
    for o in overrides {
        apply_override(&mut doc, o, c);
    }
    let Value::Mapping(top) = doc else {
        c.at_position(
            Some((1, 1)),
            "must be a mapping of keys such as `version`, `sources`, `sinks`",
        );
        return None;
    };
    let mut sections = serde_yaml::Mapping::new();
    for (key, value) in top {
        let Some(name) = key.as_str() else {
            c.at_position(
                None,
                format!("top-level key `{}` is not a string", show(&key)),
            );
            continue;
        };
        if !TOP_LEVEL_KEYS.contains(&name) {
            c.at(name, unknown_key_message(name, &TOP_LEVEL_KEYS));
            continue;
        }
        sections.insert(key, value);
    }
    if !sections.contains_key("version") {
        c.at_position(
            Some((1, 1)),
            "`version` is missing; add `version: 1` at the top",
        );
    }
    // Each section, and each source, transform and sink, is read on its own: one mistake
    // does not hide the others, and what did parse is still checked further.
    let mut broken = Broken::default();
    let version = sections
        .get("version")
        .and_then(|v| part::<u32>(v, "version", c))
        .unwrap_or(1);
    let name = sections
        .get("name")
        .and_then(|v| part::<String>(v, "name", c));
    let description = sections
        .get("description")
        .and_then(|v| part::<String>(v, "description", c));
    let http = match sections.get("http") {
        Some(v) => part::<etl_source::HttpSpec>(v, "http", c).unwrap_or_else(|| {
            broken.http = true;
            etl_source::HttpSpec::default()
        }),
        None => etl_source::HttpSpec::default(),
    };
    let schedule = sections
        .get("schedule")
        .and_then(|v| part::<crate::schedule::ScheduleSpec>(v, "schedule", c));
    let manifests = sections
        .get("manifests")
        .and_then(|v| part::<crate::pipeline::ManifestsSpec>(v, "manifests", c));
    let (sources, source_extras) = source_entries(sections.get("sources"), c, &mut broken);
    let transforms = entries(sections.get("transforms"), "transforms", c, &mut broken);
    let sinks = entries(sections.get("sinks"), "sinks", c, &mut broken);
    let spec = PipelineSpec {
        version,
        name,
        description,
        schedule,
        manifests,
        http,
        sources,
        source_extras,
        transforms,
        sinks,
    };
    Some(Document { spec, broken })
}

/// Where the second entry of a duplicated key is: the next line after `first`, indented
/// alike, that starts with the key.
fn duplicate_of(
    text: &str,
    message: &str,
    first: Option<(usize, usize)>,
) -> Option<(usize, usize)> {
    let (line, col) = first?;
    let key = message.split('"').nth(1)?;
    let indent = col.saturating_sub(1);
    text.lines()
        .enumerate()
        .skip(line)
        .find(|(_, l)| {
            let body = l.get(indent..).unwrap_or("");
            l.len() - l.trim_start().len() == indent
                && (body.starts_with(&format!("{key}:"))
                    || body.starts_with(&format!("\"{key}\":")))
        })
        .map(|(i, _)| (i + 1, col))
}

/// What did not parse, so that later checks neither build on it nor report it missing.
#[derive(Debug, Default)]
pub(crate) struct Broken {
    /// `http` did not parse: sources are not built (their defaults are unknown).
    pub(crate) http: bool,
    /// Sources, transforms and sinks that did not parse.
    pub(crate) names: Vec<String>,
}

fn part<T: DeserializeOwned>(value: &Value, key: &str, c: &mut Collector<'_>) -> Option<T> {
    match deserialize::<T>(value.clone()) {
        Ok(v) => Some(v),
        Err(e) => {
            report(c, key, &e);
            None
        }
    }
}

fn entries<T: DeserializeOwned>(
    section: Option<&Value>,
    key: &str,
    c: &mut Collector<'_>,
    broken: &mut Broken,
) -> IndexMap<String, T> {
    let mut out = IndexMap::new();
    match section {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(entries)) => {
            for (name, entry) in entries {
                let name = show(name);
                match part::<T>(entry, &format!("{key}.{name}"), c) {
                    Some(spec) => {
                        out.insert(name, spec);
                    }
                    None => broken.names.push(name),
                }
            }
        }
        Some(other) => c.at(
            key,
            format!(
                "must be a mapping of names to definitions, not {}",
                kind(other)
            ),
        ),
    }
    out
}

/// The `sources` section: each source's own keys for `etl-source`, and `checks` and `schema`,
/// which the runner applies to the source's table, read beside it.
fn source_entries(
    section: Option<&Value>,
    c: &mut Collector<'_>,
    broken: &mut Broken,
) -> (
    IndexMap<String, etl_source::SourceSpec>,
    IndexMap<String, crate::pipeline::SourceExtras>,
) {
    let mut extras = IndexMap::new();
    let stripped = section.map(|section| match section {
        Value::Mapping(entries) => {
            let mut out = serde_yaml::Mapping::new();
            for (name, entry) in entries {
                let label = show(name);
                let mut entry = entry.clone();
                let mut extra = crate::pipeline::SourceExtras::default();
                if let Value::Mapping(m) = &mut entry {
                    if let Some(v) = m.remove("checks") {
                        extra.checks = part(&v, &format!("sources.{label}.checks"), c);
                    }
                    if let Some(v) = m.remove("schema") {
                        extra.schema =
                            part(&v, &format!("sources.{label}.schema"), c).unwrap_or_default();
                    }
                }
                extras.insert(label, extra);
                out.insert(name.clone(), entry);
            }
            Value::Mapping(out)
        }
        other => other.clone(),
    });
    let sources = entries(stripped.as_ref(), "sources", c, broken);
    (sources, extras)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn deserialize<T: DeserializeOwned>(
    value: Value,
) -> Result<T, serde_path_to_error::Error<serde_yaml::Error>> {
    serde_path_to_error::deserialize(value)
}

/// Turns a serde error into a diagnostic at the right key, with a did-you-mean.
fn report(c: &mut Collector<'_>, prefix: &str, e: &serde_path_to_error::Error<serde_yaml::Error>) {
    let mut path: Vec<String> = if prefix.is_empty() {
        Vec::new()
    } else {
        vec![prefix.to_owned()]
    };
    for segment in e.path() {
        match segment {
            Segment::Map { key } => path.push(key.clone()),
            Segment::Seq { index } => path.push(format!("[{index}]")),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    let message = e.inner().to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    if let Some(field) = between(&message, "unknown field `", "`") {
        if path.last() != Some(&field) {
            path.push(field.clone());
        }
        let expected = backticked(message.split_once("expected").map_or("", |(_, r)| r));
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        c.at(&path.join("."), unknown_key_message(&field, &expected));
    } else if let Some(variant) = between(&message, "unknown variant `", "`") {
        let expected = backticked(message.split_once("expected").map_or("", |(_, r)| r));
        let hint = match did_you_mean(&variant, expected.iter().map(String::as_str)) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("use one of {}", quote_list(&expected)),
        };
        let key = path.join(".");
        let tagged = matches!(path.last().map(String::as_str), Some("pagination" | "auth"));
        let key = if tagged { format!("{key}.type") } else { key };
        c.at(&key, format!("`{variant}` is not accepted; {hint}"));
    } else if let Some(field) = between(&message, "missing field `", "`") {
        c.at(&path.join("."), format!("needs `{field}`"));
    } else if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        let expected = match expected {
            "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number",
            "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
            "f32" | "f64" => "a number",
            "a borrowed string" => "a string",
            other => other,
        };
        c.at(&path.join("."), format!("must be {expected}, not {found}"));
    } else {
        c.at(&path.join("."), message);
    }
}

pub(crate) fn unknown_key_message(key: &str, expected: &[&str]) -> String {
    match did_you_mean(key, expected.iter().copied()) {
        Some(m) => format!("`{key}` is not a key here; did you mean `{m}`?"),
        None if expected.is_empty() => format!("`{key}` is not a key here"),
        None => format!(
            "`{key}` is not a key here; the keys are {}",
            quote_list(expected)
        ),
    }
}

fn quote_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_owned())
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => "(a complex key)".into(),
    }
}

/// Resolves `${VAR}` in every string value (keys are left alone); every problem is reported
/// at its key path.
fn walk(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    c: &mut Collector<'_>,
) {
    match value {
        Value::String(s) => match interpolate(s, env) {
            Ok(resolved) => *s = resolved,
            Err(errors) => {
                for e in errors {
                    match e {
                        EnvError::Missing(var) => c.at(
                            path,
                            format!(
                                "uses the environment variable `{var}`, which is not set; set it, \
                                 or give a default: `${{{var}:-...}}`"
                            ),
                        ),
                        EnvError::Malformed(m) => c.at(path, m),
                    }
                }
            }
        },
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = show(k);
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                walk(v, &child, env, c);
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                walk(v, &format!("{path}.[{i}]"), env, c);
            }
        }
        Value::Tagged(t) => walk(&mut t.value, path, env, c),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The pipeline's name without resolving anything else (for `etl runs`): `name:` if the file
/// says, else the file's stem.
pub(crate) fn name_of(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map_or_else(|| "pipeline".into(), |s| s.to_string_lossy().into_owned());
    let Ok(text) = read(path) else { return stem };
    match parse_yaml(&text) {
        Ok(Value::Mapping(m)) => m
            .get("name")
            .and_then(Value::as_str)
            .map_or(stem, str::to_owned),
        _ => stem,
    }
}

/// The one call into `serde_yaml` (archived upstream): replace it here alone.
/// `--set key.path=value`: the value (read as YAML: `5`, `true`, `text`, `{ a: 1 }`) replaces
/// or adds the key; mappings on the way are created. Applied after `${VAR}` resolution.
fn apply_override(doc: &mut Value, text: &str, c: &mut Collector<'_>) {
    let Some((key, raw)) = text.split_once('=') else {
        c.at_position(None, format!("--set `{text}`: write KEY.PATH=VALUE, e.g. `--set http.base_url=http://127.0.0.1:8080`"));
        return;
    };
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        c.at_position(
            None,
            format!(
                "--set `{text}`: `{key}` is not a dotted key path such as `sources.users.endpoint`"
            ),
        );
        return;
    }
    let value = match parse_yaml(raw) {
        Ok(v) => v,
        Err(e) => {
            c.at_position(
                None,
                format!("--set `{text}`: the value is not valid YAML: {e}"),
            );
            return;
        }
    };
    let mut at = doc;
    for (i, part) in parts.iter().enumerate() {
        if !at.is_mapping() {
            c.at_position(
                None,
                format!(
                    "--set `{text}`: `{}` is not a mapping",
                    parts[..i].join(".")
                ),
            );
            return;
        }
        let Value::Mapping(map) = at else { return };
        let k = Value::String((*part).to_owned());
        if i + 1 == parts.len() {
            map.insert(k, value);
            return;
        }
        at = map
            .entry(k)
            .or_insert_with(|| Value::Mapping(serde_yaml::Mapping::new()));
    }
}

fn parse_yaml(text: &str) -> Result<Value, serde_yaml::Error> {
    serde_yaml::from_str(text)
}
