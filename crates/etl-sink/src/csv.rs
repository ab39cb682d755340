use std::io::Write;

use polars::prelude::*;

use crate::Error;
use crate::spec::SinkConfig;
use crate::write::data_error;

pub(crate) fn write(
    df: &mut DataFrame,
    sink: &SinkConfig,
    out: &mut impl Write,
) -> Result<(), Error> {
    if let Some(column) = df.columns().iter().find(|c| c.dtype().is_nested()) {
        return Err(Error::Data {
            sink: sink.name.clone(),
            message: format!(
                "column `{}` holds {} values, which CSV cannot hold; write `format: parquet` \
                 or `ndjson`, or leave the column out of the transform",
                column.name(),
                column.dtype()
            ),
        });
    }
    CsvWriter::new(out)
        .include_header(sink.header)
        .with_separator(sink.delimiter)
        .finish(df)
        .map_err(|e| data_error(sink, &e))
}
