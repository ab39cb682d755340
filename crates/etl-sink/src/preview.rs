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
}
