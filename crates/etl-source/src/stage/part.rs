//! One part of a staged table: typed columns filled record by record, written as a Parquet
//! file when the part is full.
//!
//! A column's values are kept in the shape its type needs (booleans, numbers, text, lists)
//! and change shape only when a clash widens the type: integers and floats share one shape,
//! and any other clash turns the values so far into their text, as a text column stages them.

use std::borrow::Cow;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use indexmap::IndexMap;
use polars::chunked_array::builder::get_list_builder;
use polars::prelude::*;
use serde_json::{Number, Value};

use super::FieldType;

/// The suffix of a column holding another column's values as their exact JSON text, written
/// beside a column whose typed values lose something a text column would show: floats some
/// of which came as integers (`10` beside `10.5`, read as `10.0`), and lists. Readers of the
/// table never see it; it is read only when the column turns out to be text, and for a
/// `for_each` parent's keys.
pub(crate) const EXACT: &str = "\u{0}json";

/// A column every part has, whatever its records held: a part's rows are counted by its
/// columns, and a part whose records had none of the kept fields (or only nulls in them)
/// still has its rows. Readers never see it.
pub(crate) const ROWS: &str = "\u{0}rows";

/// A field's value in a record, as it is staged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    /// A list, or an object kept whole.
    Json(Value),
}

impl Cell<'_> {
    pub(crate) fn from_value(value: Value) -> Cell<'static> {
        match value {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(b),
            Value::Number(n) => Cell::Number(n),
            Value::String(s) => Cell::String(Cow::Owned(s)),
            json => Cell::Json(json),
        }
    }

    pub(crate) fn field_type(&self) -> FieldType {
        match self {
            Cell::Null => FieldType::Null,
            Cell::Bool(_) => FieldType::Bool,
            Cell::Number(n) if n.is_i64() => FieldType::Int,
            Cell::Number(_) => FieldType::Float,
            Cell::String(_) => FieldType::String,
            Cell::Json(value) => FieldType::of(value),
        }
    }

    /// The value in a text column: a string as it is, anything else as JSON.
    fn text(&self) -> Cow<'_, str> {
        match self {
            Cell::Null => Cow::Borrowed("null"),
            Cell::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Cell::Number(n) => Cow::Owned(n.to_string()),
            Cell::String(s) => Cow::Borrowed(s),
            Cell::Json(value) => Cow::Owned(value.to_string()),
        }
    }

    /// A rough size of the value staged, to cut parts of about the same size.
    pub(crate) fn size(&self) -> usize {
        match self {
            Cell::String(s) => s.len() + 4,
            Cell::Json(value) => match value {
                Value::Array(items) => 8 * items.len() + 4,
                _ => 16,
            },
            _ => 8,
        }
    }
}

/// The records of the part being filled, as columns.
#[derive(Default)]
pub(crate) struct Part {
    pub(crate) rows: usize,
    /// About the bytes its values take.
    pub(crate) size: usize,
    columns: IndexMap<String, Values>,
}

impl Part {
    /// Puts `cell`, of type `t`, in column `name` of the current record (its `i`th field:
    /// records mostly list their fields in the same order, which spares a hash lookup).
    pub(crate) fn push(&mut self, i: usize, name: &str, cell: Cell<'_>, t: &FieldType) {
        let at = match self.columns.get_index(i) {
            Some((n, _)) if n == name => i,
            _ => match self.columns.get_index_of(name) {
                Some(j) => j,
                None => {
                    self.columns
                        .insert_full(name.to_owned(), Values::default())
                        .0
                }
            },
        };
        self.size += cell.size();
        self.columns[at].push(self.rows, cell, t);
    }

    /// Ends the current record.
    pub(crate) fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Writes the part to `path`; returns each column it holds and its type in the part
    /// (columns with only nulls are left out: a reader adds them; [`ROWS`] is always
    /// written). The part is empty again.
    pub(crate) fn write(&mut self, path: &Path) -> std::io::Result<Vec<(String, FieldType)>> {
        let rows = std::mem::take(&mut self.rows);
        self.size = 0;
        let mut series = Vec::new();
        let mut kinds = Vec::new();
        for (name, column) in std::mem::take(&mut self.columns) {
            if column.kind == FieldType::Null {
                continue;
            }
            let kind = column.kind.clone();
            series.extend(
                column
                    .into_series(&name, rows)
                    .map_err(std::io::Error::other)?,
            );
            kinds.push((name, kind));
        }
        series.push(BooleanChunked::full(ROWS.into(), false, rows).into_series());
        let mut frame = DataFrame::new(rows, series.into_iter().map(Column::from).collect())
            .map_err(std::io::Error::other)?;
        write_parquet(&mut frame, path)?;
        Ok(kinds)
    }
}

/// Rows per row group of a part, as polars' own writer cuts them (a reader decodes row
/// groups in parallel).
const ROW_GROUP: usize = 512 * 512;

/// Writes a part: LZ4, no statistics, every column plainly encoded, on the calling thread
/// (the staging thread; polars' pool is left to the transforms). Plain, not the dictionary
/// encoding polars' writer picks: a part is read once, and building a dictionary hashed
/// every value of it (about a tenth of the staging time at large scale,
/// docs/performance.md).
pub(crate) fn write_parquet(frame: &mut DataFrame, path: &Path) -> std::io::Result<()> {
    use polars_parquet::write::{
        CompressionOptions, Encoding, FileWriter, StatisticsOptions, Version, WriteOptions,
        row_group_iter,
    };

    let fail = std::io::Error::other;
    frame.rechunk_mut();
    let schema = frame.schema().to_arrow(CompatLevel::newest());
    let options = WriteOptions {
        statistics: StatisticsOptions::empty(),
        compression: CompressionOptions::Lz4Raw,
        version: Version::V1,
        data_page_size: None,
    };
    // One encoding per leaf column (a list has one leaf, its items).
    let encodings: Vec<Vec<Encoding>> = schema
        .iter_values()
        .map(|field| {
            polars_parquet::write::get_dtype_encoding(&field.dtype)
                .into_iter()
                .map(|_| Encoding::Plain)
                .collect()
        })
        .collect();
    let mut out = BufWriter::with_capacity(256 * 1024, File::create(path)?);
    let mut writer = FileWriter::try_new(&mut out, schema, options).map_err(fail)?;
    let fields = writer.parquet_schema().fields().to_vec();
    for offset in (0..frame.height().max(1)).step_by(ROW_GROUP) {
        let group = frame.slice(
            i64::try_from(offset).map_err(std::io::Error::other)?,
            ROW_GROUP,
        );
        for batch in group.iter_chunks(CompatLevel::newest(), false) {
            let rows = batch.height() as u64;
            let columns = row_group_iter(batch, encodings.clone().into(), fields.clone(), options);
            writer.write(rows, columns).map_err(fail)?;
        }
    }
    writer.end(None).map_err(fail)?;
    out.into_inner()
        .map_err(std::io::IntoInnerError::into_error)?;
    Ok(())
}

/// One column of a part: its type over the part's records, and its values in that type's
/// shape. `len` values so far (nulls included); a record without the field gets a null.
#[derive(Default)]
struct Values {
    kind: FieldType,
    len: usize,
    data: Data,
}

#[derive(Default)]
enum Data {
    /// Only nulls (`len` of them).
    #[default]
    Null,
    Bool(Vec<Option<bool>>),
    /// Integers and floats, as they came (an integer stays one until the part is written).
    Number(Vec<Option<Number>>),
    /// Strings, or text.
    Text(StringChunkedBuilder),
    /// Lists, as they came.
    List(Vec<Option<Value>>),
}

impl Values {
    fn push(&mut self, row: usize, cell: Cell<'_>, t: &FieldType) {
        if *t != self.kind && *t != FieldType::Null {
            let kind = self.kind.merge(t);
            if kind != self.kind {
                self.data = std::mem::take(&mut self.data).reshaped(&kind, self.len);
                self.kind = kind;
            }
        }
        while self.len < row {
            self.data.push_null();
            self.len += 1;
        }
        self.data.push(cell);
        self.len += 1;
    }

    /// The column as polars series: the values, and the exact JSON beside them when the
    /// typed values lose something.
    fn into_series(mut self, name: &str, rows: usize) -> PolarsResult<Vec<Series>> {
        while self.len < rows {
            self.data.push_null();
            self.len += 1;
        }
        let name = PlSmallStr::from(name);
        let exact = |values: &mut dyn Iterator<Item = Option<String>>| {
            Series::new(
                format!("{name}{EXACT}").into(),
                values.collect::<Vec<Option<String>>>(),
            )
        };
        Ok(match (self.data, &self.kind) {
            (Data::Null, _) => vec![Series::full_null(name, rows, &DataType::String)],
            (Data::Bool(values), _) => vec![Series::new(name, values)],
            (Data::Number(values), FieldType::Int) => {
                let ints: Vec<Option<i64>> = values
                    .iter()
                    .map(|n| n.as_ref().and_then(Number::as_i64))
                    .collect();
                vec![Series::new(name, ints)]
            }
            (Data::Number(values), _) => {
                let floats: Vec<Option<f64>> = values
                    .iter()
                    .map(|n| n.as_ref().and_then(Number::as_f64))
                    .collect();
                let mut series = vec![Series::new(name.clone(), floats)];
                if values.iter().flatten().any(|n| !n.is_f64()) {
                    let mut texts = values.iter().map(|n| n.as_ref().map(Number::to_string));
                    series.push(exact(&mut texts));
                }
                series
            }
            (Data::Text(builder), _) => vec![builder.finish().with_name(name).into_series()],
            (Data::List(values), kind) => {
                let inner = match kind {
                    FieldType::List(inner) => inner.as_ref().clone(),
                    _ => FieldType::Null,
                };
                let lists = list_series(name.clone(), values.iter().map(Option::as_ref), &inner)?;
                let mut texts = values.iter().map(|v| v.as_ref().map(Value::to_string));
                vec![lists, exact(&mut texts)]
            }
        })
    }
}

impl Data {
    /// Empty data for a column of type `kind` holding `nulls` nulls.
    fn nulls(kind: &FieldType, nulls: usize) -> Self {
        match kind {
            FieldType::Null => Data::Null,
            FieldType::Bool => Data::Bool(vec![None; nulls]),
            FieldType::Int | FieldType::Float => Data::Number(vec![None; nulls]),
            FieldType::String | FieldType::Text => {
                let mut builder = StringChunkedBuilder::new(PlSmallStr::EMPTY, nulls);
                for _ in 0..nulls {
                    builder.append_null();
                }
                Data::Text(builder)
            }
            FieldType::List(_) => Data::List(vec![None; nulls]),
        }
    }

    /// The same `len` values in the shape of `kind`, a type they widened to: nulls become
    /// any shape; integers and floats, and lists of any type, keep theirs; anything else
    /// becomes text.
    fn reshaped(self, kind: &FieldType, len: usize) -> Self {
        match (self, kind) {
            (Data::Null, kind) => Data::nulls(kind, len),
            (data @ Data::Text(_), _) => data,
            (data, FieldType::Text) => {
                let mut builder = StringChunkedBuilder::new(PlSmallStr::EMPTY, len);
                let mut put = |cell: Option<Cell<'_>>| match cell {
                    Some(cell) => builder.append_value(cell.text()),
                    None => builder.append_null(),
                };
                let cells: Box<dyn Iterator<Item = Option<Cell<'_>>>> = match data {
                    Data::Bool(values) => Box::new(values.into_iter().map(|b| b.map(Cell::Bool))),
                    Data::Number(values) => {
                        Box::new(values.into_iter().map(|n| n.map(Cell::Number)))
                    }
                    Data::List(values) => Box::new(values.into_iter().map(|v| v.map(Cell::Json))),
                    Data::Null | Data::Text(_) => Box::new(std::iter::empty()),
                };
                for cell in cells {
                    put(cell);
                }
                Data::Text(builder)
            }
            (data, _) => data,
        }
    }

    fn push_null(&mut self) {
        match self {
            Data::Null => {}
            Data::Bool(values) => values.push(None),
            Data::Number(values) => values.push(None),
            Data::Text(builder) => builder.append_null(),
            Data::List(values) => values.push(None),
        }
    }

    fn push(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (data, Cell::Null) => data.push_null(),
            (Data::Text(builder), cell) => builder.append_value(cell.text()),
            (Data::Bool(values), Cell::Bool(b)) => values.push(Some(b)),
            (Data::Number(values), Cell::Number(n)) => values.push(Some(n)),
            (Data::List(values), Cell::Json(v)) => values.push(Some(v)),
            (_, cell) => unreachable!("a {cell:?} in a column whose type does not hold it"),
        }
    }
}

/// A list column of element type `inner` (the element types of its lists, merged).
fn list_series<'v>(
    name: PlSmallStr,
    lists: impl ExactSizeIterator<Item = Option<&'v Value>>,
    inner: &FieldType,
) -> PolarsResult<Series> {
    let mut builder = get_list_builder(&inner.dtype(), lists.len(), lists.len(), name);
    for list in lists {
        match list {
            Some(Value::Array(items)) => {
                builder.append_series(&elements(items, inner)?)?;
            }
            _ => builder.append_null(),
        }
    }
    Ok(builder.finish().into_series())
}

/// The elements of one list, of type `t`.
fn elements(items: &[Value], t: &FieldType) -> PolarsResult<Series> {
    let name = PlSmallStr::EMPTY;
    Ok(match t {
        FieldType::Bool => Series::new(name, items.iter().map(Value::as_bool).collect::<Vec<_>>()),
        FieldType::Int => Series::new(name, items.iter().map(Value::as_i64).collect::<Vec<_>>()),
        FieldType::Float => Series::new(name, items.iter().map(Value::as_f64).collect::<Vec<_>>()),
        FieldType::List(inner) => list_series(name, items.iter().map(Some), inner)?,
        FieldType::Null | FieldType::String | FieldType::Text => {
            Series::new(name, items.iter().map(Value::as_str).collect::<Vec<_>>())
        }
    })
}

/// Rewrites the columns `names` of the part at `path` as text: each value as a text column
/// stages it (a string as it is, anything else as its JSON).
pub(crate) fn rewrite_as_text(path: &Path, names: &[&str]) -> std::io::Result<()> {
    let mut frame = super::read::part(path, None)?;
    // A part may lack a column (a field first seen in a later part).
    let present: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| frame.column(n).is_ok())
        .collect();
    for name in present {
        let exact = format!("{name}{EXACT}");
        let text = match frame.column(&exact) {
            Ok(exact) => exact.as_materialized_series().clone(),
            Err(_) => {
                let column = frame.column(name).map_err(std::io::Error::other)?;
                let values = super::read::values(&frame, name).map_err(std::io::Error::other)?;
                let texts: Vec<Option<String>> = values
                    .into_iter()
                    .map(|v| match v {
                        Value::Null => None,
                        Value::String(s) => Some(s),
                        v => Some(v.to_string()),
                    })
                    .collect();
                debug_assert_eq!(texts.len(), column.len());
                Series::new(PlSmallStr::EMPTY, texts)
            }
        };
        frame
            .with_column(text.with_name(name.into()).into_column())
            .map_err(std::io::Error::other)?;
        if frame.column(&exact).is_ok() {
            frame.drop_in_place(&exact).map_err(std::io::Error::other)?;
        }
    }
    let tmp = path.with_extension("parquet.rewrite");
    write_parquet(&mut frame, &tmp)?;
    std::fs::rename(&tmp, path)
}
