//! Merged tables: everything an incremental source has loaded, one row per primary key.
//!
//! A run's staged records are merged into the table kept from earlier runs: new keys are
//! added, a key seen again is replaced by its newest version (within a run, the one with the
//! largest cursor; between runs, the one fetched last), and columns that appear or change
//! type are widened, never dropped.

use std::path::Path;

use polars::prelude::*;

use crate::error::Error;
use crate::scan::Table;
use crate::widen::{aligned, widened_columns};

const NEW: &str = "__etl_new";
const SEQ: &str = "__etl_seq";

/// What to merge and how.
#[derive(Debug, Clone)]
pub struct Merge<'a> {
    /// This run's records.
    pub staged: &'a Table,
    /// The table kept by earlier runs (a Parquet file), if any.
    pub existing: Option<&'a Path>,
    /// The columns identifying a record.
    pub primary_key: &'a [String],
    /// A numeric column ordering versions of a record within the run (dropped from the
    /// result), if the staged table has one.
    pub order_column: Option<&'a str>,
}

/// Merges and returns the complete table, sorted by its key.
pub fn merge(m: &Merge<'_>) -> Result<DataFrame, Error> {
    let error = |message: String| Error::Merge {
        table: m.staged.name.clone(),
        message,
    };
    let polars_error = |e: PolarsError| error(e.to_string());
    let mut new = m.staged.scan()?;
    let new_schema = new.collect_schema().map_err(polars_error)?;
    let mut old = match m.existing {
        Some(path) => {
            let path = PlRefPath::try_from_path(path).map_err(|e| error(e.to_string()))?;
            Some(LazyFrame::scan_parquet(path, ScanArgsParquet::default()).map_err(polars_error)?)
        }
        None => None,
    };
    let old_schema = match &mut old {
        Some(frame) => Some(frame.collect_schema().map_err(|e| {
            error(format!(
                "the merged table kept by earlier runs cannot be read ({e}); remove it with \
                 `etl state reset` to load everything again"
            ))
        })?),
        None => None,
    };
    let order = m
        .order_column
        .filter(|c| new_schema.contains(c))
        .map(str::to_owned);

    // The union of both schemas, widened where types differ; the order column stays out.
    let mut columns = widened_columns(old_schema.iter().map(|s| &**s).chain([&*new_schema]));
    columns.retain(|(name, _)| order.as_deref() != Some(name.as_str()));
    if columns.is_empty() {
        return Err(error(
            "there are no records: none came in this run and no table is kept from earlier \
             runs, so there is nothing to report on"
                .into(),
        ));
    }
    for key in m.primary_key {
        if !columns.iter().any(|(n, _)| n == key.as_str()) {
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            return Err(error(format!(
                "the primary key `{key}` is not a column; the columns are {}",
                names.join(", ")
            )));
        }
    }
    let selection = |schema: &Schema, new_rows: bool| -> Vec<Expr> {
        let mut exprs = aligned(schema, &columns);
        exprs.push(lit(new_rows).alias(NEW));
        exprs.push(match (&order, new_rows) {
            (Some(o), true) => col(o.as_str()).cast(DataType::Int64).alias("__etl_order"),
            _ => lit(NULL).cast(DataType::Int64).alias("__etl_order"),
        });
        exprs.push(col(SEQ));
        exprs
    };
    let new = new
        .with_row_index(SEQ, None)
        .select(selection(&new_schema, true));
    let frames = match (old, &old_schema) {
        (Some(old), Some(schema)) => vec![
            old.with_row_index(SEQ, None)
                .select(selection(schema, false)),
            new,
        ],
        _ => vec![new],
    };
    let keys: Vec<Expr> = m.primary_key.iter().map(|k| col(k.as_str())).collect();
    let merged = concat(frames, UnionArgs::default())
        .map_err(polars_error)?
        // Oldest first: earlier runs, then this run by cursor and arrival; the last version
        // of each key wins.
        .sort(
            [NEW, "__etl_order", SEQ],
            SortMultipleOptions::default()
                .with_nulls_last(false)
                .with_maintain_order(true),
        )
        .unique_stable_generic(Some(keys.clone()), UniqueKeepStrategy::Last)
        .sort_by_exprs(
            keys,
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .drop(cols([NEW, "__etl_order", SEQ]))
        .collect()
        .map_err(polars_error)?;
    for key in m.primary_key {
        let nulls = merged.column(key).map_or(0, Column::null_count);
        if nulls > 0 {
            return Err(error(format!(
                "{nulls} record(s) have no value in the primary key `{key}`; every record needs \
                 one (or choose another `primary_key`)"
            )));
        }
    }
    Ok(merged)
}

/// Writes a merged table to `path` (Parquet).
pub fn write_parquet(frame: &mut DataFrame, path: &Path) -> Result<u64, Error> {
    let error = |message: String| Error::Merge {
        table: path.display().to_string(),
        message,
    };
    let file = std::fs::File::create(path).map_err(|e| error(e.to_string()))?;
    let mut writer = std::io::BufWriter::new(file);
    ParquetWriter::new(&mut writer)
        .finish(frame)
        .map_err(|e| error(e.to_string()))?;
    let file = writer.into_inner().map_err(|e| error(e.to_string()))?;
    file.sync_all().map_err(|e| error(e.to_string()))?;
    Ok(file.metadata().map_err(|e| error(e.to_string()))?.len())
}
