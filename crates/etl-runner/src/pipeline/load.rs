//! Reading a pipeline file: the one place `serde_yaml` is called, then `${VAR}` resolution
//! on string values, then typed deserialisation section by section, so that one bad source
//! does not hide the problems of the others.

use std::path::Path;

use etl_config::{ConfigError, KeyPath, did_you_mean, quote_list};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use serde_yaml::Value;

use super::de::{Mismatch, from_value};
use super::diagnostic::{Collector, Diagnostic, Diagnostics};
use super::env::{EnvError, interpolate};
use super::spec::{ManifestsSpec, PipelineSpec, SourceEntry, SourceExtras, TOP_LEVEL_KEYS};

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
            report_syntax(text, &e, c);
            return None;
        }
    };
    walk(&mut doc, &KeyPath::root(), env, c);
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
    let sections = known_sections(top, c);
    Some(read_sections(&sections, c))
}

/// A YAML syntax error, at the parser's position, with what usually causes it.
fn report_syntax(text: &str, e: &serde_yaml::Error, c: &mut Collector<'_>) {
    let mut position = e.location().map(|l| (l.line(), l.column()));
    // serde_yaml's syntax errors are text only (the seam is this module): its message, with
    // the " at line L column C" it appends cut (the position is shown before).
    let message = e.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let line_of = |p: Option<(usize, usize)>| {
        p.and_then(|(l, _)| text.lines().nth(l.saturating_sub(1)))
            .unwrap_or("")
    };
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
        _ if line_of(position).trim_start_matches(' ').starts_with('\t') => {
            " (this line is indented with a tab; YAML indents with spaces only)".to_owned()
        }
        _ => String::new(),
    };
    c.at_position(position, format!("is not valid YAML: {message}{why}"));
}

/// The top-level mapping, without keys that are not part of the format (reported).
fn known_sections(top: serde_yaml::Mapping, c: &mut Collector<'_>) -> serde_yaml::Mapping {
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
            c.error(unknown_key(
                KeyPath::root().key(name),
                name,
                &TOP_LEVEL_KEYS,
            ));
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
    sections
}

/// Each section, and each source, transform and sink, is read on its own: one mistake does
/// not hide the others, and what did parse is still checked further.
fn read_sections(sections: &serde_yaml::Mapping, c: &mut Collector<'_>) -> Document {
    let mut broken = Broken::default();
    let section = |key: &str| sections.get(key).map(|v| (v, KeyPath::root().key(key)));
    let version = section("version")
        .and_then(|(v, k)| part::<u32>(v, &k, c))
        .unwrap_or(1);
    let name = section("name").and_then(|(v, k)| part::<String>(v, &k, c));
    let description = section("description").and_then(|(v, k)| part::<String>(v, &k, c));
    let http = match section("http") {
        Some((v, k)) => part::<etl_source::HttpSpec>(v, &k, c).unwrap_or_else(|| {
            broken.http = true;
            etl_source::HttpSpec::default()
        }),
        None => etl_source::HttpSpec::default(),
    };
    let schedule =
        section("schedule").and_then(|(v, k)| part::<crate::schedule::ScheduleSpec>(v, &k, c));
    let manifests = section("manifests").and_then(|(v, k)| part::<ManifestsSpec>(v, &k, c));
    let sources = source_entries(sections.get("sources"), c, &mut broken);
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
        transforms,
        sinks,
    };
    Document { spec, broken }
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

fn part<T: DeserializeOwned>(value: &Value, key: &KeyPath, c: &mut Collector<'_>) -> Option<T> {
    match from_value::<T>(value.clone()) {
        Ok(v) => Some(v),
        Err(e) => {
            c.error(mismatch(key, &e));
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
                match part::<T>(entry, &KeyPath::root().key(key).key(name.as_str()), c) {
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
) -> IndexMap<String, SourceEntry> {
    let mut extras = IndexMap::new();
    let stripped = section.map(|section| match section {
        Value::Mapping(entries) => {
            let mut out = serde_yaml::Mapping::new();
            for (name, entry) in entries {
                let label = show(name);
                let at = KeyPath::root().key("sources").key(label.as_str());
                let mut entry = entry.clone();
                let mut extra = SourceExtras::default();
                if let Value::Mapping(m) = &mut entry {
                    if let Some(v) = m.remove("checks") {
                        extra.checks = part(&v, &at.key("checks"), c);
                    }
                    if let Some(v) = m.remove("schema") {
                        extra.schema = part(&v, &at.key("schema"), c).unwrap_or_default();
                    }
                }
                extras.insert(label, extra);
                out.insert(name.clone(), entry);
            }
            Value::Mapping(out)
        }
        other => other.clone(),
    });
    entries::<etl_source::SourceSpec>(stripped.as_ref(), "sources", c, broken)
        .into_iter()
        .map(|(name, spec)| {
            let extras = extras.shift_remove(&name).unwrap_or_default();
            (name, SourceEntry { spec, extras })
        })
        .collect()
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

/// What serde found wrong, as a config error at the right key, with a did-you-mean.
fn mismatch(prefix: &KeyPath, e: &serde_path_to_error::Error<Mismatch>) -> ConfigError {
    let mut path = prefix.clone();
    for segment in e.path() {
        match segment {
            Segment::Map { key } => path = path.key(key.as_str()),
            Segment::Seq { index } => path = path.index(*index),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    match e.inner() {
        Mismatch::UnknownField { field, expected } => {
            if path.last_key() != Some(field.as_str()) {
                path = path.key(field.as_str());
            }
            unknown_key(path, field, expected)
        }
        Mismatch::UnknownVariant { variant, expected } => {
            let hint = match did_you_mean(variant, expected.iter().copied()) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!("use one of {}", quote_list(expected)),
            };
            // `type` of a tagged choice is the key that is wrong.
            if matches!(path.last_key(), Some("pagination" | "auth")) && !path.ends_in_item() {
                path = path.key("type");
            }
            ConfigError::new(path, format!("`{variant}` is not accepted"))
                .with_hint(hint)
                .with_token(variant.as_str())
        }
        Mismatch::MissingField(field) => ConfigError::new(path, format!("needs `{field}`")),
        Mismatch::InvalidType { found, expected } | Mismatch::InvalidValue { found, expected } => {
            ConfigError::new(
                path,
                format!("must be {}, not {found}", type_words(expected)),
            )
        }
        other => ConfigError::new(path, other.to_string()),
    }
}

/// What a Rust type name means to the person writing YAML.
fn type_words(expected: &str) -> &str {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a borrowed string" => "a string",
        other => other,
    }
}

/// "`key` is not a key here", with the closest expected key or the list of them.
pub(crate) fn unknown_key(path: KeyPath, key: &str, expected: &[&str]) -> ConfigError {
    let error = ConfigError::new(path, format!("`{key}` is not a key here")).with_token(key);
    match did_you_mean(key, expected.iter().copied()) {
        Some(m) => error.with_hint(format!("did you mean `{m}`?")),
        None if expected.is_empty() => error,
        None => error.with_hint(format!("the keys are {}", quote_list(expected))),
    }
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
    path: &KeyPath,
    env: &dyn Fn(&str) -> Option<String>,
    c: &mut Collector<'_>,
) {
    match value {
        // The line holds the secret: it is not shown.
        Value::String(s) if is_literal_credential(path, s) => c.secret(
            ConfigError::new(
                path.clone(),
                "is a credential written into the pipeline file",
            )
            .with_hint(format!(
                "write it as an environment variable, e.g. `\"${{{}}}\"`, or leave it out \
                     and set the standard AWS_* variables",
                path.last_key().unwrap_or("KEY").to_uppercase()
            )),
        ),
        Value::String(s) => match interpolate(s, env) {
            Ok(resolved) => *s = resolved,
            Err(errors) => {
                for e in errors {
                    match e {
                        EnvError::Missing(var) => c.error(
                            ConfigError::new(
                                path.clone(),
                                format!("uses the environment variable `{var}`, which is not set"),
                            )
                            .with_hint(format!("set it, or give a default: `${{{var}:-...}}`")),
                        ),
                        EnvError::Malformed(m) => c.at(path.clone(), m),
                    }
                }
            }
        },
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                walk(v, &path.key(show(k)), env, c);
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                walk(v, &path.index(i), env, c);
            }
        }
        Value::Tagged(t) => walk(&mut t.value, path, env, c),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `sinks.<name>.s3.{access_key_id, secret_access_key, session_token}` written as a value
/// rather than `${VAR}`: object-store credentials are taken from the environment only.
fn is_literal_credential(path: &KeyPath, value: &str) -> bool {
    use etl_config::Segment;
    let segments = path.segments();
    let key = |i: usize| match segments.get(i) {
        Some(Segment::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    segments.len() == 4
        && key(0) == Some("sinks")
        && key(2) == Some("s3")
        && matches!(
            key(3),
            Some("access_key_id" | "secret_access_key" | "session_token")
        )
        && !value.contains("${")
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
