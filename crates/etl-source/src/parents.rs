//! Reading a parent source's staged records for `for_each`, one at a time.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Error;
use crate::spec::ForEachSpec;
use crate::stage::{StagedTable, read};

/// What one parent record gives its child requests.
#[derive(Debug, Clone)]
pub(crate) struct ParentRef {
    /// The key's value as text (`{id}` in the endpoint and params).
    pub(crate) key: String,
    /// The key's value as it is (`"{id}"` alone in the body keeps its type).
    pub(crate) raw: Value,
    /// `(_{parent}_{field}, value)` for `include_from_parent`.
    pub(crate) include: Vec<(String, Value)>,
}

/// The parent's records, read a staged part at a time.
pub(crate) struct ParentReader {
    parts: std::vec::IntoIter<PathBuf>,
    /// The records of the part being read.
    current: std::vec::IntoIter<Result<ParentRef, Error>>,
    child: String,
    each: ForEachSpec,
    /// The staged column holding the key.
    key: String,
    /// `(staged column, column in the child)` for each included field.
    include: Vec<(String, String)>,
    row: u64,
}

/// The distinct parent keys `child` (a `for_each` source) fetches from `parent`'s staged
/// records, in the order first seen: this shard's share when the source is sharded. For a
/// sharded run's finish to check that no two shards fetched the same key.
pub fn parent_keys(
    child: &crate::SourceConfig,
    parent: &StagedTable,
) -> Result<Vec<String>, Error> {
    let Some(each) = &child.for_each else {
        return Ok(Vec::new());
    };
    let mut seen = std::collections::HashSet::new();
    let mut keys = Vec::new();
    for p in ParentReader::open(parent, &child.name, each, &[]) {
        let key = p?.key;
        if child.shard.is_some_and(|s| !s.owns(&key)) {
            continue;
        }
        if seen.insert(key.clone()) {
            keys.push(key);
        }
    }
    Ok(keys)
}

impl ParentReader {
    pub(crate) fn open(
        table: &StagedTable,
        child: &str,
        each: &ForEachSpec,
        include: &[String],
    ) -> Self {
        let include = include
            .iter()
            .map(|field| {
                (
                    column(table, field),
                    format!("_{}_{}", each.source, field.replace('.', "__")),
                )
            })
            .collect();
        Self {
            parts: table.parts.clone().into_iter(),
            current: Vec::new().into_iter(),
            child: child.to_owned(),
            key: column(table, &each.key),
            each: each.clone(),
            include,
            row: 0,
        }
    }

    fn error(&self, message: String) -> Error {
        Error::Parent {
            source_name: self.child.clone(),
            message,
        }
    }

    /// The records of the part at `path`.
    fn read(&mut self, path: &Path) -> Result<Vec<Result<ParentRef, Error>>, Error> {
        let unreadable = |e: &dyn std::fmt::Display| {
            self.error(format!(
                "cannot read the staged records of `{}` ({}): {e}",
                self.each.source,
                path.display()
            ))
        };
        let mut columns = vec![self.key.clone()];
        columns.extend(self.include.iter().map(|(staged, _)| staged.clone()));
        let frame = read::part(path, Some(&columns)).map_err(|e| unreadable(&e))?;
        let keys = read::values(&frame, &self.key).map_err(|e| unreadable(&e))?;
        let mut included = Vec::with_capacity(self.include.len());
        for (staged, _) in &self.include {
            included.push(read::values(&frame, staged).map_err(|e| unreadable(&e))?);
        }
        let mut records = Vec::with_capacity(keys.len());
        for (i, raw) in keys.into_iter().enumerate() {
            self.row += 1;
            let key = match &raw {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    records.push(Err(self.error(format!(
                        "record {} of `{}` has no `{}` to fill `{{{}}}`; check `for_each.key`",
                        self.row, self.each.source, self.each.key, self.each.key
                    ))));
                    continue;
                }
            };
            let include = self
                .include
                .iter()
                .zip(&mut included)
                .map(|((_, column), values)| (column.clone(), std::mem::take(&mut values[i])))
                .collect();
            records.push(Ok(ParentRef { key, raw, include }));
        }
        Ok(records)
    }
}

/// The staged column of a field: `author.id` is the column `author__id`.
fn column(table: &StagedTable, name: &str) -> String {
    let has = |n: &str| table.columns.iter().any(|(c, _)| c == n);
    let flattened = name.replace('.', "__");
    if !has(name) && has(&flattened) {
        flattened
    } else {
        name.to_owned()
    }
}

impl Iterator for ParentReader {
    type Item = Result<ParentRef, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.current.next() {
                return Some(record);
            }
            let path = self.parts.next()?;
            match self.read(&path) {
                Ok(records) => self.current = records.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::{Flatten, Shard};
    use crate::spec::{HttpSpec, SourceSpec};
    use crate::stage::StageWriter;

    #[test]
    fn parent_keys_are_the_distinct_keys_of_this_shards_share() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = StageWriter::create(
            &dir.path().join("users.parquet"),
            "users",
            Flatten::default(),
            None,
        );
        let records: Vec<Value> = [3, 1, 3, 2, 1, 7, 11, 2]
            .into_iter()
            .map(|id| json!({"team": {"id": id}}))
            .collect();
        w.stage_values(records).unwrap();
        let users = w.finish().unwrap();
        let spec: SourceSpec = serde_json::from_value(
            json!({"endpoint": "/teams/{team.id}", "for_each": {"source": "users", "key": "team.id"}}),
        )
        .unwrap();
        let http = HttpSpec {
            base_url: Some("http://127.0.0.1:9".into()),
            ..HttpSpec::default()
        };
        let mut teams = crate::build("teams", &spec, &http).unwrap();
        let all = parent_keys(&teams, &users).unwrap();
        assert_eq!(all, ["3", "1", "2", "7", "11"]);
        // Two shards: each key in exactly one share, each share in the order first seen.
        let mut together = Vec::new();
        for index in 0..2 {
            teams.shard = Some(Shard { index, count: 2 });
            let share = parent_keys(&teams, &users).unwrap();
            assert!(share.iter().all(|k| teams.shard.unwrap().owns(k)));
            together.extend(share);
        }
        together.sort();
        let mut want = all.clone();
        want.sort();
        assert_eq!(together, want);
    }
}
