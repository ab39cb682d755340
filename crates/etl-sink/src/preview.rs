use polars::prelude::*;

use crate::Error;
use crate::spec::PreviewSpec;

/// The rows `preview` asks for: sorted if it says so, then the first `rows`.
pub fn preview(df: &DataFrame, spec: &PreviewSpec, sink: &str) -> Result<DataFrame, Error> {
    let sorted = match &spec.sort_by {
        Some(column) => {
            if df.column(column).is_err() {
                let names: Vec<String> = df
                    .get_column_names()
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect();
                return Err(Error::Config {
                    key: format!("sinks.{sink}.preview.sort_by"),
                    message: format!(
                        "`{column}` is not a column of the output; it has {}",
                        names.join(", ")
                    ),
                });
            }
            // A stable sort: ties keep the file's order.
            df.sort(
                [column.as_str()],
                SortMultipleOptions::default()
                    .with_order_descending(spec.descending)
                    .with_maintain_order(true),
            )
            .map_err(|e| Error::Data {
                sink: sink.to_owned(),
                message: e.to_string(),
            })?
        }
        None => df.clone(),
    };
    Ok(sorted.head(Some(spec.rows)))
}
