use std::collections::BTreeMap;
use std::path::Path;
use std::{fs, io};

use serde_json::Value;

/// Collections of records, each served at `/{name}`.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    collections: BTreeMap<String, Vec<Value>>,
}

impl Dataset {
    /// Loads every `*.json` file of `dir` (an array of objects) as a collection named after
    /// the file's stem.
    pub fn load(dir: &Path) -> io::Result<Self> {
        let mut collections = BTreeMap::new();
        let entries = fs::read_dir(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot read fixture folder `{}`: {e}", dir.display()),
            )
        })?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let text = fs::read(&path)?;
            let value: Value = serde_json::from_slice(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("fixture `{}` is not valid JSON: {e}", path.display()),
                )
            })?;
            let Value::Array(items) = value else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("fixture `{}` must hold a JSON array", path.display()),
                ));
            };
            collections.insert(name.to_owned(), items);
        }
        if collections.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no `*.json` fixture in `{}`", dir.display()),
            ));
        }
        Ok(Self { collections })
    }

    /// A dataset from collections built in memory.
    pub fn from_collections(collections: impl IntoIterator<Item = (String, Vec<Value>)>) -> Self {
        Self {
            collections: collections.into_iter().collect(),
        }
    }

    pub(crate) fn collection(&self, name: &str) -> Option<&[Value]> {
        self.collections.get(name).map(Vec::as_slice)
    }

    /// The names of the collections.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.collections.keys().map(String::as_str)
    }
}
