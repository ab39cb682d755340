//! The frame's columns as PostgreSQL types, and their values in the binary `COPY` format,
//! written straight from the polars arrays (no text, no allocation per number).

use polars::prelude::*;

/// The PostgreSQL type a column of the frame is written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PgType {
    BigInt,
    Double,
    Text,
    Boolean,
    Date,
    Timestamp,
    TimestampTz,
    Time,
    Interval,
    /// `numeric(p,s)`, or `numeric` without a precision (128-bit integers).
    Numeric {
        precision: Option<usize>,
        scale: usize,
    },
    Jsonb,
    Bytea,
    /// A column of nulls only, of no type: `text` when etl creates it, else whatever the
    /// table has.
    Null,
}

impl PgType {
    /// The type in SQL (`CREATE TABLE`, `CAST`).
    pub(super) fn sql(&self) -> String {
        match self {
            PgType::BigInt => "bigint".into(),
            PgType::Double => "double precision".into(),
            PgType::Text | PgType::Null => "text".into(),
            PgType::Boolean => "boolean".into(),
            PgType::Date => "date".into(),
            PgType::Timestamp => "timestamp".into(),
            PgType::TimestampTz => "timestamptz".into(),
            PgType::Time => "time".into(),
            PgType::Interval => "interval".into(),
            PgType::Numeric {
                precision: Some(p),
                scale,
            } => format!("numeric({p},{scale})"),
            PgType::Numeric {
                precision: None, ..
            } => "numeric".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Bytea => "bytea".into(),
        }
    }

    /// Whether an existing column of type `typname` (the base name) with modifier `typmod`
    /// takes this type's binary `COPY` values as they are: the same type.
    pub(super) fn is_exactly(&self, typname: &str, typmod: i32) -> bool {
        let name = match self {
            PgType::BigInt => "int8",
            PgType::Double => "float8",
            PgType::Text => "text",
            PgType::Boolean => "bool",
            PgType::Date => "date",
            PgType::Timestamp => "timestamp",
            PgType::TimestampTz => "timestamptz",
            PgType::Time => "time",
            PgType::Interval => "interval",
            PgType::Numeric { precision, scale } => {
                let modifier = precision
                    .and_then(|p| i32::try_from((p << 16) | scale).ok())
                    .map_or(-1, |m| m + 4);
                return typname == "numeric" && typmod == modifier;
            }
            PgType::Jsonb => "jsonb",
            PgType::Bytea => "bytea",
            PgType::Null => return false,
        };
        typname == name && (typmod == -1 || matches!(self, PgType::Interval))
    }

    /// Whether values of this type go into an existing column of type `typname` (the base
    /// name, `int8`, `numeric`, ...) with modifier `typmod` without losing anything a reader
    /// would miss. Integers into `integer`/`smallint` are checked against their range by the
    /// caller; anything fits `text`.
    pub(super) fn fits(&self, typname: &str, typmod: i32) -> bool {
        let text = matches!(typname, "text" | "varchar" | "bpchar");
        text || match self {
            PgType::Null => true,
            PgType::BigInt => matches!(
                typname,
                "int8" | "int4" | "int2" | "numeric" | "float8" | "float4"
            ),
            PgType::Double => matches!(typname, "float8" | "float4" | "numeric"),
            PgType::Text => false,
            PgType::Boolean => typname == "bool",
            PgType::Date => matches!(typname, "date" | "timestamp" | "timestamptz"),
            PgType::Timestamp | PgType::TimestampTz => {
                matches!(typname, "timestamp" | "timestamptz")
            }
            PgType::Time => typname == "time",
            PgType::Interval => typname == "interval",
            PgType::Numeric { precision, scale } => match typname {
                "float8" => true,
                "numeric" => numeric_fits(*precision, *scale, typmod),
                _ => false,
            },
            PgType::Jsonb => matches!(typname, "jsonb" | "json"),
            PgType::Bytea => typname == "bytea",
        }
    }
}

/// `numeric(p,s)` values into a `numeric` column with modifier `typmod` (-1: no limit).
fn numeric_fits(precision: Option<usize>, scale: usize, typmod: i32) -> bool {
    if typmod < 4 {
        return true;
    }
    let Ok(packed) = usize::try_from(typmod - 4) else {
        return true;
    };
    let (to_precision, to_scale) = (packed >> 16, packed & 0xffff);
    let Some(precision) = precision else {
        return false;
    };
    to_scale >= scale && to_precision - to_scale.min(to_precision) >= precision - scale
}

/// One column of the output: its PostgreSQL type, and what the batches sent so far held.
#[derive(Debug)]
pub(super) struct Column {
    pub(super) name: String,
    pub(super) pg: PgType,
    /// Lowest and highest value of an integer column, to check a narrower existing column.
    pub(super) range: Option<(i64, i64)>,
    /// Whether every value so far is null (fits any column).
    pub(super) all_null: bool,
    /// Nulls so far (a `merge` key has none).
    pub(super) nulls: usize,
}

impl Column {
    /// The column `name` of type `dtype`; list, array and struct columns are written as the
    /// JSON text the csv and ndjson sinks write for them.
    pub(super) fn of(name: &str, dtype: &DataType) -> Result<Column, Refusal> {
        let pg = if dtype.is_nested() {
            PgType::Jsonb
        } else {
            pg_type(dtype).map_err(|what| format!("column `{name}`: {what}"))?
        };
        Ok(Column {
            name: name.to_owned(),
            pg,
            range: None,
            all_null: true,
            nulls: 0,
        })
    }

    /// Takes in the values of one batch.
    pub(super) fn observe(&mut self, values: &Series) -> Result<(), Refusal> {
        self.nulls += values.null_count();
        self.all_null &= values.null_count() == values.len();
        if self.pg == PgType::BigInt {
            let ints = values
                .i64()
                .map_err(|e| format!("column `{}`: {e}", self.name))?;
            if let Some((lo, hi)) = ints.min().zip(ints.max()) {
                self.range = Some(match self.range {
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                    None => (lo, hi),
                });
            }
        }
        Ok(())
    }
}

/// Why a column cannot be written.
pub(super) type Refusal = String;

/// The PostgreSQL type of a column of (not nested) type `dtype`.
fn pg_type(dtype: &DataType) -> Result<PgType, Refusal> {
    Ok(match dtype {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => PgType::BigInt,
        DataType::Int128 => PgType::Numeric {
            precision: None,
            scale: 0,
        },
        DataType::Float16 | DataType::Float32 | DataType::Float64 => PgType::Double,
        DataType::String | DataType::Categorical(..) | DataType::Enum(..) => PgType::Text,
        DataType::Boolean => PgType::Boolean,
        DataType::Date => PgType::Date,
        DataType::Datetime(_, None) => PgType::Timestamp,
        DataType::Datetime(_, Some(_)) => PgType::TimestampTz,
        DataType::Time => PgType::Time,
        DataType::Duration(_) => PgType::Interval,
        DataType::Decimal(precision, scale) => PgType::Numeric {
            precision: Some(*precision),
            scale: *scale,
        },
        DataType::Binary => PgType::Bytea,
        DataType::Null => PgType::Null,
        other => {
            return Err(format!(
                "its type `{other}` has no PostgreSQL column type etl writes; cast it in a \
                 transform"
            ));
        }
    })
}

/// The values of one column of a batch in the physical type [`reader`] reads for `pg`
/// (nested columns already as JSON text, from `csv::nested_as_json`), checked for what
/// PostgreSQL refuses.
pub(super) fn values(name: &str, pg: &PgType, series: &Series) -> Result<Series, Refusal> {
    let refuse = |what: &str| format!("column `{name}`: {what}");
    let cast = |to: &DataType| {
        series
            .cast(to)
            .map_err(|e| refuse(&format!("cannot convert to {to}: {e}")))
    };
    let values = match (pg, series.dtype()) {
        (PgType::BigInt, DataType::UInt64) => {
            let max = series.max::<u64>().map_err(|e| refuse(&e.to_string()))?;
            if let Some(max) = max.filter(|m| i64::try_from(*m).is_err()) {
                return Err(refuse(&format!(
                    "{max} is larger than PostgreSQL's `bigint` holds (9223372036854775807); \
                     cast the column to a decimal or a string in a transform"
                )));
            }
            cast(&DataType::Int64)?
        }
        (PgType::BigInt, _) => cast(&DataType::Int64)?,
        (PgType::Double, _) => cast(&DataType::Float64)?,
        (PgType::Text, DataType::String) => series.clone(),
        (PgType::Text, _) => cast(&DataType::String)?,
        _ => series.clone(),
    };
    match pg {
        PgType::Text => {
            let text = values.str().map_err(|e| refuse(&e.to_string()))?;
            if text.iter().flatten().any(|s| s.contains('\0')) {
                return Err(refuse(
                    "a value holds a NUL character (\\0), which PostgreSQL text cannot store; \
                     remove it in a transform",
                ));
            }
        }
        // jsonb has no NUL character: serde_json writes it as `\u0000`, which jsonb refuses.
        PgType::Jsonb => {
            let text = values.str().map_err(|e| refuse(&e.to_string()))?;
            if text.iter().flatten().any(|s| s.contains("\\u0000")) {
                return Err(refuse(
                    "a value holds a NUL character (\\u0000), which PostgreSQL jsonb cannot \
                     store; remove it in a transform",
                ));
            }
        }
        _ => {}
    }
    Ok(values)
}

/// One value, in its binary `COPY` form.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Text(&'a str),
    Bool(bool),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since 2000-01-01 00:00 (UTC for `timestamptz`).
    Timestamp(i64),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds.
    Interval(i64),
    /// A decimal: the integer of its digits, and how many of them are after the point.
    Numeric(i128, u16),
    Json(&'a str),
    Bytes(&'a [u8]),
}

/// Days from 1970-01-01 (polars) to 2000-01-01 (PostgreSQL).
const PG_EPOCH_DAYS: i32 = 10_957;
/// The same in microseconds.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Reads the values of one prepared column, row after row.
pub(super) type Reader<'a> = Box<dyn Iterator<Item = Cell<'a>> + 'a>;

/// A reader of the values of column `name` of type `pg` (in the physical type [`values`]
/// gave them).
pub(super) fn reader<'a>(name: &str, pg: &PgType, s: &'a Series) -> Result<Reader<'a>, Refusal> {
    let refuse = |e: PolarsError| format!("column `{name}`: {e}");
    Ok(match pg {
        PgType::Null => Box::new(std::iter::repeat(Cell::Null)),
        PgType::BigInt => Box::new(
            s.i64()
                .map_err(refuse)?
                .iter()
                .map(|v| v.map_or(Cell::Null, Cell::Int)),
        ),
        PgType::Double => Box::new(
            s.f64()
                .map_err(refuse)?
                .iter()
                .map(|v| v.map_or(Cell::Null, Cell::Float)),
        ),
        PgType::Text => Box::new(
            s.str()
                .map_err(refuse)?
                .iter()
                .map(|v| v.map_or(Cell::Null, Cell::Text)),
        ),
        PgType::Jsonb => Box::new(
            s.str()
                .map_err(refuse)?
                .iter()
                .map(|v| v.map_or(Cell::Null, Cell::Json)),
        ),
        PgType::Boolean => Box::new(
            s.bool()
                .map_err(refuse)?
                .iter()
                .map(|v| v.map_or(Cell::Null, Cell::Bool)),
        ),
        PgType::Date => Box::new(
            s.date()
                .map_err(refuse)?
                .physical()
                .iter()
                .map(|v| v.map_or(Cell::Null, |d| Cell::Date(d - PG_EPOCH_DAYS))),
        ),
        PgType::Timestamp | PgType::TimestampTz => {
            let ts = s.datetime().map_err(refuse)?;
            let unit = ts.time_unit();
            Box::new(ts.physical().iter().map(move |v| {
                v.map_or(Cell::Null, |t| {
                    Cell::Timestamp(micros(t, unit) - PG_EPOCH_MICROS)
                })
            }))
        }
        PgType::Time => Box::new(
            s.time()
                .map_err(refuse)?
                .physical()
                .iter()
                .map(|v| v.map_or(Cell::Null, |t| Cell::Time(t / 1000))),
        ),
        PgType::Interval => {
            let d = s.duration().map_err(refuse)?;
            let unit = d.time_unit();
            Box::new(
                d.physical()
                    .iter()
                    .map(move |v| v.map_or(Cell::Null, |t| Cell::Interval(micros(t, unit)))),
            )
        }
        PgType::Numeric { scale, .. } => {
            let scale = u16::try_from(*scale).map_err(|e| format!("column `{name}`: {e}"))?;
            let physical = if s.dtype().is_decimal() {
                s.decimal().map_err(refuse)?.physical()
            } else {
                s.i128().map_err(refuse)?
            };
            Box::new(
                physical
                    .iter()
                    .map(move |v| v.map_or(Cell::Null, |n| Cell::Numeric(n, scale))),
            )
        }
        PgType::Bytea => Box::new(
            s.binary()
                .map_err(refuse)?
                .iter()
                .map(|v| v.map_or(Cell::Null, Cell::Bytes)),
        ),
    })
}

/// A time in `unit` as microseconds (nanoseconds rounded down: PostgreSQL keeps microseconds).
fn micros(value: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Nanoseconds => value.div_euclid(1000),
        TimeUnit::Microseconds => value,
        TimeUnit::Milliseconds => value.saturating_mul(1000),
    }
}

impl Cell<'_> {
    /// Appends the field to a binary `COPY` row: its length (-1 for null), then its bytes.
    pub(super) fn put(self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&0i32.to_be_bytes());
        match self {
            Cell::Null => {
                out[start..].copy_from_slice(&(-1i32).to_be_bytes());
                return;
            }
            Cell::Int(v) | Cell::Timestamp(v) | Cell::Time(v) => {
                out.extend_from_slice(&v.to_be_bytes());
            }
            Cell::Float(v) => out.extend_from_slice(&v.to_be_bytes()),
            Cell::Text(v) => out.extend_from_slice(v.as_bytes()),
            Cell::Bool(v) => out.push(u8::from(v)),
            Cell::Date(v) => out.extend_from_slice(&v.to_be_bytes()),
            Cell::Interval(v) => {
                out.extend_from_slice(&v.to_be_bytes());
                out.extend_from_slice(&[0; 8]); // days, months
            }
            Cell::Numeric(v, scale) => put_numeric(out, v, scale),
            Cell::Json(v) => {
                out.push(1); // the jsonb format's version
                out.extend_from_slice(v.as_bytes());
            }
            Cell::Bytes(v) => out.extend_from_slice(v),
        }
        // A field longer than i32::MAX bytes cannot be sent: the server's limit is 1 GB.
        let len = i32::try_from(out.len() - start - 4).unwrap_or(i32::MAX);
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// PostgreSQL's binary `numeric`: base-10000 digits around the decimal point, a weight (the
/// power of 10000 of the first digit), a sign and the display scale.
fn put_numeric(out: &mut Vec<u8>, value: i128, scale: u16) {
    let mut digits = [0i16; 24];
    let mut count = 0;
    let abs = value.unsigned_abs();
    let (int, mut frac) = match 10u128.checked_pow(u32::from(scale)) {
        Some(unit) => (abs / unit, abs % unit),
        None => (0, abs),
    };
    // Integer part, most significant digit first.
    let mut int_digits = [0i16; 12];
    let mut int_count = 0;
    let mut rest = int;
    while rest > 0 {
        int_digits[int_count] = (rest % 10_000) as i16;
        int_count += 1;
        rest /= 10_000;
    }
    for d in int_digits[..int_count].iter().rev() {
        digits[count] = *d;
        count += 1;
    }
    // Fraction: whole groups of four decimals, the last one padded with zeros on the right.
    let frac_groups = usize::from(scale).div_ceil(4);
    let mut frac_digits = [0i16; 12];
    let partial = u32::from(scale % 4);
    for i in (0..frac_groups).rev() {
        let group = if i == frac_groups - 1 && partial != 0 {
            let p = 10u128.pow(partial);
            let g = (frac % p) * 10u128.pow(4 - partial);
            frac /= p;
            g
        } else {
            let g = frac % 10_000;
            frac /= 10_000;
            g
        };
        frac_digits[i] = group as i16;
    }
    digits[count..count + frac_groups].copy_from_slice(&frac_digits[..frac_groups]);
    count += frac_groups;
    let mut weight = i16::try_from(int_count).unwrap_or(i16::MAX) - 1;
    let mut first = 0;
    while first < count && digits[first] == 0 {
        first += 1;
        weight -= 1;
    }
    let mut last = count;
    while last > first && digits[last - 1] == 0 {
        last -= 1;
    }
    let digits = &digits[first..last];
    if digits.is_empty() {
        weight = 0;
    }
    let sign: u16 = if value < 0 && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    // At most 20 digits: the count fits.
    out.extend_from_slice(
        &i16::try_from(digits.len())
            .unwrap_or(i16::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&scale.to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(value: i128, scale: u16) -> Vec<i16> {
        let mut out = Vec::new();
        put_numeric(&mut out, value, scale);
        out.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn decimals_are_base_10000_digits_around_the_point() {
        // ndigits, weight, sign, dscale, digits...
        assert_eq!(numeric(0, 2), [0, 0, 0, 2]);
        assert_eq!(numeric(123_456, 2), [2, 0, 0, 2, 1234, 5600]);
        assert_eq!(numeric(-5, 1), [1, -1, 0x4000, 1, 5000]);
        assert_eq!(numeric(1, 5), [1, -2, 0, 5, 1000]);
        assert_eq!(numeric(100_000_000, 0), [1, 2, 0, 0, 1]);
        assert_eq!(numeric(123_456_789, 4), [3, 1, 0, 4, 1, 2345, 6789]);
        let max = 10i128.pow(38) - 1;
        assert_eq!(numeric(max, 38)[..4], [10, -1, 0, 38]);
        assert_eq!(numeric(-max, 0)[..4], [10, 9, 0x4000, 0]);
    }

    #[test]
    fn narrower_numeric_columns_do_not_take_wider_values() {
        let typmod = |p: i32, s: i32| ((p << 16) | s) + 4;
        assert!(numeric_fits(Some(10), 2, -1));
        assert!(numeric_fits(Some(10), 2, typmod(12, 2)));
        assert!(numeric_fits(Some(10), 2, typmod(11, 3)));
        assert!(!numeric_fits(Some(10), 2, typmod(10, 1)));
        assert!(!numeric_fits(Some(10), 2, typmod(9, 2)));
        assert!(!numeric_fits(None, 0, typmod(38, 0)));
    }
}
