//! `preview:`: the rows of an output printed after the run.

use polars::prelude::*;

use crate::error::Error;
use crate::spec::PreviewSpec;

/// The rows `preview` asks for: sorted if it says so, then the first `rows`.
pub fn preview(df: &DataFrame, spec: &PreviewSpec, sink: &str) -> Result<DataFrame, Error> {
    let sorted = match &spec.sort_by {
        Some(column) => {
            if df.column(column).is_err() {
                return Err(Error::PreviewColumn {
                    sink: sink.to_owned(),
                    column: column.clone(),
                    columns: df
                        .get_column_names()
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                });
            }
            // A stable sort: ties keep the file's order.
            df.sort(
                [column.as_str()],
                SortMultipleOptions::default()
                    .with_order_descending(spec.descending)
                    .with_maintain_order(true),
            )
            .map_err(|e| Error::data(sink, e))?
        }
        None => df.clone(),
    };
    Ok(sorted.head(Some(spec.rows)))
}

/// The rows `preview` asks for, kept while an output goes by in batches: the same rows as
/// [`preview`] of the whole output, holding no more than `rows` of them between batches.
#[derive(Debug)]
pub struct PreviewRows {
    spec: PreviewSpec,
    sink: String,
    rows: DataFrame,
}

impl PreviewRows {
    /// Nothing seen yet; `schema` is the output's.
    pub fn new(schema: &Schema, spec: &PreviewSpec, sink: &str) -> Self {
        Self {
            spec: spec.clone(),
            sink: sink.to_owned(),
            rows: DataFrame::empty_with_schema(schema),
        }
    }

    /// Takes in the next batch of the output.
    pub fn add(&mut self, batch: &DataFrame) -> Result<(), Error> {
        if self.spec.sort_by.is_none() && self.rows.height() >= self.spec.rows {
            return Ok(());
        }
        // Rows kept so far came first in the output: stacked before the batch, a stable sort
        // keeps them first among ties.
        let mut both = self.rows.clone();
        both.vstack_mut(&preview(batch, &self.spec, &self.sink)?)
            .map_err(|e| Error::data(&self.sink, e))?;
        self.rows = preview(&both, &self.spec, &self.sink)?;
        Ok(())
    }

    /// The rows to show.
    pub fn finish(self) -> DataFrame {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sort_by: Option<&str>) -> PreviewSpec {
        PreviewSpec {
            sort_by: sort_by.map(str::to_owned),
            descending: true,
            rows: 2,
        }
    }

    #[test]
    fn sorts_then_cuts_or_names_the_columns() {
        let df = df!("id" => [1i64, 3, 2], "name" => ["a", "c", "b"]).unwrap();
        let rows = preview(&df, &spec(Some("id")), "report").unwrap();
        assert_eq!(
            rows.column("name").unwrap().str().unwrap().get(1),
            Some("b")
        );
        assert_eq!(rows.height(), 2);
        assert_eq!(preview(&df, &spec(None), "report").unwrap().height(), 2);
        let err = preview(&df, &spec(Some("nmae")), "report").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sinks.report.preview.sort_by`: `nmae` is not a column of the output; it has `id`, \
             `name`"
        );
    }

    #[test]
    fn batches_give_the_rows_of_the_whole_output() {
        let whole = df!(
            "id" => [5i64, 1, 9, 9, 3, 7, 9, 2],
            "at" => [0i64, 1, 2, 3, 4, 5, 6, 7]
        )
        .unwrap();
        for sort_by in [Some("id"), None] {
            let spec = PreviewSpec {
                rows: 3,
                ..spec(sort_by)
            };
            let mut rows = PreviewRows::new(whole.schema(), &spec, "report");
            for offset in (0..8).step_by(3) {
                rows.add(&whole.slice(offset, 3)).unwrap();
            }
            let expected = preview(&whole, &spec, "report").unwrap();
            assert!(rows.finish().equals(&expected), "sort_by {sort_by:?}");
        }
        let empty = PreviewRows::new(whole.schema(), &spec(Some("id")), "report").finish();
        assert_eq!((empty.height(), empty.width()), (0, 2));
    }
}
