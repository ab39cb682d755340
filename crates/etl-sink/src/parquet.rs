use std::io::Write;

use polars::prelude::*;

use crate::Error;
use crate::spec::{Compression, SinkConfig};
use crate::write::data_error;

pub(crate) fn write(
    df: &mut DataFrame,
    sink: &SinkConfig,
    out: &mut impl Write,
) -> Result<(), Error> {
    let compression = match sink.compression {
        Compression::Zstd => ParquetCompression::Zstd(None),
        Compression::Snappy => ParquetCompression::Snappy,
        Compression::Gzip => ParquetCompression::Gzip(None),
        Compression::Lz4 => ParquetCompression::Lz4Raw,
        Compression::Uncompressed => ParquetCompression::Uncompressed,
    };
    ParquetWriter::new(out)
        .with_compression(compression)
        .finish(df)
        .map(drop)
        .map_err(|e| data_error(sink, &e))
}
