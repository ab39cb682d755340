//! Staged records: each source's records flattened into typed columns as pages arrive and
//! written as Parquet parts of about 16 MiB, so memory stays flat however large the source
//! is and polars reads the columns as they are, without parsing anything again. The writer
//! sees every record, so it knows the complete set of columns and their types without a
//! second pass: a field that first appears on the last page still becomes a column.

mod part;
mod raw;
pub(crate) mod read;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use polars::prelude::DataType;
use serde_json::{Map, Value};

pub(crate) use self::part::EXACT;
use self::part::{Cell, Part};
use crate::Error;
use crate::config::Flatten;

/// The type of a staged column, merged over every record. Serialized for shard manifests:
/// `"int"`, `{"list": "float"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Only nulls so far.
    #[default]
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

    /// The polars type the column is staged as (a column of only nulls as text).
    #[must_use]
    pub fn dtype(&self) -> DataType {
        match self {
            Self::Null | Self::String | Self::Text => DataType::String,
            Self::Bool => DataType::Boolean,
            Self::Int => DataType::Int64,
            Self::Float => DataType::Float64,
            Self::List(inner) => DataType::List(Box::new(inner.dtype())),
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

/// A staged table is written in parts of about this size (of values), each read whole by
/// polars: reading the table holds one part in memory at a time, not the table.
pub(crate) const PART_BYTES: usize = 16 * 1024 * 1024;

/// A finished staged table: Parquet, in one or more parts.
#[derive(Debug, Clone)]
pub struct StagedTable {
    /// Every part, in order; none when there are no records.
    pub parts: Vec<PathBuf>,
    pub rows: u64,
    /// Every column of every record, in order of first appearance.
    pub columns: Vec<(String, FieldType)>,
}

impl StagedTable {
    /// Tables staged apart for one source (the shards of a sharded run, in shard order) as
    /// one: the parts one after the other, the columns in order of first appearance with
    /// their types merged. A column that turns to text only here is rewritten as text in the
    /// parts that hold it otherwise, as staging does within one table.
    pub fn concat(source_name: &str, tables: Vec<StagedTable>) -> Result<StagedTable, Error> {
        let mut columns: IndexMap<String, FieldType> = IndexMap::new();
        for table in &tables {
            for (name, kind) in &table.columns {
                let merged = columns
                    .get(name)
                    .map_or_else(|| kind.clone(), |t| t.merge(kind));
                columns.insert(name.clone(), merged);
            }
        }
        let mut parts = Vec::new();
        let mut rows = 0;
        for table in tables {
            let texts: Vec<&str> = table
                .columns
                .iter()
                .filter(|(name, kind)| {
                    columns.get(name) == Some(&FieldType::Text)
                        && !matches!(kind, FieldType::String | FieldType::Text | FieldType::Null)
                })
                .map(|(name, _)| name.as_str())
                .collect();
            if !texts.is_empty() {
                for path in &table.parts {
                    part::rewrite_as_text(path, &texts)
                        .map_err(|e| stage_error(source_name, path, e))?;
                }
            }
            rows += table.rows;
            parts.extend(table.parts);
        }
        Ok(StagedTable {
            parts,
            rows,
            columns: columns.into_iter().collect(),
        })
    }
}

/// Flattens one source's records into typed columns and writes them as Parquet parts.
pub(crate) struct StageWriter {
    source_name: String,
    path: PathBuf,
    flatten: Flatten,
    columns: IndexMap<String, FieldType>,
    /// The field each flattened column came from (`address__city` <- `address.city`).
    origins: HashMap<String, String>,
    rows: u64,
    /// The part being filled, and the size at which it is written.
    part: Part,
    part_bytes: usize,
    /// Every part written, and the type each of its columns has in it.
    parts: Vec<(PathBuf, Vec<(String, FieldType)>)>,
    /// The columns kept, when staging keeps only some (projection).
    keep: Option<Keep>,
}

/// The columns staging keeps of a source whose readers name the columns they read.
#[derive(Debug)]
struct Keep {
    /// The names kept, in lower case.
    names: HashSet<String>,
    /// Every column name met, and whether it is kept: looked for at the field's position
    /// first, as the columns are.
    seen: IndexMap<String, bool>,
}

impl Keep {
    /// Whether column `name` (a record's `i`th) is staged: always, without a `keep`.
    fn keeps_in(keep: &mut Option<Self>, i: usize, name: &str) -> bool {
        keep.as_mut().is_none_or(|k| k.keeps(i, name))
    }

    fn keeps(&mut self, i: usize, name: &str) -> bool {
        if let Some((n, kept)) = self.seen.get_index(i) {
            if n == name {
                return *kept;
            }
        }
        if let Some(kept) = self.seen.get(name) {
            return *kept;
        }
        let kept = self.names.contains(&name.to_lowercase());
        self.seen.insert(name.to_owned(), kept);
        kept
    }
}

impl std::fmt::Debug for StageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageWriter")
            .field("source_name", &self.source_name)
            .field("path", &self.path)
            .field("rows", &self.rows)
            .field("parts", &self.parts.len())
            .finish_non_exhaustive()
    }
}

impl StageWriter {
    /// A writer whose first part is `path` (the next ones `path` with `.1.parquet`,
    /// `.2.parquet`, ...), keeping only the columns named in `keep` (without case) if given.
    pub(crate) fn create(
        path: &Path,
        source_name: &str,
        flatten: Flatten,
        keep: Option<&BTreeSet<String>>,
    ) -> Self {
        Self {
            keep: keep.map(|names| Keep {
                names: names.iter().map(|n| n.to_lowercase()).collect(),
                seen: IndexMap::new(),
            }),
            source_name: source_name.to_owned(),
            path: path.to_owned(),
            flatten,
            columns: IndexMap::new(),
            origins: HashMap::new(),
            rows: 0,
            part: Part::default(),
            part_bytes: PART_BYTES,
            parts: Vec::new(),
        }
    }

    /// Stages one page of records built as values.
    pub(crate) fn stage_values(&mut self, records: Vec<Value>) -> Result<(), Error> {
        for record in records {
            self.push_value(record)?;
        }
        self.end_page()
    }

    /// Stages one page of records as they arrived (`spans` of `text`, each a checked JSON
    /// value). A record that is an object of plain fields (no object to flatten, no key
    /// twice) is read straight into its columns; any other is built as a value and goes the
    /// way of [`StageWriter::stage_values`]. Both ways give the same columns, types and
    /// values.
    /// `origin` (the page's URL) is named when a record turns out not to be valid JSON: the
    /// body was checked as a whole, but values such as a lone surrogate escape (`"\ud800"`)
    /// or a number past `f64` are refused only when read.
    pub(crate) fn stage_raw(
        &mut self,
        text: &str,
        spans: &[Range<usize>],
        origin: &str,
    ) -> Result<(), Error> {
        let mut fields = Vec::new();
        for span in spans {
            let raw = &text[span.clone()];
            let keep = &mut self.keep;
            let read = raw::fields(raw, &mut fields, &mut |i, name| {
                Keep::keeps_in(keep, i, name)
            });
            if read && self.push_fields(&mut fields)? {
                continue;
            }
            let record = serde_json::from_str(raw).map_err(|e| Error::Records {
                source_name: self.source_name.clone(),
                url: origin.to_owned(),
                message: format!("a record is not valid JSON ({e})"),
            })?;
            self.push_value(record)?;
        }
        self.end_page()
    }

    /// Puts a record read as its (kept) fields in the part; `false` (and nothing put) when a
    /// key comes twice, which the value way settles.
    fn push_fields(&mut self, fields: &mut Vec<(Cow<'_, str>, Cell<'_>)>) -> Result<bool, Error> {
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
        for (i, (name, cell)) in fields.drain(..).enumerate() {
            self.push_cell(i, &name, cell);
        }
        self.end_row();
        Ok(true)
    }

    /// Flattens a record and puts its kept columns in the part.
    fn push_value(&mut self, record: Value) -> Result<(), Error> {
        let row = self.flatten_record(record)?;
        let mut kept = 0;
        for (i, (name, value)) in row.into_iter().enumerate() {
            if Keep::keeps_in(&mut self.keep, i, &name) {
                self.push_cell(kept, &name, Cell::from_value(value));
                kept += 1;
            }
        }
        self.end_row();
        Ok(())
    }

    /// Merges the type of the `i`th field of a record into its column and puts its value in
    /// the part. Records of an API mostly list their fields in the same order, so the field
    /// is first looked for at its position, which spares a hash lookup per field.
    fn push_cell(&mut self, i: usize, name: &str, cell: Cell<'_>) {
        let t = cell.field_type();
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
                self.columns.insert(name.to_owned(), t.clone());
            }
        }
        self.part.push(i, name, cell, &t);
    }

    fn end_row(&mut self) {
        self.part.end_row();
        self.rows += 1;
    }

    /// Ends a page: the part is written when it is full (parts end between pages).
    fn end_page(&mut self) -> Result<(), Error> {
        if self.part.size >= self.part_bytes {
            self.write_part()?;
        }
        Ok(())
    }

    fn write_part(&mut self) -> Result<(), Error> {
        let path = match self.parts.len() {
            0 => self.path.clone(),
            n => self.path.with_extension(format!("{n}.parquet")),
        };
        let kinds = self
            .part
            .write(&path)
            .map_err(|e| stage_error(&self.source_name, &path, e))?;
        self.parts.push((path, kinds));
        Ok(())
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
    /// A column not staged has no origin to clash.
    fn note_origin(&mut self, column: &str, field: &str) -> Result<(), Error> {
        if self
            .keep
            .as_ref()
            .is_some_and(|k| !k.names.contains(&column.to_lowercase()))
        {
            return Ok(());
        }
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

    /// Writes the last part and returns the table. Columns of clashing types are rewritten
    /// as text, in the parts that hold them otherwise, in one more pass (only then).
    pub(crate) fn finish(mut self) -> Result<StagedTable, Error> {
        if self.part.rows > 0 {
            self.write_part()?;
        }
        for (path, kinds) in &mut self.parts {
            let texts: Vec<&str> = kinds
                .iter_mut()
                .filter(|(name, kind)| {
                    self.columns.get(name) == Some(&FieldType::Text)
                        && !matches!(kind, FieldType::String | FieldType::Text)
                })
                .map(|(name, kind)| {
                    *kind = FieldType::Text;
                    name.as_str()
                })
                .collect();
            if !texts.is_empty() {
                part::rewrite_as_text(path, &texts)
                    .map_err(|e| stage_error(&self.source_name, path, e))?;
            }
        }
        Ok(StagedTable {
            parts: self.parts.into_iter().map(|(path, _)| path).collect(),
            rows: self.rows,
            columns: self.columns.into_iter().collect(),
        })
    }
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
    use polars::prelude::{Column, DataFrame, Field, JsonFormat, JsonReader, Schema, SerReader};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn stage(flatten: Flatten, pages: Vec<Vec<Value>>) -> (StagedTable, Vec<Value>) {
        let dir = tempfile::tempdir().unwrap();
        let mut w = StageWriter::create(&dir.path().join("t.parquet"), "t", flatten, None);
        for page in pages {
            w.stage_values(page).unwrap();
        }
        let table = w.finish().unwrap();
        let rows = rows_of(&table);
        (table, rows)
    }

    /// The staged records, read back as values: every column of the table in each.
    fn rows_of(table: &StagedTable) -> Vec<Value> {
        let mut rows = Vec::new();
        for part in &table.parts {
            let frame = read::part(part, None).unwrap();
            let columns: Vec<(&String, Vec<Value>)> = table
                .columns
                .iter()
                .map(|(n, _)| (n, read::values(&frame, n).unwrap()))
                .collect();
            for i in 0..frame.height() {
                let row = columns.iter().map(|(n, v)| ((*n).clone(), v[i].clone()));
                rows.push(Value::Object(row.collect()));
            }
        }
        assert_eq!(rows.len() as u64, table.rows);
        rows
    }

    #[test]
    fn a_large_table_is_staged_in_parts_that_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut w = StageWriter::create(&path, "t", Flatten::default(), None);
        let text = "x".repeat(1000);
        let pages = 2 * PART_BYTES / (100 * 1000) + 5;
        for p in 0..pages {
            let page = (0..100)
                .map(|i| json!({ "id": p * 100 + i, "text": text, "n": if p == pages - 1 { json!("late") } else { json!(i) } }))
                .collect();
            w.stage_values(page).unwrap();
        }
        let table = w.finish().unwrap();
        assert_eq!(table.parts.len(), 3, "{:?}", table.parts);
        assert_eq!(table.parts[0], path);
        assert_eq!(table.parts[1], dir.path().join("t.1.parquet"));
        let mut ids = Vec::new();
        for part in &table.parts {
            let frame = read::part(part, None).unwrap();
            assert!(frame.height() * 1000 <= PART_BYTES + 200 * 1000);
            // `n` clashed (int, then text): rewritten as text in every part.
            assert_eq!(frame.column("n").unwrap().dtype(), &DataType::String);
            for (id, n) in read::values(&frame, "id")
                .unwrap()
                .iter()
                .zip(read::values(&frame, "n").unwrap())
            {
                ids.push(id.as_u64().unwrap());
                assert!(n.is_string(), "{n}");
            }
        }
        assert_eq!(ids, (0..pages as u64 * 100).collect::<Vec<_>>());
        assert_eq!(table.rows, pages as u64 * 100);
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

    /// Stages pages of records given as JSON text both ways (as values; as their bytes) and
    /// returns each way's columns and rows read back, or its error.
    type Staged = Result<(Vec<(String, FieldType)>, Vec<Value>), String>;

    fn both_ways(flatten: &Flatten, pages: &[Vec<String>]) -> (Staged, Staged) {
        both_ways_keeping(flatten, None, pages)
    }

    fn both_ways_keeping(
        flatten: &Flatten,
        keep: Option<&BTreeSet<String>>,
        pages: &[Vec<String>],
    ) -> (Staged, Staged) {
        let dir = tempfile::tempdir().unwrap();
        let run = |raw: bool| -> Staged {
            let path = dir
                .path()
                .join(if raw { "raw.parquet" } else { "v.parquet" });
            let mut w = StageWriter::create(&path, "t", flatten.clone(), keep);
            for page in pages {
                let result = if raw {
                    let mut text = "[".to_owned();
                    let mut spans = Vec::new();
                    for record in page {
                        text.push_str(if spans.is_empty() { " " } else { ", " });
                        spans.push(text.len()..text.len() + record.len());
                        text.push_str(record);
                    }
                    w.stage_raw(&text, &spans, "http://api/p")
                } else {
                    let values = page.iter().map(|r| serde_json::from_str(r).unwrap());
                    w.stage_values(values.collect())
                };
                result.map_err(|e| e.to_string())?;
            }
            let table = w.finish().unwrap();
            let rows = rows_of(&table);
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
        let (values, _) = stage(
            Flatten::default(),
            vec![vec![serde_json::from_str(&big[0][0]).unwrap()]],
        );
        assert_eq!(values.columns, vec![("n".to_owned(), FieldType::Float)]);
        assert_eq!(raw.unwrap().1, vec![json!({"n": 3.402_823_669_209_385e38})]);
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
            let mut w = StageWriter::create(
                &dir.path().join("t.parquet"),
                "users",
                Flatten::default(),
                None,
            );
            let err = w
                .stage_raw(
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
            keep in prop::option::of(prop::collection::btree_set("(id|A|b|a__b|X Y|c_)", 0..4)),
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
            let (values, raw) = both_ways_keeping(&flatten, keep.as_ref(), &pages);
            prop_assert_eq!(&raw, &values);
            // Only kept columns are staged, whatever their case.
            if let (Some(keep), Ok((columns, _))) = (&keep, &values) {
                for (name, _) in columns {
                    prop_assert!(keep.iter().any(|k| k.eq_ignore_ascii_case(name)), "{name}");
                }
            }
        }
    }

    /// The staged table as the transforms read it: each part's columns cast to the table's
    /// types, a column a part lacks as nulls.
    fn read_table(table: &StagedTable) -> DataFrame {
        let mut whole: Option<DataFrame> = None;
        for part in &table.parts {
            let frame = read::part(part, None).unwrap();
            let columns = table
                .columns
                .iter()
                .map(|(n, t)| match frame.column(n) {
                    Ok(c) => c.cast(&t.dtype()).unwrap(),
                    Err(_) => Column::full_null(n.into(), frame.height(), &t.dtype()),
                })
                .collect();
            let frame = DataFrame::new(frame.height(), columns).unwrap();
            whole = Some(match whole {
                Some(mut w) => {
                    w.vstack_mut(&frame).unwrap();
                    w
                }
                None => frame,
            });
        }
        whole.unwrap()
    }

    /// The table as the NDJSON staging read it: each record flattened, the values of a text
    /// column as their text, every line read by polars with the table's types.
    fn read_as_ndjson(table: &StagedTable, flatten: &Flatten, pages: &[Vec<Value>]) -> DataFrame {
        let dir = tempfile::tempdir().unwrap();
        let mut w = StageWriter::create(&dir.path().join("x.parquet"), "t", flatten.clone(), None);
        let mut text = Vec::new();
        for record in pages.iter().flatten() {
            let mut row = w.flatten_record(record.clone()).unwrap();
            for (name, t) in &table.columns {
                if let (FieldType::Text, Some(v)) = (t, row.get_mut(name)) {
                    if !v.is_string() && !v.is_null() {
                        *v = Value::String(v.to_string());
                    }
                }
            }
            serde_json::to_writer(&mut text, &row).unwrap();
            text.push(b'\n');
        }
        let schema: Schema = table
            .columns
            .iter()
            .map(|(n, t)| Field::new(n.into(), t.dtype()))
            .collect();
        JsonReader::new(std::io::Cursor::new(text))
            .with_json_format(JsonFormat::JsonLines)
            .with_schema(std::sync::Arc::new(schema))
            .finish()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Columnar staging reads back as the NDJSON staging it replaced did: late fields,
        /// widening within and across parts, lists, flattening and text columns alike.
        #[test]
        fn staged_parts_read_back_as_ndjson_staging_did(
            pages in prop::collection::vec(
                prop::collection::vec(
                    prop::collection::vec(("(id|a|b|c)", json_value()), 0..5),
                    0..4,
                ),
                1..5,
            ),
            max_depth in prop::option::of(0u32..3),
            small_parts in any::<bool>(),
        ) {
            let pages: Vec<Vec<Value>> = pages
                .into_iter()
                .map(|page| page.into_iter().map(|f| Value::Object(f.into_iter().collect())).collect())
                .collect();
            let flatten = Flatten { max_depth, ..Flatten::default() };
            let dir = tempfile::tempdir().unwrap();
            let mut w = StageWriter::create(&dir.path().join("t.parquet"), "t", flatten.clone(), None);
            if small_parts {
                w.part_bytes = 1;
            }
            let mut staged = true;
            for page in &pages {
                staged &= w.stage_values(page.clone()).is_ok();
            }
            prop_assume!(staged);
            let table = w.finish().unwrap();
            prop_assume!(table.rows > 0 && !table.columns.is_empty());
            let got = read_table(&table);
            let want = read_as_ndjson(&table, &flatten, &pages);
            prop_assert!(got.equals_missing(&want), "{got}\n{want}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The shards of a sharded run, each staging some of the pages, put together read as
        /// one process staging every page: types widened and text rewritten across shards.
        #[test]
        fn shards_put_together_read_as_one_table(
            pages in prop::collection::vec(
                prop::collection::vec(
                    prop::collection::vec(("(id|a|b|c)", json_value()), 0..4),
                    0..4,
                ),
                2..6,
            ),
            shards in 2usize..4,
        ) {
            let pages: Vec<Vec<Value>> = pages
                .into_iter()
                .map(|page| page.into_iter().map(|f| Value::Object(f.into_iter().collect())).collect())
                .collect();
            let dir = tempfile::tempdir().unwrap();
            let stage = |name: &str, pages: &[Vec<Value>]| {
                let mut w = StageWriter::create(&dir.path().join(name), "t", Flatten::default(), None);
                w.part_bytes = 64;
                for page in pages {
                    w.stage_values(page.clone()).ok()?;
                }
                w.finish().ok()
            };
            let Some(whole) = stage("whole.parquet", &pages) else { return Ok(()) };
            prop_assume!(whole.rows > 0 && !whole.columns.is_empty());
            let per_shard = pages.len().div_ceil(shards);
            let parts: Vec<StagedTable> = pages
                .chunks(per_shard)
                .enumerate()
                .map(|(i, chunk)| stage(&format!("shard-{i}.parquet"), chunk).unwrap())
                .collect();
            let together = StagedTable::concat("t", parts).unwrap();
            prop_assert_eq!(&together.columns, &whole.columns);
            prop_assert_eq!(together.rows, whole.rows);
            let got = read_table(&together);
            let want = read_table(&whole);
            prop_assert!(got.equals_missing(&want), "{got}\n{want}");
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
        let path = dir.path().join("t.parquet");
        let mut w = StageWriter::create(&path, "users", Flatten::default(), None);
        let err = w
            .stage_values(vec![json!({"a__b": 1, "a": {"b": 2}})])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "source `users`: fields `a.b` and `a__b` both flatten to column `a__b`; set \
             `flatten: { separator: ... }` to another separator or `flatten: false`"
        );
        let mut w = StageWriter::create(&path, "users", Flatten::default(), None);
        w.stage_values(vec![json!({"a": {"b": 2}})]).unwrap();
        let err = w.stage_values(vec![json!({"a__b": 1})]).unwrap_err();
        assert!(err.to_string().contains("fields `a__b` and `a.b`"), "{err}");
    }
}
