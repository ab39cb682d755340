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
    JsonWriter::new(out)
        .with_json_format(JsonFormat::JsonLines)
        .finish(df)
        .map_err(|e| data_error(sink, &e))
}
