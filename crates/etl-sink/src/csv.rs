//! `format: csv`. List, array and struct columns are written as JSON text, the same JSON the
//! ndjson sink writes for them (`["a","b"]`, `{"k":1}`, `null` inside), quoted like any
//! other text; a missing list is a missing value (`csv.null`).

use std::collections::HashMap;
use std::io::Write;

use polars::prelude::*;
use serde_json::value::RawValue;

use crate::Error;
use crate::spec::{QuoteStyle, SinkConfig};
use crate::write::data_error;

pub(crate) fn write(
    df: &mut DataFrame,
    sink: &SinkConfig,
    out: &mut impl Write,
) -> Result<(), Error> {
    let mut encoded = nested_as_json(df).map_err(|message| Error::Data {
        sink: sink.name.clone(),
        message,
    })?;
    let df = encoded.as_mut().unwrap_or(df);
    CsvWriter::new(out)
        .include_header(sink.header)
        .with_separator(sink.delimiter)
        .with_quote_char(sink.quote_char)
        .with_quote_style(match sink.quote_style {
            QuoteStyle::Necessary => polars::prelude::QuoteStyle::Necessary,
            QuoteStyle::Always => polars::prelude::QuoteStyle::Always,
            QuoteStyle::NonNumeric => polars::prelude::QuoteStyle::NonNumeric,
            QuoteStyle::Never => polars::prelude::QuoteStyle::Never,
        })
        .with_null_value(sink.null.as_str().into())
        .with_float_precision(sink.float_precision)
        .with_date_format(sink.date_format.as_deref().map(Into::into))
        .with_datetime_format(sink.datetime_format.as_deref().map(Into::into))
        .finish(df)
        .map_err(|e| data_error(sink, &e))
}

/// A copy of `df` whose list, array and struct columns are JSON text, or `None` when it has
/// none. The other columns are shared, not copied.
///
/// The nested columns go through polars' NDJSON writer (one object per row) and each value is
/// cut out of its row unchanged, so a cell holds exactly what the ndjson sink would write.
fn nested_as_json(df: &DataFrame) -> Result<Option<DataFrame>, String> {
    let nested: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| c.dtype().is_nested())
        .map(|c| c.name().clone())
        .collect();
    if nested.is_empty() {
        return Ok(None);
    }
    let mut part = df
        .select(nested.iter().cloned())
        .map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    JsonWriter::new(&mut lines)
        .with_json_format(JsonFormat::JsonLines)
        .finish(&mut part)
        .map_err(|e| e.to_string())?;
    let mut cells: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(df.height()); nested.len()];
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let row: HashMap<String, &RawValue> = serde_json::from_slice(line)
            .map_err(|e| format!("cannot encode a list or struct column as JSON: {e}"))?;
        for (name, column) in nested.iter().zip(&mut cells) {
            let value = row.get(name.as_str()).map(|v| v.get());
            column.push(value.filter(|v| *v != "null").map(str::to_owned));
        }
    }
    let mut out = df.clone();
    for (name, column) in nested.into_iter().zip(cells) {
        if column.len() != df.height() {
            return Err(format!(
                "cannot encode column `{name}` as JSON: {} values for {} rows",
                column.len(),
                df.height()
            ));
        }
        let text = Column::new(name.clone(), column);
        out.replace(name.as_str(), text)
            .map_err(|e| e.to_string())?;
    }
    Ok(Some(out))
}
