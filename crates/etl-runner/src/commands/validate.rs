//! `etl validate FILE...`: every file checked without the network, every error reported.

use std::path::PathBuf;
use std::process::ExitCode;

use super::shape;
use crate::context::Context;
use crate::error::CliError;

pub(super) fn validate(ctx: &Context, files: &[PathBuf]) -> Result<ExitCode, CliError> {
    let mut invalid = Vec::new();
    for file in files {
        match ctx.load_pipeline(file) {
            Ok(p) => {
                for t in p.unused_transforms() {
                    eprintln!(
                        "warning: {}: transform `{t}` feeds no sink; it is not computed",
                        file.display()
                    );
                }
                println!("{}: ok ({})", file.display(), shape(&p));
            }
            Err(d) => invalid.push(d),
        }
    }
    if invalid.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError::Invalid(invalid))
    }
}
