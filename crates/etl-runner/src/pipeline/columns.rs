//! Projection: which columns of each source staging keeps. A source is staged whole when a
//! sink exports it, when a transform reads it whole (`SELECT *`, `distinct` of whole rows)
//! or passes it through unnamed to something that does, or when it is merged across runs by
//! primary key (the kept table must hold every column for later runs). Any other source
//! keeps the columns named anywhere in the pipeline's transforms, checks and keys, compared
//! without case: a word that is not a column costs nothing, a column no word names is not
//! read by anything. A name a SQL transform only ever writes as `table.name` (or
//! `alias.name`, the alias of a table of its `FROM` or `JOIN`) is kept for that table only.

use std::collections::{BTreeMap, BTreeSet};

use super::Pipeline;

/// What staging keeps of a source's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Every column, and why.
    All(String),
    /// The columns of these names (compared without case).
    Named(BTreeSet<String>),
}

impl Pipeline {
    /// Per source, in order, what staging keeps of its columns.
    pub fn kept_columns(&self) -> Vec<Kept> {
        // Tables read whole, and by what.
        let mut whole: Vec<(String, String)> = self
            .sinks
            .iter()
            .map(|s| (s.from.clone(), format!("sink `{}` exports it", s.name)))
            .collect();
        let mut names = BTreeSet::new();
        // Names a SQL transform uses only as `table.name`: the tables (lowercase) they belong
        // to. Kept for those only, unless named anywhere else.
        let mut qualified: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in self.transforms.iter().rev() {
            let reads = t.named_columns();
            for name in reads.names {
                match reads.qualified_only.get(&name.to_lowercase()) {
                    Some(tables) => qualified
                        .entry(name)
                        .or_default()
                        .extend(tables.iter().cloned()),
                    None => {
                        names.insert(name);
                    }
                }
            }
            let passed_whole = reads.passes_through && whole.iter().any(|(n, _)| *n == t.name);
            if reads.reads_all || passed_whole {
                let why = if reads.reads_all {
                    format!(
                        "transform `{}` reads every column (`*` or `distinct` of rows)",
                        t.name
                    )
                } else {
                    format!("transform `{}` passes it on to what reads it whole", t.name)
                };
                whole.extend(t.inputs().map(|i| (i.to_owned(), why.clone())));
            }
        }
        for source in &self.sources {
            names.extend(source.primary_key.iter().cloned());
            if let Some(i) = &source.incremental {
                names.insert(i.field_name());
            }
            if let Some(each) = &source.for_each {
                names.insert(each.key.clone());
            }
            names.extend(source.include_from_parent.iter().cloned());
        }
        for extras in self.source_extras.values() {
            names.extend(extras.schema.keys().cloned());
            if let Some(checks) = &extras.checks {
                names.extend(checks.not_null.iter().cloned());
                names.extend(
                    checks
                        .unique
                        .iter()
                        .flat_map(etl_transform::OneOrMany::names),
                );
                names.extend(checks.accepted_values.keys().cloned());
            }
        }
        let free: BTreeSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
        qualified.retain(|name, _| !free.contains(&name.to_lowercase()));
        let dotted: Vec<&String> = names.iter().filter(|n| n.contains('.')).collect();
        self.sources
            .iter()
            .map(|source| {
                if let Some((_, why)) = whole.iter().find(|(n, _)| *n == source.name) {
                    Kept::All(why.clone())
                } else if !source.primary_key.is_empty() {
                    Kept::All("it is merged across runs by `primary_key`".to_owned())
                } else {
                    // A dotted field (`author.id`) is the flattened column `author__id` (with
                    // the source's separator).
                    let separator = &source.flatten.separator;
                    let mut kept = names.clone();
                    kept.extend(dotted.iter().map(|n| n.replace('.', separator)));
                    let own = source.name.to_lowercase();
                    kept.extend(
                        qualified
                            .iter()
                            .filter(|(_, tables)| tables.contains(&own))
                            .map(|(name, _)| name.clone()),
                    );
                    Kept::Named(kept)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What staging keeps of each source of the pipeline whose sources are `users` and
    /// `posts` and whose `transforms` and `sinks` are given.
    fn kept(transforms: &str, sinks: &str) -> Vec<Kept> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        let text = format!(
            "version: 1\nhttp: {{ base_url: http://127.0.0.1:9 }}\nsources:\n  users: {{ endpoint: /users }}\n  posts: {{ endpoint: /posts, primary_key: id }}\n  tags: {{ endpoint: \"/tags/{{profile.id}}\", for_each: {{ source: users, key: profile.id }} }}\ntransforms:\n{transforms}\nsinks:\n{sinks}\n"
        );
        std::fs::write(&path, text).unwrap();
        let pipeline = Pipeline::load(&path, &|_| None, &[]).unwrap();
        pipeline.kept_columns()
    }

    /// The names kept, less SQL keywords (kept too, in case a step names such a column).
    fn named(kept: &Kept) -> Vec<&str> {
        match kept {
            Kept::Named(names) => names
                .iter()
                .map(String::as_str)
                .filter(|n| !etl_transform::is_reserved(n))
                .collect(),
            Kept::All(why) => panic!("every column: {why}"),
        }
    }

    const CSV: &str = "  out: { from: t, format: csv, path: out.csv }";

    #[test]
    fn a_source_keeps_the_columns_the_pipeline_names() {
        let kept = kept(
            "  t: { sql: \"SELECT u.name, COUNT(*) AS n FROM users u GROUP BY u.name\" }",
            CSV,
        );
        // `profile.id`, the `for_each` key, as the field and as its flattened column; `id`,
        // the primary key of `posts` (names are the pipeline's, not per source).
        assert_eq!(
            named(&kept[0]),
            ["id", "n", "name", "profile.id", "profile__id", "u", "users"]
        );
        // Merged by primary key: the kept table needs every column.
        assert_eq!(
            kept[1],
            Kept::All("it is merged across runs by `primary_key`".into())
        );
        // `name` is only ever `u.name`, a column of `users`: `tags` need not keep it.
        assert_eq!(
            named(&kept[2]),
            ["id", "n", "profile.id", "profile__id", "u", "users"]
        );
    }

    #[test]
    fn a_source_read_whole_keeps_every_column() {
        let all = |k: &Kept| matches!(k, Kept::All(_));
        // Exported by a sink.
        let k = kept(
            "  t: { sql: \"SELECT id FROM users\" }",
            "  out: { from: users, format: csv, path: o.csv }",
        );
        assert!(all(&k[0]) && !all(&k[2]), "{k:?}");
        // `SELECT *`, here through another transform.
        let k = kept(
            "  s: { sql: \"SELECT * FROM users\" }\n  t: { sql: \"SELECT id FROM s\" }",
            CSV,
        );
        assert!(all(&k[0]), "{k:?}");
        // Steps without `select` pass the source on to a sink.
        let k = kept(
            "  t: { from: users, steps: [ { filter: \"id > 1\" } ] }",
            CSV,
        );
        assert_eq!(
            k[0],
            Kept::All("transform `t` passes it on to what reads it whole".into())
        );
        // ... but not when they select.
        let k = kept(
            "  t: { from: users, steps: [ { filter: \"age > 1\" }, { select: [id] } ] }",
            CSV,
        );
        assert_eq!(named(&k[0]), ["age", "id", "profile.id", "profile__id"]);
        // `distinct` of whole rows reads every column, even before a `select`.
        let k = kept(
            "  t: { from: users, steps: [ { distinct: true }, { select: [id] } ] }",
            CSV,
        );
        assert!(all(&k[0]), "{k:?}");

        // A join after the `select` brings every column of `with` in.
        let k = kept(
            "  t: { from: users, steps: [ { select: [id] }, { join: { with: tags, keys: id } } ] }",
            CSV,
        );
        assert!(all(&k[0]) && all(&k[2]), "{k:?}");
        // `name_right` is the joined table's `name`.
        let k = kept(
            "  t: { from: users, steps: [ { join: { with: tags, keys: id } }, { select: [name_right] } ] }",
            CSV,
        );
        assert!(named(&k[0]).contains(&"name"), "{k:?}");
    }
}
