use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::*;

use crate::Error;

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

/// A staged NDJSON file and all of its columns.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub path: PathBuf,
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
        let path = PlRefPath::try_from_path(&self.path).map_err(|e| self.error(&e))?;
        LazyJsonLineReader::new(path)
            .with_schema(Some(Arc::new(schema)))
            .finish()
            .map_err(|e| self.error(&e))
    }

    fn error(&self, e: &PolarsError) -> Error {
        Error::Scan {
            table: self.name.clone(),
            message: e.to_string(),
        }
    }
}
