//! Staged tables: an NDJSON file (or its parts) and the complete set of its columns, read
//! lazily with that schema.

use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::*;

use crate::error::Error;

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

/// A staged NDJSON table (one file or several parts, in order) and all of its columns.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub paths: Vec<PathBuf>,
    pub rows: u64,
    pub columns: Vec<(String, ColumnType)>,
}

impl Table {
    pub(crate) fn schema(&self) -> Schema {
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
        let schema = Arc::new(schema);
        let mut scans = self
            .paths
            .iter()
            .map(|p| {
                let path = PlRefPath::try_from_path(p).map_err(|e| self.error(&e))?;
                LazyJsonLineReader::new(path)
                    .with_schema(Some(schema.clone()))
                    .finish()
                    .map_err(|e| self.error(&e))
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

    fn error(&self, e: &PolarsError) -> Error {
        Error::Scan {
            table: self.name.clone(),
            message: e.to_string(),
        }
    }
}
