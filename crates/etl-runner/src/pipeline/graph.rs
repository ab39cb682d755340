//! The pipeline as a graph: every table a transform or sink reads exists before it, and
//! `for_each` parents form no circle.

use etl_config::{ConfigError, KeyPath, did_you_mean, quote_list};
use etl_transform::Transform;

use super::diagnostic::Collector;
use super::load::Broken;
use super::spec::PipelineSpec;

/// A transform reads only tables that exist before it (sources and earlier transforms): an
/// unknown name, a later transform (a cycle) or itself is reported with a did-you-mean.
pub(super) fn check_transform_inputs(
    spec: &PipelineSpec,
    broken: &Broken,
    position: usize,
    t: &Transform,
    c: &mut Collector<'_>,
) {
    let name = t.name.as_str();
    let before: Vec<&str> = spec
        .sources
        .keys()
        .map(String::as_str)
        .chain(spec.transforms.keys().take(position).map(String::as_str))
        .collect();
    let mut reported: Vec<&str> = Vec::new();
    for (input, key) in t.input_keys() {
        if reported.contains(&input) {
            continue;
        }
        reported.push(input);
        if before.contains(&input) || broken.names.iter().any(|b| b == input) {
            continue;
        }
        let key = KeyPath::root().key("transforms").key(name).join(key);
        let error = if input == name {
            ConfigError::new(key, format!("`{input}` reads itself"))
                .with_hint("a transform reads the sources and the transforms before it")
        } else if spec.transforms.contains_key(input) {
            ConfigError::new(
                key,
                format!("reads `{input}`, a transform defined after this one"),
            )
            .with_hint(format!(
                "move `{input}` above `{name}` (transforms read the sources and the transforms \
                 before them, so they can never go round in a circle)"
            ))
        } else {
            let hint = match did_you_mean(input, before.iter().copied()) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!("the tables here are {}", before.join(", ")),
            };
            ConfigError::new(
                key,
                format!("reads `{input}`, which is neither a source nor an earlier transform"),
            )
            .with_hint(hint)
        };
        c.error(error.with_token(input));
    }
}

/// Every sink reads a source or a transform.
pub(super) fn check_sink_inputs(spec: &PipelineSpec, broken: &Broken, c: &mut Collector<'_>) {
    let mut tables: Vec<&str> = Vec::new();
    for name in spec.sources.keys().chain(spec.transforms.keys()) {
        if !tables.contains(&name.as_str()) {
            tables.push(name);
        }
    }
    for (sink, s) in &spec.sinks {
        if tables.contains(&s.from.as_str()) || broken.names.contains(&s.from) {
            continue;
        }
        let error = ConfigError::new(
            format!("sinks.{sink}.from"),
            format!("`{}` is neither a source nor a transform", s.from),
        );
        c.error(match did_you_mean(&s.from, tables.iter().copied()) {
            Some(m) => error.with_hint(format!("did you mean `{m}`?")),
            None if tables.is_empty() => error,
            None => error.with_hint(format!(
                "name a source or transform: {}",
                quote_list(&tables)
            )),
        });
    }
}

/// `for_each` names an existing source, and parents form no cycle.
pub(super) fn check_parents(spec: &PipelineSpec, c: &mut Collector<'_>) {
    for (name, entry) in &spec.sources {
        let Some(each) = &entry.spec.for_each else {
            continue;
        };
        if each.source == *name {
            continue; // reported by the source's own build
        }
        let key = format!("sources.{name}.for_each.source");
        if !spec.sources.contains_key(&each.source) {
            let hint = match did_you_mean(&each.source, spec.sources.keys().map(String::as_str)) {
                Some(m) => format!("did you mean `{m}`?"),
                None => "name another source of this pipeline".to_owned(),
            };
            c.error(
                ConfigError::new(key, format!("`{}` is not a source", each.source)).with_hint(hint),
            );
            continue;
        }
        if let Some(chain) = circle_through(spec, name) {
            c.at(
                key,
                format!(
                    "sources depend on each other in a circle: {}",
                    chain.join(" -> ")
                ),
            );
        }
    }
}

/// Following the parents of `name` up: the chain back to `name`, if it comes back.
fn circle_through<'a>(spec: &'a PipelineSpec, name: &'a str) -> Option<Vec<&'a str>> {
    let mut chain = vec![name];
    let mut at = spec
        .sources
        .get(name)?
        .spec
        .for_each
        .as_ref()?
        .source
        .as_str();
    while let Some(parent) = spec.sources.get(at) {
        chain.push(at);
        if at == name {
            return Some(chain);
        }
        match &parent.spec.for_each {
            Some(e) if chain.len() <= spec.sources.len() + 1 => at = &e.source,
            _ => return None,
        }
    }
    None
}
