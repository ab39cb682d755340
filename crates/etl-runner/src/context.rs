//! What every command gets from the global options: how to load pipelines (`--env-file`,
//! `--set`), how to log (`-v`, `--log-format`), whether to print (`--quiet`), and where the
//! working data is (`.etl`).

use std::path::{Path, PathBuf};

use crate::cli::{Cli, LogFormat};
use crate::error::CliError;
use crate::pipeline::{Diagnostics, Pipeline};

/// Working data of pipelines (locks, manifests, state), in the working directory.
pub(crate) const WORK_DIR: &str = ".etl";

/// The global options of one `etl` invocation, passed to every command.
#[derive(Debug, Clone)]
pub struct Context {
    /// `--quiet`: nothing on stdout but data.
    pub quiet: bool,
    pub log_format: LogFormat,
    /// `-v` count.
    pub verbose: u8,
    /// `--set` overrides, in order.
    pub set: Vec<String>,
    /// `--env-file`, and the variables read from it.
    pub env_file: Option<PathBuf>,
    pub env_vars: Vec<(String, String)>,
    /// Working data (`.etl`).
    pub work_dir: PathBuf,
}

impl Context {
    /// The context of `cli`; reads `--env-file`.
    pub fn new(cli: &Cli) -> Result<Self, CliError> {
        let env_vars = match &cli.env_file {
            Some(path) => read_env_file(path)?,
            None => Vec::new(),
        };
        Ok(Self {
            quiet: cli.quiet,
            log_format: cli.log_format,
            verbose: cli.verbose,
            set: cli.set.clone(),
            env_file: cli.env_file.clone(),
            env_vars,
            work_dir: PathBuf::from(WORK_DIR),
        })
    }

    /// Loads a pipeline with the environment (then `--env-file`) and `--set` overrides.
    pub fn load_pipeline(&self, file: &Path) -> Result<Pipeline, Diagnostics> {
        let env = |name: &str| {
            std::env::var(name).ok().or_else(|| {
                self.env_vars
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        Pipeline::load(file, &env, &self.set)
    }

    /// The options `etl schedule` passes on to each `etl run`.
    pub fn load_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(f) = &self.env_file {
            args.push("--env-file".to_owned());
            args.push(f.display().to_string());
        }
        for s in &self.set {
            args.push("--set".to_owned());
            args.push(s.clone());
        }
        args
    }
}

/// `KEY=VALUE` lines; `#` comments, blank lines, `export ` and quotes around values allowed.
fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Usage(format!(
            "--env-file {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    let mut vars = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("--env-file {}:{}", path.display(), i + 1);
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(CliError::Usage(format!(
                "{}: write KEY=VALUE (the line has no `=`)",
                at()
            )));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(CliError::Usage(format!(
                "{}: `{k}` is not a variable name",
                at()
            )));
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
            .unwrap_or(v);
        vars.push((k.to_owned(), v.to_owned()));
    }
    Ok(vars)
}
