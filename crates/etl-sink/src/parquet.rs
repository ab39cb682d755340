//! `format: parquet`: codec and level, row group size, column statistics.

use std::io::Write;

use polars::polars_utils::compression::{GzipLevel, ZstdLevel};
use polars::prelude::*;

use crate::Error;
use crate::spec::{Compression, SinkConfig};
use crate::write::data_error;

pub(crate) fn write(
    df: &mut DataFrame,
    sink: &SinkConfig,
    out: &mut impl Write,
) -> Result<(), Error> {
    // Levels were checked against `Compression::levels` when the sink was built; polars checks
    // the same ranges again here.
    let level = sink.compression_level;
    let compression = match sink.compression {
        Compression::Zstd => ParquetCompression::Zstd(
            level
                .map(|l| ZstdLevel::try_new(i32::from(l)))
                .transpose()
                .map_err(|e| data_error(sink, &e))?,
        ),
        Compression::Snappy => ParquetCompression::Snappy,
        Compression::Gzip => ParquetCompression::Gzip(
            level
                .map(GzipLevel::try_new)
                .transpose()
                .map_err(|e| data_error(sink, &e))?,
        ),
        Compression::Lz4 => ParquetCompression::Lz4Raw,
        Compression::Uncompressed => ParquetCompression::Uncompressed,
    };
    let statistics = if sink.statistics {
        StatisticsOptions::default()
    } else {
        StatisticsOptions::empty()
    };
    ParquetWriter::new(out)
        .with_compression(compression)
        .with_statistics(statistics)
        .with_row_group_size(sink.row_group_size)
        .finish(df)
        .map(drop)
        .map_err(|e| data_error(sink, &e))
}
