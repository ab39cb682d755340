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
