//! `etl init NAME`: a commented pipeline to start from.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::CliError;

/// The pipeline `etl init` writes.
const TEMPLATE: &str = include_str!("init.yaml");

pub(super) fn init(name: &str) -> Result<ExitCode, CliError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(CliError::Usage(format!(
            "`{name}` is not a usable name; use letters, digits, `_` and `-`"
        )));
    }
    let path = PathBuf::from(format!("{name}.yaml"));
    let text = TEMPLATE.replace("NAME", name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path);
    match file.and_then(|mut f| f.write_all(text.as_bytes())) {
        Ok(()) => {
            println!(
                "wrote {}: a commented pipeline to start from.\nNext: edit it, then `etl validate {}` and `etl plan {}`.",
                path.display(),
                path.display(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(CliError::Usage(format!(
            "{} exists; it was left as it is",
            path.display()
        ))),
        Err(e) => Err(CliError::Failed(format!(
            "cannot write {}: {e}",
            path.display()
        ))),
    }
}
