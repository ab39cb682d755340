//! Reading a parent source's staged records for `for_each`, one at a time.

use std::fs::File;
use std::io::{BufRead, BufReader, Lines, Read};

use serde_json::{Map, Value};

use crate::Error;
use crate::spec::ForEachSpec;
use crate::stage::StagedTable;

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

/// The parent's records, read lazily from its staged file.
pub(crate) struct ParentReader {
    lines: Lines<BufReader<Box<dyn Read + Send>>>,
    child: String,
    each: ForEachSpec,
    include: Vec<(String, String)>,
    row: u64,
}

impl ParentReader {
    pub(crate) fn open(
        table: &StagedTable,
        child: &str,
        each: &ForEachSpec,
        include: &[String],
    ) -> Result<Self, Error> {
        // The parts in order, read as one stream of lines (each part ends with a newline).
        let mut reader: Box<dyn Read + Send> = Box::new(std::io::empty());
        for part in &table.parts {
            let file = File::open(part).map_err(|source| Error::Stage {
                source_name: each.source.clone(),
                path: part.clone(),
                source,
            })?;
            reader = Box::new(reader.chain(file));
        }
        let include = include
            .iter()
            .map(|field| {
                (
                    field.clone(),
                    format!("_{}_{}", each.source, field.replace('.', "__")),
                )
            })
            .collect();
        Ok(Self {
            lines: BufReader::new(reader).lines(),
            child: child.to_owned(),
            each: each.clone(),
            include,
            row: 0,
        })
    }

    fn parse(&self, line: &str) -> Result<ParentRef, Error> {
        let error = |message: String| Error::Parent {
            source_name: self.child.clone(),
            message,
        };
        let record: Map<String, Value> = serde_json::from_str(line).map_err(|e| {
            error(format!(
                "staged record {} of `{}` is unreadable: {e}",
                self.row, self.each.source
            ))
        })?;
        let raw = field(&record, &self.each.key)
            .cloned()
            .unwrap_or(Value::Null);
        let key = match &raw {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(error(format!(
                    "record {} of `{}` has no `{}` to fill `{{{}}}`; check `for_each.key`",
                    self.row, self.each.source, self.each.key, self.each.key
                )));
            }
        };
        let include = self
            .include
            .iter()
            .map(|(f, column)| {
                (
                    column.clone(),
                    field(&record, f).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        Ok(ParentRef { key, raw, include })
    }
}

/// A field of a staged (flattened) record: `author.id` is the column `author__id`.
fn field<'a>(record: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    record
        .get(name)
        .or_else(|| record.get(&name.replace('.', "__")))
}

impl Iterator for ParentReader {
    type Item = Result<ParentRef, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = self.lines.next()?;
        self.row += 1;
        Some(match line {
            Ok(line) => self.parse(&line),
            Err(e) => Err(Error::Parent {
                source_name: self.child.clone(),
                message: format!(
                    "cannot read the staged records of `{}`: {e}",
                    self.each.source
                ),
            }),
        })
    }
}
