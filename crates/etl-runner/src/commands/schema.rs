//! `etl schema`: the JSON Schema of the pipeline format, on stdout or in a file (written
//! whole or not at all).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::context::Context;
use crate::error::CliError;

pub(super) fn schema(ctx: &Context, output: Option<&Path>) -> Result<ExitCode, CliError> {
    let mut text = serde_json::to_string_pretty(&crate::pipeline::json_schema())
        .expect("a JSON value always serialises");
    text.push('\n');
    let Some(path) = output else {
        let _ = std::io::stdout().write_all(text.as_bytes());
        return Ok(ExitCode::SUCCESS);
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tempfile::NamedTempFile::new_in(dir)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.persist(path).map_err(|e| e.error)?;
            Ok(())
        })
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot write {}: {e}; check that its folder exists and is writable",
                path.display()
            ))
        })?;
    if !ctx.quiet {
        println!("{}: the JSON Schema of the pipeline format", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
