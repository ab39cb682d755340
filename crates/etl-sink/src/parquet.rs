//! `format: parquet`: the `parquet:` block as written ([`ParquetSpec`]), checked
//! ([`ParquetOptions`]: codec and level, row group size, column statistics), and the writer.

use std::io::Write;

use etl_config::{ConfigError, KeyPath};
use polars::polars_utils::compression::{GzipLevel, ZstdLevel};
use polars::prelude::*;
use serde::Deserialize;

use crate::error::{Error, Problems, problem};

/// `parquet: { compression, compression_level, row_group_size, statistics }`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ParquetSpec {
    /// `zstd` (default), `snappy`, `gzip`, `lz4` or `uncompressed`.
    pub compression: Option<Compression>,
    /// How hard to compress: 1 to 22 for `zstd` (default 3), 0 to 9 for `gzip` (default 6);
    /// the other codecs take no level.
    pub compression_level: Option<i64>,
    /// About this many rows per row group (default 262144, polars' default): polars splits
    /// the rows into as many equal groups of at least this many as fit, so 1000 rows with 300
    /// give 3 groups of about 333.
    pub row_group_size: Option<usize>,
    /// Write min, max and null-count statistics per column chunk, which lets readers skip row
    /// groups (default `true`).
    pub statistics: Option<bool>,
}

/// Parquet compression codec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Zstd,
    Snappy,
    Gzip,
    Lz4,
    Uncompressed,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
            Compression::Uncompressed => "uncompressed",
        }
    }

    /// The levels this codec accepts, if it takes one.
    pub fn levels(self) -> Option<std::ops::RangeInclusive<u8>> {
        match self {
            Compression::Zstd => Some(1..=22),
            Compression::Gzip => Some(0..=9),
            Compression::Snappy | Compression::Lz4 | Compression::Uncompressed => None,
        }
    }
}

/// The options of a parquet sink, checked ([`ParquetSpec`] with its defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetOptions {
    pub compression: Compression,
    /// `parquet.compression_level`, in the range of [`Compression::levels`] (`None` for a
    /// codec without levels).
    pub compression_level: Option<u8>,
    /// At least 1.
    pub row_group_size: Option<usize>,
    /// `parquet.statistics`.
    pub statistics: bool,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        Self {
            compression: Compression::default(),
            compression_level: None,
            row_group_size: None,
            statistics: true,
        }
    }
}

impl ParquetSpec {
    /// The options, checked; every problem is reported under `at` (`sinks.<name>.parquet`).
    pub(crate) fn build(&self, at: KeyPath) -> Result<ParquetOptions, Vec<ConfigError>> {
        let mut p = Problems::new(at);
        let default = ParquetOptions::default();
        let compression = self.compression.unwrap_or(default.compression);
        let compression_level = p
            .keep(
                "compression_level",
                level(compression, self.compression_level),
            )
            .flatten();
        if self.row_group_size == Some(0) {
            p.push("row_group_size", problem("must be at least 1 row"));
        }
        p.finish(Some(ParquetOptions {
            compression,
            compression_level,
            row_group_size: self.row_group_size,
            statistics: self.statistics.unwrap_or(default.statistics),
        }))
    }
}

/// `compression_level`, if given: one of the codec's levels.
fn level(compression: Compression, given: Option<i64>) -> Result<Option<u8>, ConfigError> {
    let Some(level) = given else { return Ok(None) };
    let name = compression.name();
    let Some(levels) = compression.levels() else {
        return Err(problem(format!("`{name}` takes no level")).with_hint(
            "use `zstd` (1 to 22) or `gzip` (0 to 9), or leave `compression_level` out",
        ));
    };
    match u8::try_from(level).ok().filter(|l| levels.contains(l)) {
        Some(l) => Ok(Some(l)),
        None => Err(
            problem(format!("`{level}` is not a `{name}` level")).with_hint(format!(
                "use {} to {}",
                levels.start(),
                levels.end()
            )),
        ),
    }
}

impl ParquetOptions {
    /// The options that differ from the defaults: key and value as shown.
    pub(crate) fn describe(&self) -> Vec<(&'static str, String)> {
        let d = Self::default();
        [
            (self.compression != d.compression)
                .then(|| ("compression", self.compression.name().to_owned())),
            self.compression_level
                .map(|l| ("compression_level", l.to_string())),
            self.row_group_size
                .map(|n| ("row_group_size", n.to_string())),
            (self.statistics != d.statistics).then(|| ("statistics", self.statistics.to_string())),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub(crate) fn write(
        &self,
        df: &mut DataFrame,
        sink: &str,
        out: &mut impl Write,
    ) -> Result<(), Error> {
        // Levels were checked against `Compression::levels` when the sink was built; polars
        // checks the same ranges again here.
        let level = self.compression_level;
        let compression = match self.compression {
            Compression::Zstd => ParquetCompression::Zstd(
                level
                    .map(|l| ZstdLevel::try_new(i32::from(l)))
                    .transpose()
                    .map_err(|e| Error::data(sink, e))?,
            ),
            Compression::Snappy => ParquetCompression::Snappy,
            Compression::Gzip => ParquetCompression::Gzip(
                level
                    .map(GzipLevel::try_new)
                    .transpose()
                    .map_err(|e| Error::data(sink, e))?,
            ),
            Compression::Lz4 => ParquetCompression::Lz4Raw,
            Compression::Uncompressed => ParquetCompression::Uncompressed,
        };
        let statistics = if self.statistics {
            StatisticsOptions::default()
        } else {
            StatisticsOptions::empty()
        };
        ParquetWriter::new(out)
            .with_compression(compression)
            .with_statistics(statistics)
            .with_row_group_size(self.row_group_size)
            .finish(df)
            .map(drop)
            .map_err(|e| Error::data(sink, e))
    }
}
