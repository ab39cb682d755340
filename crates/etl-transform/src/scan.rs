//! Staged tables: Parquet parts and the complete set of their columns, read lazily with that
//! schema.

use std::path::PathBuf;

use polars::prelude::*;

use crate::error::Error;

/// The one column of a staged table none of whose columns is kept: its rows, to count.
const ROWS_ONLY: &str = "\u{0}rows";

/// The type of a staged column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    /// Only nulls were seen; read as text.
    Null,
    Bool,
    Int,
    Float,
    String,
    List(Box<ColumnType>),
}

impl ColumnType {
    fn dtype(&self) -> DataType {
        match self {
            ColumnType::Null | ColumnType::String => DataType::String,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::List(inner) => DataType::List(Box::new(inner.dtype())),
        }
    }
}

/// A staged table (Parquet parts, in order) and all of its columns. A part holds the columns
/// its records had, each of a type the table's type holds (integers where the table has
/// floats, nothing where it has only nulls); reading aligns it to the table's.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub paths: Vec<PathBuf>,
    pub rows: u64,
    pub columns: Vec<(String, ColumnType)>,
}

impl Table {
    /// The table's columns as a polars schema.
    pub fn schema(&self) -> Schema {
        self.columns
            .iter()
            .map(|(n, t)| Field::new(n.as_str().into(), t.dtype()))
            .collect()
    }

    /// A lazy scan with the complete schema: nothing is inferred from a sample.
    pub fn scan(&self) -> Result<LazyFrame, Error> {
        let schema = self.schema();
        if self.rows == 0 {
            return Ok(DataFrame::empty_with_schema(&schema).lazy());
        }
        if self.columns.is_empty() {
            // No column is kept (`SELECT COUNT(*) FROM t` names none): the rows are all
            // there is, a column of `true` as long as the table.
            let rows = BooleanChunked::full(ROWS_ONLY.into(), true, self.rows as usize);
            let frame = DataFrame::new(self.rows as usize, vec![rows.into_column()])
                .map_err(|e| self.error(&e))?;
            return Ok(frame.lazy());
        }
        let columns: Vec<(PlSmallStr, DataType)> =
            schema.iter().map(|(n, t)| (n.clone(), t.clone())).collect();
        let mut scans = self
            .paths
            .iter()
            .map(|p| {
                let error =
                    |e: &dyn std::fmt::Display| self.error(&format!("{}: {e}", p.display()));
                let path = PlRefPath::try_from_path(p).map_err(|e| error(&e))?;
                let mut part = LazyFrame::scan_parquet(path, ScanArgsParquet::default())
                    .map_err(|e| error(&e))?;
                let part_schema = part.collect_schema().map_err(|e| error(&e))?;
                // A column the part lacks is nulls for each of its rows: added with
                // `with_columns`, which gives a literal the frame's height (a `select` of
                // only literals would give one row). Every staged part has a column to
                // count its rows by (a row marker), whatever it lacks.
                let missing: Vec<Expr> = columns
                    .iter()
                    .filter(|(n, _)| !part_schema.contains(n))
                    .map(|(n, t)| lit(NULL).cast(t.clone()).alias(n.clone()))
                    .collect();
                if part_schema.is_empty() {
                    return Err(error(&"the part has no column to count its rows by"));
                }
                let part = if missing.is_empty() {
                    part
                } else {
                    part.with_columns(missing)
                };
                Ok(part.select(
                    columns
                        .iter()
                        .map(|(n, t)| col(n.clone()).cast(t.clone()))
                        .collect::<Vec<_>>(),
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if scans.len() == 1 {
            return Ok(scans.remove(0));
        }
        // One part after the other: polars maps a file whole while reading it, so reading the
        // parts in turn holds one part in memory, not the table.
        concat(
            scans,
            UnionArgs {
                parallel: false,
                rechunk: false,
                maintain_order: true,
                ..UnionArgs::default()
            },
        )
        .map_err(|e| self.error(&e))
    }

    fn error(&self, e: &dyn std::fmt::Display) -> Error {
        Error::Scan {
            table: self.name.clone(),
            message: e.to_string(),
        }
    }
}
