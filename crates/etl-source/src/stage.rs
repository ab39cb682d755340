//! Staged records: each source's records flattened and appended to an NDJSON file as pages
//! arrive, so memory stays flat however large the source is. The writer sees every record, so
//! it knows the complete set of columns and their types without a second pass: a field that
//! first appears on the last page still becomes a column.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::Error;
use crate::config::Flatten;

/// The type of a staged column, merged over every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// Only nulls so far.
    Null,
    Bool,
    Int,
    Float,
    String,
    /// A list whose elements have this type.
    List(Box<FieldType>),
    /// Values of clashing types, or objects kept whole: staged as text (JSON for objects and
    /// lists, the plain value for strings, numbers and booleans). Nothing is nulled.
    Text,
}

impl FieldType {
    fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Bool,
            Value::Number(n) if n.is_i64() => Self::Int,
            Value::Number(_) => Self::Float,
            Value::String(_) => Self::String,
            Value::Array(items) => {
                Self::list_of(items.iter().fold(Self::Null, |t, v| t.merge(&Self::of(v))))
            }
            Value::Object(_) => Self::Text,
        }
    }

    /// A list of `element`s; text when the elements are (a list of clashing values is staged
    /// whole, as JSON text).
    fn list_of(element: Self) -> Self {
        if element == Self::Text {
            Self::Text
        } else {
            Self::List(Box::new(element))
        }
    }

    /// The narrowest type holding values of both: integers and floats widen to float; any
    /// other clash becomes text.
    #[must_use]
    pub fn merge(&self, other: &Self) -> Self {
        match (self, other) {
            (a, b) if a == b => a.clone(),
            (Self::Null, b) => b.clone(),
            (a, Self::Null) => a.clone(),
            (Self::Int, Self::Float) | (Self::Float, Self::Int) => Self::Float,
            (Self::List(a), Self::List(b)) => Self::list_of(a.merge(b)),
            _ => Self::Text,
        }
    }
}

/// A staged file is split into parts of about this size, so that reading it back (polars maps
/// a file whole) holds one part in memory at a time, not the whole table.
pub(crate) const PART_BYTES: u64 = 16 * 1024 * 1024;

/// A finished staged table: NDJSON, in one or more parts of about 16 MiB each.
#[derive(Debug, Clone)]
pub struct StagedTable {
    /// The first part.
    pub path: PathBuf,
    /// Every part, in order (the first is `path`).
    pub parts: Vec<PathBuf>,
    pub rows: u64,
    pub bytes: u64,
    /// Every column of every record, in order of first appearance.
    pub columns: Vec<(String, FieldType)>,
}

/// Appends one source's records to its staged file.
#[derive(Debug)]
pub(crate) struct StageWriter {
    source_name: String,
    path: PathBuf,
    out: BufWriter<File>,
    /// Every part so far; the last is being written.
    parts: Vec<PathBuf>,
    part_bytes: u64,
    flatten: Flatten,
    columns: IndexMap<String, FieldType>,
    /// The field each flattened column came from (`address__city` <- `address.city`).
    origins: HashMap<String, String>,
    rows: u64,
    bytes: u64,
    /// The prepared page, serialised.
    page: Vec<u8>,
    page_rows: u64,
}

impl StageWriter {
    pub(crate) fn create(path: &Path, source_name: &str, flatten: Flatten) -> Result<Self, Error> {
        let file = File::create(path).map_err(|e| stage_error(source_name, path, e))?;
        Ok(Self {
            source_name: source_name.to_owned(),
            path: path.to_owned(),
            out: BufWriter::with_capacity(256 * 1024, file),
            parts: vec![path.to_owned()],
            part_bytes: 0,
            flatten,
            columns: IndexMap::new(),
            origins: HashMap::new(),
            rows: 0,
            bytes: 0,
            page: Vec::new(),
            page_rows: 0,
        })
    }

    /// Prepares one page: flattens its records and returns a fingerprint of them (equal
    /// pages, equal prints). Nothing reaches the file until [`StageWriter::commit_page`]; a
    /// prepared page that is not committed is dropped by the next `prepare_page`.
    pub(crate) fn prepare_page(&mut self, records: Vec<Value>) -> Result<u64, Error> {
        self.start_page();
        let mut hasher = foldhash::quality::FixedState::with_seed(0).build_hasher();
        for record in records {
            let start = self.page.len();
            self.push_value(record)?;
            self.end_row(start, &mut hasher);
        }
        Ok(hasher.finish())
    }

    /// [`StageWriter::prepare_page`] for records as they arrived (`spans` of `text`, each a
    /// checked JSON value). A record that is an object of plain fields (no object to flatten,
    /// no key twice) is staged as its own bytes, its types noted in one pass over it; any
    /// other is built as a value and goes the way of `prepare_page`. Both ways give the same
    /// columns, types and values.
    /// `origin` (the page's URL) is named when a record turns out not to be valid JSON: the
    /// body was checked as a whole, but values such as a lone surrogate escape (`"\ud800"`)
    /// or a number past `f64` are refused only when read.
    pub(crate) fn prepare_raw(
        &mut self,
        text: &str,
        spans: &[Range<usize>],
        origin: &str,
    ) -> Result<u64, Error> {
        self.start_page();
        let mut hasher = foldhash::quality::FixedState::with_seed(0).build_hasher();
        let mut fields = Vec::new();
        for span in spans {
            let raw = &text[span.clone()];
            let start = self.page.len();
            if !self.push_raw(raw, &mut fields)? {
                let record = serde_json::from_str(raw).map_err(|e| Error::Records {
                    source_name: self.source_name.clone(),
                    url: origin.to_owned(),
                    message: format!("a record is not valid JSON ({e})"),
                })?;
                self.push_value(record)?;
            }
            self.end_row(start, &mut hasher);
        }
        Ok(hasher.finish())
    }

    fn start_page(&mut self) {
        self.page.clear();
        self.page_rows = 0;
    }

    fn end_row(&mut self, start: usize, hasher: &mut impl Hasher) {
        self.page.push(b'\n');
        hasher.write(&self.page[start..]);
        self.page_rows += 1;
    }

    /// Flattens a record, notes its types and appends it to the page (without its newline).
    fn push_value(&mut self, record: Value) -> Result<(), Error> {
        let row = self.flatten_record(record)?;
        self.note_types(&row);
        serde_json::to_writer(&mut self.page, &row)
            .map_err(|e| stage_error(&self.source_name, &self.path, std::io::Error::other(e)))
    }

    /// Appends a record as its own bytes (without its newline) when it is an object of plain
    /// fields; `false` (and nothing noted or appended) when it has to be built as a value.
    fn push_raw<'a>(
        &mut self,
        raw: &'a str,
        fields: &mut Vec<(Cow<'a, str>, FieldType)>,
    ) -> Result<bool, Error> {
        fields.clear();
        let mut probe = serde_json::Deserializer::from_str(raw);
        if probe.deserialize_map(FieldsVisitor(fields)).is_err() {
            return Ok(false);
        }
        for (i, (name, _)) in fields.iter().enumerate() {
            if fields[..i].iter().any(|(other, _)| other == name) {
                return Ok(false);
            }
        }
        if self.flatten.enabled {
            for (name, _) in fields.iter() {
                if name.contains(&self.flatten.separator) {
                    self.note_origin(name, name)?;
                }
            }
        }
        for (i, (name, t)) in fields.drain(..).enumerate() {
            self.note_type(i, &name, t);
        }
        let raw = raw.as_bytes();
        if memchr::memchr2(b'\n', b'\r', raw).is_some() {
            // Spread over lines: one line per record, so the whitespace between tokens goes
            // (a string cannot hold a raw line break).
            compact_into(&mut self.page, raw);
        } else {
            self.page.extend_from_slice(raw);
        }
        Ok(true)
    }

    /// Appends the prepared page to the staged file (a new part when the current one is full).
    pub(crate) fn commit_page(&mut self) -> Result<(), Error> {
        if self.part_bytes >= PART_BYTES {
            let next = self
                .path
                .with_extension(format!("{}.ndjson", self.parts.len()));
            self.out
                .flush()
                .map_err(|e| stage_error(&self.source_name, &self.path, e))?;
            let file = File::create(&next).map_err(|e| stage_error(&self.source_name, &next, e))?;
            self.out = BufWriter::with_capacity(256 * 1024, file);
            self.parts.push(next);
            self.part_bytes = 0;
        }
        self.out
            .write_all(&self.page)
            .map_err(|e| stage_error(&self.source_name, &self.path, e))?;
        self.rows += self.page_rows;
        self.bytes += self.page.len() as u64;
        self.part_bytes += self.page.len() as u64;
        self.page.clear();
        self.page_rows = 0;
        Ok(())
    }

    /// Prepares and commits one page; returns its fingerprint.
    #[cfg(test)]
    pub(crate) fn write_page(&mut self, records: Vec<Value>) -> Result<u64, Error> {
        let fingerprint = self.prepare_page(records)?;
        self.commit_page()?;
        Ok(fingerprint)
    }

    /// Merges the types of one row into the columns.
    fn note_types(&mut self, row: &Map<String, Value>) {
        for (i, (name, value)) in row.iter().enumerate() {
            self.note_type(i, name, FieldType::of(value));
        }
    }

    /// Merges the type of the `i`th field of a row into its column. Records of an API mostly
    /// list their fields in the same order, so the field is first looked for at its position,
    /// which spares a hash lookup per field.
    fn note_type(&mut self, i: usize, name: &str, t: FieldType) {
        let at = match self.columns.get_index(i) {
            Some((n, _)) if n == name => Some(i),
            _ => self.columns.get_index_of(name),
        };
        match at.and_then(|j| self.columns.get_index_mut(j)) {
            Some((_, existing)) => {
                if *existing != t {
                    *existing = existing.merge(&t);
                }
            }
            None => {
                self.columns.insert(name.to_owned(), t);
            }
        }
    }

    fn flatten_record(&mut self, record: Value) -> Result<Map<String, Value>, Error> {
        let object = match record {
            Value::Object(map) => map,
            other => {
                let mut map = Map::new();
                map.insert("value".into(), other);
                return Ok(map);
            }
        };
        if !self.flatten.enabled {
            return Ok(object);
        }
        if !object.values().any(|v| self.flattens(v, 0)) {
            // Nothing nested to flatten (most records): the record is the row as it is.
            for key in object.keys() {
                if key.contains(&self.flatten.separator) {
                    self.note_origin(key, key)?;
                }
            }
            return Ok(object);
        }
        let mut row = Map::with_capacity(object.len());
        self.flatten_into(&mut row, object, "", "", 0)?;
        Ok(row)
    }

    fn flatten_into(
        &mut self,
        row: &mut Map<String, Value>,
        object: Map<String, Value>,
        prefix: &str,
        dotted: &str,
        depth: u32,
    ) -> Result<(), Error> {
        for (key, value) in object {
            let column = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}{}{key}", self.flatten.separator)
            };
            let field = if dotted.is_empty() {
                key
            } else {
                format!("{dotted}.{key}")
            };
            match value {
                Value::Object(inner) if self.flattens_object(&inner, depth) => {
                    self.flatten_into(row, inner, &column, &field, depth + 1)?;
                }
                value => {
                    // Columns whose name holds the separator could come from two fields
                    // (`a__b` and `a.b`), in this record or across records: remember which
                    // field each came from.
                    if !dotted.is_empty() || column.contains(&self.flatten.separator) {
                        self.note_origin(&column, &field)?;
                    }
                    row.insert(column, value);
                }
            }
        }
        Ok(())
    }

    /// Whether `value`, met at `depth`, is an object to flatten into columns.
    fn flattens(&self, value: &Value, depth: u32) -> bool {
        matches!(value, Value::Object(inner) if self.flattens_object(inner, depth))
    }

    fn flattens_object(&self, inner: &Map<String, Value>, depth: u32) -> bool {
        !inner.is_empty() && self.flatten.max_depth.is_none_or(|m| depth < m)
    }

    /// Remembers that `column` holds `field`; an error when another field already has it.
    fn note_origin(&mut self, column: &str, field: &str) -> Result<(), Error> {
        match self.origins.get(column) {
            Some(origin) if origin != field => Err(Error::FlattenCollision {
                source_name: self.source_name.clone(),
                field: field.to_owned(),
                other: origin.clone(),
                column: column.to_owned(),
            }),
            Some(_) => Ok(()),
            None => {
                self.origins.insert(column.to_owned(), field.to_owned());
                Ok(())
            }
        }
    }

    /// Flushes the file and returns the table. Columns of clashing types are rewritten as
    /// text in one more pass (only then).
    pub(crate) fn finish(mut self) -> Result<StagedTable, Error> {
        self.out
            .flush()
            .map_err(|e| stage_error(&self.source_name, &self.path, e))?;
        drop(self.out);
        let text_columns: Vec<&String> = self
            .columns
            .iter()
            .filter(|(_, t)| **t == FieldType::Text)
            .map(|(n, _)| n)
            .collect();
        let mut bytes = self.bytes;
        if !text_columns.is_empty() {
            bytes = 0;
            for part in &self.parts {
                bytes += rewrite_as_text(part, &text_columns)
                    .map_err(|e| stage_error(&self.source_name, part, e))?;
            }
        }
        Ok(StagedTable {
            path: self.path,
            parts: self.parts,
            rows: self.rows,
            bytes,
            columns: self.columns.into_iter().collect(),
        })
    }
}

/// Appends a JSON value without the whitespace between its tokens.
fn compact_into(out: &mut Vec<u8>, raw: &[u8]) {
    let (mut in_string, mut escaped) = (false, false);
    for &b in raw {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            in_string = b == b'"';
            out.push(b);
        }
    }
}

/// Reads a record's fields and their types without building it: an error (taken as "build it
/// as a value") for anything but an object whose values are not objects.
struct FieldsVisitor<'f, 'a>(&'f mut Vec<(Cow<'a, str>, FieldType)>);

impl<'de> Visitor<'de> for FieldsVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let t = map.next_value_seed(TypeSeed { nested: false })?;
            self.0.push((key, t));
        }
        Ok(())
    }
}

/// A key, borrowed from the record unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct Key;
        impl<'de> Visitor<'de> for Key {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
        }
        d.deserialize_str(Key)
    }
}

/// The [`FieldType`] of a value, as [`FieldType::of`] gives it. An object is an error at the
/// top of a field (it is flattened, which takes the value path) and text inside a list.
#[derive(Clone, Copy)]
struct TypeSeed {
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for TypeSeed {
    type Value = FieldType;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FieldType, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TypeSeed {
    type Value = FieldType;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<FieldType, E> {
        Ok(FieldType::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<FieldType, E> {
        Ok(FieldType::Bool)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<FieldType, E> {
        Ok(FieldType::Int)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<FieldType, E> {
        // As `Value`: past `i64::MAX` a number is not `is_i64`.
        Ok(if i64::try_from(v).is_ok() {
            FieldType::Int
        } else {
            FieldType::Float
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<FieldType, E> {
        // An integer past 2^64 arrives here too: as a value it is written as a float
        // (`3.4e38`), while its own digits would be past what polars reads (128 bits).
        if v.abs() >= 18_446_744_073_709_551_616.0 {
            return Err(de::Error::custom("a number to write as a float"));
        }
        Ok(FieldType::Float)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<FieldType, E> {
        Ok(FieldType::String)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FieldType, A::Error> {
        let mut element = FieldType::Null;
        while let Some(t) = seq.next_element_seed(TypeSeed { nested: true })? {
            element = element.merge(&t);
        }
        Ok(FieldType::list_of(element))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldType, A::Error> {
        if !self.nested {
            return Err(de::Error::custom("an object to flatten"));
        }
        // Read whole, not skipped: what a value refuses (a lone surrogate escape, a number
        // past `f64`) must be refused here too.
        while map.next_entry::<String, Value>()?.is_some() {}
        Ok(FieldType::Text)
    }
}

fn rewrite_as_text(path: &Path, columns: &[&String]) -> std::io::Result<u64> {
    let tmp = path.with_extension("ndjson.rewrite");
    let mut bytes = 0u64;
    {
        let reader = BufReader::new(File::open(path)?);
        let mut out = BufWriter::new(File::create(&tmp)?);
        for line in reader.lines() {
            let mut row: Map<String, Value> = serde_json::from_str(&line?)?;
            for name in columns {
                if let Some(v) = row.get_mut(name.as_str()) {
                    if !v.is_string() && !v.is_null() {
                        *v = Value::String(v.to_string());
                    }
                }
            }
            let mut text = serde_json::to_vec(&row)?;
            text.push(b'\n');
            bytes += text.len() as u64;
            out.write_all(&text)?;
        }
        out.flush()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(bytes)
}

fn stage_error(source_name: &str, path: &Path, source: std::io::Error) -> Error {
    Error::Stage {
        source_name: source_name.to_owned(),
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn stage(flatten: Flatten, pages: Vec<Vec<Value>>) -> (StagedTable, Vec<Value>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ndjson");
        let mut w = StageWriter::create(&path, "t", flatten).unwrap();
        for page in pages {
            w.write_page(page).unwrap();
        }
        let table = w.finish().unwrap();
        let rows = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (table, rows)
    }

    #[test]
    fn a_large_table_is_staged_in_parts_that_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ndjson");
        let mut w = StageWriter::create(&path, "t", Flatten::default()).unwrap();
        let text = "x".repeat(1000);
        let pages = 2 * PART_BYTES / (100 * 1000) + 5;
        for p in 0..pages {
            let page = (0..100)
                .map(|i| json!({ "id": p * 100 + i, "text": text, "n": if p == pages - 1 { json!("late") } else { json!(i) } }))
                .collect();
            w.write_page(page).unwrap();
        }
        let table = w.finish().unwrap();
        assert_eq!(table.parts.len(), 3, "{:?}", table.parts);
        assert_eq!(table.parts[0], path);
        assert_eq!(table.parts[1], dir.path().join("t.1.ndjson"));
        let mut ids = Vec::new();
        let mut size = 0;
        for part in &table.parts {
            let text = std::fs::read_to_string(part).unwrap();
            size += text.len() as u64;
            assert!(text.len() as u64 <= PART_BYTES + 200 * 1000);
            for line in text.lines() {
                let row: Value = serde_json::from_str(line).unwrap();
                ids.push(row["id"].as_u64().unwrap());
                // `n` clashed (int, then text): rewritten as text in every part.
                assert!(row["n"].is_string(), "{row}");
            }
        }
        assert_eq!(ids, (0..pages * 100).collect::<Vec<_>>());
        assert_eq!((table.rows, table.bytes), (pages * 100, size));
    }

    #[test]
    fn nested_objects_become_columns_at_any_depth() {
        let (table, rows) = stage(
            Flatten::default(),
            vec![vec![
                json!({"id": 1, "address": {"city": "Köln", "geo": {"lat": "1.5"}}, "tags": ["a"]}),
            ]],
        );
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["id", "address__city", "address__geo__lat", "tags"]);
        assert_eq!(rows[0]["address__geo__lat"], "1.5");
        assert_eq!(
            table.columns[3].1,
            FieldType::List(Box::new(FieldType::String))
        );
    }

    #[test]
    fn a_field_first_seen_on_the_last_page_is_a_column() {
        let first: Vec<Value> = (0..500).map(|i| json!({"id": i})).collect();
        let (table, _) = stage(
            Flatten::default(),
            vec![
                first,
                vec![json!({"id": 500, "vip": true, "loyalty": {"tier": "gold"}})],
            ],
        );
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["id", "vip", "loyalty__tier"]);
        assert_eq!(table.rows, 501);
    }

    #[test]
    fn clashing_types_widen_and_nothing_is_nulled() {
        let (table, rows) = stage(
            Flatten::default(),
            vec![vec![
                json!({"n": 1, "x": 1, "m": null}),
                json!({"n": 2.5, "x": "two", "m": {"a": 1}}),
            ]],
        );
        let types: IndexMap<_, _> = table.columns.into_iter().collect();
        assert_eq!(types["n"], FieldType::Float);
        assert_eq!(types["x"], FieldType::Text);
        assert_eq!(rows[0]["x"], "1");
        assert_eq!(rows[1]["x"], "two");
        assert_eq!(types["m__a"], FieldType::Int);
    }

    #[test]
    fn fields_in_another_order_merge_into_the_same_columns() {
        // Types are looked up by position first: a record listing its fields in another
        // order must still widen the right columns.
        let (table, _) = stage(
            Flatten::default(),
            vec![
                vec![
                    json!({"a": 1, "b": "x"}),
                    json!({"b": 2.5, "a": 2.5, "c": true}),
                ],
                vec![json!({"c": null, "a": 3})],
            ],
        );
        let types: Vec<_> = table.columns.into_iter().collect();
        assert_eq!(
            types,
            vec![
                ("a".to_owned(), FieldType::Float),
                ("b".to_owned(), FieldType::Text),
                ("c".to_owned(), FieldType::Bool),
            ]
        );
    }

    #[test]
    fn equal_pages_have_equal_fingerprints_and_different_pages_different_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            StageWriter::create(&dir.path().join("t.ndjson"), "t", Flatten::default()).unwrap();
        let page = || vec![json!({"id": 1, "a": {"b": "x"}}), json!({"id": 2})];
        let first = w.prepare_page(page()).unwrap();
        assert_eq!(w.prepare_page(page()).unwrap(), first);
        let other = w.prepare_page(vec![json!({"id": 1, "a": {"b": "y"}}), json!({"id": 2})]);
        assert_ne!(other.unwrap(), first);
    }

    /// Stages pages of records given as JSON text both ways (as values; as their bytes) and
    /// returns each way's columns and rows read back, or its error.
    type Staged = Result<(Vec<(String, FieldType)>, Vec<Value>), String>;

    fn both_ways(flatten: &Flatten, pages: &[Vec<String>]) -> (Staged, Staged) {
        let dir = tempfile::tempdir().unwrap();
        let run = |raw: bool| -> Staged {
            let path = dir.path().join(if raw { "raw.ndjson" } else { "v.ndjson" });
            let mut w = StageWriter::create(&path, "t", flatten.clone()).unwrap();
            for page in pages {
                let result = if raw {
                    let mut text = "[".to_owned();
                    let mut spans = Vec::new();
                    for record in page {
                        text.push_str(if spans.is_empty() { " " } else { ", " });
                        spans.push(text.len()..text.len() + record.len());
                        text.push_str(record);
                    }
                    w.prepare_raw(&text, &spans, "http://api/p")
                } else {
                    let values = page.iter().map(|r| serde_json::from_str(r).unwrap());
                    w.prepare_page(values.collect())
                };
                result.map_err(|e| e.to_string())?;
                w.commit_page().unwrap();
            }
            let table = w.finish().unwrap();
            let mut rows = Vec::new();
            for part in &table.parts {
                for line in std::fs::read_to_string(part).unwrap().lines() {
                    rows.push(serde_json::from_str(line).unwrap());
                }
            }
            assert_eq!(rows.len() as u64, table.rows);
            Ok((table.columns, rows))
        };
        (run(false), run(true))
    }

    #[test]
    fn records_staged_as_their_bytes_equal_records_staged_as_values() {
        let pages = vec![
            vec![
                r#"{"id": 1, "name": "A\"b\u00e9", "score": 1.5, "tags": ["x", 2], "big": 18446744073709551615}"#,
                "{\n  \"id\": 2,\n  \"name\": \"two words\",\r\n  \"nested\": {\"a\": [1]}\n}",
                r#"{"id": 3, "id": "three", "lists": [[1], [2.5]], "objs": [{"a": 1}], "empty": {}}"#,
                "[1, 2]",
                r#"{"a__b": 1, "\u0061": null, "n": -0, "e": 1e2}"#,
            ],
            vec![r#"{"name": null, "late": true}"#],
        ];
        let pages: Vec<Vec<String>> = pages
            .into_iter()
            .map(|p| p.into_iter().map(String::from).collect())
            .collect();
        for flatten in [
            Flatten::default(),
            Flatten {
                enabled: false,
                ..Flatten::default()
            },
            Flatten {
                max_depth: Some(0),
                ..Flatten::default()
            },
        ] {
            let (values, raw) = both_ways(&flatten, &pages);
            assert_eq!(raw, values, "{flatten:?}");
            assert!(values.is_ok());
        }
        // Past 2^64 an integer is written as a float, as a value writes it (polars reads
        // integers up to 128 bits); both ways read it back alike.
        let big = vec![vec![
            r#"{"n": 340282366920938463463374607431768211456}"#.to_owned(),
        ]];
        let (values, raw) = both_ways(&Flatten::default(), &big);
        assert_eq!(raw, values);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ndjson");
        let mut w = StageWriter::create(&path, "t", Flatten::default()).unwrap();
        w.prepare_raw(
            &big[0][0],
            &[Range {
                start: 0,
                end: big[0][0].len(),
            }],
            "u",
        )
        .unwrap();
        w.commit_page().unwrap();
        w.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"n\":3.402823669209385e+38}\n"
        );
        // A collision found in a record staged as its bytes is the same error.
        let clash = vec![
            vec![r#"{"a": {"b": 1}}"#.to_owned()],
            vec![r#"{"a__b": 2}"#.to_owned()],
        ];
        let (values, raw) = both_ways(&Flatten::default(), &clash);
        assert_eq!(raw, values);
        assert!(raw.unwrap_err().contains("both flatten to column `a__b`"));
    }

    #[test]
    fn a_record_that_is_not_valid_json_is_an_error_naming_the_page() {
        // The body parses when its records are only skipped over; these are refused when read.
        for record in [
            r#"{"a": "\ud800"}"#,
            r#"{"a": [{"b": "\udc00"}]}"#,
            r#"{"a": 1e400}"#,
            r#"{"a": [[1e400]]}"#,
            r#"{"\udc00": 1}"#,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut w =
                StageWriter::create(&dir.path().join("t.ndjson"), "users", Flatten::default())
                    .unwrap();
            let err = w
                .prepare_raw(
                    record,
                    &[Range {
                        start: 0,
                        end: record.len(),
                    }],
                    "http://api/users?page=2",
                )
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(
                    "source `users`: http://api/users?page=2: a record is not valid JSON ("
                ),
                "{record}: {err}"
            );
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            "[a-c_\"\\\n é]{0,5}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec(("(a|b|a__b|c\n)", inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]
        #[test]
        fn any_records_stage_the_same_both_ways(
            pages in prop::collection::vec(
                prop::collection::vec(
                    (prop::collection::vec(("(id|a|b|a__b|x y)", json_value()), 0..5), any::<bool>()),
                    0..4,
                ),
                1..4,
            ),
            max_depth in prop::option::of(0u32..3),
        ) {
            let pages: Vec<Vec<String>> = pages
                .into_iter()
                .map(|page| {
                    page.into_iter()
                        .map(|(fields, pretty)| {
                            let record = Value::Object(fields.into_iter().collect());
                            if pretty {
                                serde_json::to_string_pretty(&record).unwrap()
                            } else {
                                record.to_string()
                            }
                        })
                        .collect()
                })
                .collect();
            let flatten = Flatten { max_depth, ..Flatten::default() };
            let (values, raw) = both_ways(&flatten, &pages);
            prop_assert_eq!(raw, values);
        }
    }

    #[test]
    fn max_depth_keeps_deeper_objects_as_text() {
        let flatten = Flatten {
            max_depth: Some(1),
            ..Flatten::default()
        };
        let (table, rows) = stage(flatten, vec![vec![json!({"a": {"b": {"c": 1}}})]]);
        assert_eq!(table.columns, vec![("a__b".to_owned(), FieldType::Text)]);
        assert_eq!(rows[0]["a__b"], r#"{"c":1}"#);
    }

    #[test]
    fn a_name_collision_is_an_error_in_one_record_or_across_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ndjson");
        let mut w = StageWriter::create(&path, "users", Flatten::default()).unwrap();
        let err = w
            .write_page(vec![json!({"a__b": 1, "a": {"b": 2}})])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "source `users`: fields `a.b` and `a__b` both flatten to column `a__b`; set \
             `flatten: { separator: ... }` to another separator or `flatten: false`"
        );
        let mut w = StageWriter::create(&path, "users", Flatten::default()).unwrap();
        w.write_page(vec![json!({"a": {"b": 2}})]).unwrap();
        let err = w.write_page(vec![json!({"a__b": 1})]).unwrap_err();
        assert!(err.to_string().contains("fields `a__b` and `a.b`"), "{err}");
    }
}
