use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::{fs, io};

use serde_json::Value;

/// Collections of records, each served at `/{name}`.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    collections: BTreeMap<String, Vec<Value>>,
    /// Each record serialised once, for pages served without filters (the common case, and
    /// the one a benchmark measures): a page is then a concatenation, not a serialisation.
    raw: BTreeMap<String, Vec<Box<str>>>,
    /// Children by parent key (`comments` by `postId`), and records by `id`, built on first
    /// use.
    children: Arc<Mutex<ChildIndexes>>,
}

/// [`ChildIndex`]es by child collection and key field.
type ChildIndexes = HashMap<(String, String), Arc<ChildIndex>>;

/// Positions of child records by the text of their parent key.
pub(crate) type ChildIndex = HashMap<String, Vec<usize>>;

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
        Ok(Self::from_collections(collections))
    }

    /// A dataset from collections built in memory.
    pub fn from_collections(collections: impl IntoIterator<Item = (String, Vec<Value>)>) -> Self {
        let collections: BTreeMap<String, Vec<Value>> = collections.into_iter().collect();
        let raw = collections
            .iter()
            .map(|(name, items)| {
                let raw = items
                    .iter()
                    .map(|v| v.to_string().into_boxed_str())
                    .collect();
                (name.clone(), raw)
            })
            .collect();
        Self {
            collections,
            raw,
            children: Arc::default(),
        }
    }

    /// The records of `name`, serialised.
    pub(crate) fn raw(&self, name: &str) -> Option<&[Box<str>]> {
        self.raw.get(name).map(Vec::as_slice)
    }

    /// Positions of the records of `child` by the text of their `key` field (with `id`: an
    /// index of the collection by id).
    pub(crate) fn children_by(&self, child: &str, key: &str) -> Arc<ChildIndex> {
        let mut cache = self.children.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .entry((child.to_owned(), key.to_owned()))
            .or_insert_with(|| {
                let mut index = ChildIndex::new();
                for (i, item) in self
                    .collection(child)
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    let text = match item.get(key) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        Some(Value::Bool(b)) => b.to_string(),
                        _ => continue,
                    };
                    index.entry(text).or_default().push(i);
                }
                Arc::new(index)
            })
            .clone()
    }

    pub(crate) fn collection(&self, name: &str) -> Option<&[Value]> {
        self.collections.get(name).map(Vec::as_slice)
    }

    /// The names of the collections.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.collections.keys().map(String::as_str)
    }
}
