//! Tables of different shapes made alike: the type that holds values of two types, and
//! frames aligned on the union of their columns (the `union` step, merged tables).

use polars::prelude::{DataType, Expr, NULL, PlSmallStr, Schema, col, lit};

/// The type that holds values of both: the same type; Int64 for integers of any width,
/// Float64 for integers and floats, a datetime for a date and a datetime; text otherwise.
/// (Lists of different types are widened to text too, which cannot hold a list: the union
/// or merge then fails saying so.)
pub(crate) fn widen(a: &DataType, b: &DataType) -> DataType {
    match (a, b) {
        (a, b) if a == b => a.clone(),
        (DataType::Null, b) => b.clone(),
        (a, DataType::Null) => a.clone(),
        (a, b) if a.is_integer() && b.is_integer() => DataType::Int64,
        (a, b) if a.is_primitive_numeric() && b.is_primitive_numeric() => DataType::Float64,
        (DataType::Date, t @ DataType::Datetime(_, _))
        | (t @ DataType::Datetime(_, _), DataType::Date) => t.clone(),
        _ => DataType::String,
    }
}

/// Every column of `schemas`, in order of first appearance, each of a type that holds its
/// values in all of them.
pub(crate) fn widened_columns<'a>(
    schemas: impl IntoIterator<Item = &'a Schema>,
) -> Vec<(PlSmallStr, DataType)> {
    let mut columns: Vec<(PlSmallStr, DataType)> = Vec::new();
    for (name, dtype) in schemas.into_iter().flat_map(Schema::iter) {
        match columns.iter_mut().find(|(n, _)| n == name) {
            Some((_, existing)) => *existing = widen(existing, dtype),
            None => columns.push((name.clone(), dtype.clone())),
        }
    }
    columns
}

/// The selection that gives a frame of `schema` exactly `columns`: each cast to its type, a
/// column it does not have as nulls.
pub(crate) fn aligned(schema: &Schema, columns: &[(PlSmallStr, DataType)]) -> Vec<Expr> {
    columns
        .iter()
        .map(|(name, dtype)| {
            if schema.contains(name) {
                col(name.clone()).cast(dtype.clone())
            } else {
                lit(NULL).cast(dtype.clone()).alias(name.clone())
            }
        })
        .collect()
}
