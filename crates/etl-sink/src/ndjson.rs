//! `format: ndjson`: one JSON object per line, as polars writes them. It takes no options.
//! The csv sink writes list and struct cells with this writer too.

use std::io::Write;

use polars::prelude::*;

use crate::error::Error;

pub(crate) fn write(df: &mut DataFrame, sink: &str, out: &mut impl Write) -> Result<(), Error> {
    JsonWriter::new(out)
        .with_json_format(JsonFormat::JsonLines)
        .finish(df)
        .map_err(|e| Error::data(sink, e))
}
