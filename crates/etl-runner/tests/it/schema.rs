//! `etl schema`: the JSON Schema accepts every shipped pipeline, rejects the structurally broken
//! fixtures, stays equal to the committed copy, and `docs/pipeline-format.md` documents every
//! key it has (and no key it lacks).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::{etl, repo};

/// Fixtures whose mistake is not one of structure: they need the environment, the other
/// sections, the file system, or a parser (cron, SQL, URL, time); or the YAML text itself (a
/// duplicate key, which a JSON value cannot hold). The schema accepts them;
/// `etl validate` rejects them (`every_broken_fixture_gets_a_located_error`).
const SEMANTIC: [&str; 10] = [
    "14_duplicate_key.yaml",
    "15_sql_missing_table.yaml",
    "16_unknown_env_var.yaml",
    "17_sink_unknown_from.yaml",
    "19_for_each_unknown_parent.yaml",
    "21_transform_cycle.yaml",
    "22_bad_schedule.yaml",
    "23_bad_incremental_initial.yaml",
    "25_path_outside.yaml",
    "27_non_http_base_url.yaml",
];

/// Fixtures that are not YAML at all (tab indentation, a syntax error): no schema is ever
/// consulted for them.
const NOT_YAML: [&str; 2] = ["13_tab_indentation.yaml", "29_yaml_syntax.yaml"];

fn schema() -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = etl(dir.path(), &["schema"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

fn yaml(path: &Path) -> Result<Value, serde_yaml::Error> {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap())
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn yaml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn schema_accepts_every_pipeline_and_rejects_structural_mistakes() {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).unwrap();

    let mut good = yaml_files(&repo().join("pipelines"));
    good.push(repo().join("crates/etl-runner/src/commands/init.yaml"));
    assert!(good.len() >= 5);
    for path in &good {
        let instance = yaml(path).unwrap();
        let errors = errors(&validator, &instance);
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }

    // Every whole pipeline shown in the docs, too.
    let mut shown = 0;
    for doc in [
        "docs/pagination.md",
        "docs/pipeline-format.md",
        "docs/transforms.md",
        "README.md",
    ] {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        for (heading, block) in crate::recipes::yaml_blocks(&text) {
            if block.starts_with("version:") {
                let instance: Value = serde_yaml::from_str(&block).unwrap();
                let errors = errors(&validator, &instance);
                assert!(errors.is_empty(), "{doc}, {heading}: {errors:#?}");
                shown += 1;
            }
        }
    }
    assert!(shown >= 9, "only {shown} pipelines in the docs");

    let mut rejected = 0;
    let mut wrong = Vec::new();
    for path in yaml_files(&repo().join("fixtures/invalid")) {
        let name = path.file_name().unwrap().to_str().unwrap();
        if NOT_YAML.contains(&name) {
            if yaml(&path).is_ok() {
                wrong.push(format!("{name} parses as YAML"));
            }
            continue;
        }
        let instance = yaml(&path).unwrap();
        let errors = errors(&validator, &instance);
        if SEMANTIC.contains(&name) {
            if !errors.is_empty() {
                wrong.push(format!("{name}: the schema rejects it: {errors:?}"));
            }
        } else if errors.is_empty() {
            wrong.push(format!("{name}: the schema accepts it"));
        } else {
            rejected += 1;
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(rejected >= 18, "only {rejected} fixtures rejected");
}

#[test]
fn schema_is_committed_and_written_whole() {
    let committed = std::fs::read_to_string(repo().join("docs/pipeline.schema.json")).unwrap();
    let generated: Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(
        generated,
        schema(),
        "docs/pipeline.schema.json is stale: run `etl schema -o docs/pipeline.schema.json`"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = etl(dir.path(), &["schema", "--output", "etl.schema.json"], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("etl.schema.json")).unwrap(),
        committed
    );
    let out = etl(
        dir.path(),
        &["schema", "-o", "missing/etl.schema.json"],
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("cannot write missing/etl.schema.json"),
        "{}",
        out.stderr
    );
    assert_eq!(crate::files(dir.path()), ["etl.schema.json"]);
}

/// Every property name in the schema, and every value of a `type` tag (pagination styles,
/// auth kinds) and of an enumeration of words (formats, join kinds, compressions).
fn schema_words(value: &Value, words: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                for (name, sub) in props {
                    words.insert(name.clone());
                    schema_words(sub, words);
                }
            }
            for key in ["const", "enum"] {
                for v in map.get(key).into_iter().flat_map(|v| match v {
                    Value::Array(items) => items.clone(),
                    other => vec![other.clone()],
                }) {
                    if let Value::String(s) = v {
                        words.insert(s);
                    }
                }
            }
            for (k, sub) in map {
                if k != "properties" {
                    schema_words(sub, words);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| schema_words(v, words)),
        _ => {}
    }
}

#[test]
fn the_format_reference_documents_exactly_the_schema() {
    let mut words = BTreeSet::new();
    schema_words(&schema(), &mut words);
    let docs = std::fs::read_to_string(repo().join("docs/pipeline-format.md")).unwrap();
    let undocumented: Vec<&String> = words
        .iter()
        .filter(|w| !docs.contains(&format!("`{w}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "keys and values in the schema that docs/pipeline-format.md does not mention as `name`: {undocumented:?}"
    );
    // The other way: every key in the first column of a reference table exists.
    let mut unknown = Vec::new();
    for line in docs.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        for key in first.split('`').skip(1).step_by(2) {
            if !words.contains(key) {
                unknown.push(key.to_owned());
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "docs/pipeline-format.md tables name keys the schema does not have: {unknown:?}"
    );
}
