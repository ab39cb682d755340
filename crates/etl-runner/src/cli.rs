//! The `etl` command line as clap reads it: arguments only, no behaviour (`commands/` runs
//! them).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::progress::ProgressMode;

/// Declarative ETL: fetch REST APIs, transform with polars, write CSV or Parquet reports.
#[derive(Debug, Parser)]
#[command(name = "etl", version, propagate_version = true)]
#[command(
    after_help = "Examples:\n  etl validate pipelines/engagement.yaml\n  etl run pipelines/engagement.yaml\n  RUST_LOG=debug etl --log-format json run pipelines/engagement.yaml"
)]
pub struct Cli {
    /// Log format on stderr; the level comes from `RUST_LOG` (default `warn`).
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log lines on stderr: `-v` info (each source, each file written), `-vv` debug
    /// (each page). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print nothing but errors (no summary).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Override a key of the pipeline: `--set http.base_url=http://127.0.0.1:8080` (the
    /// value is read as YAML; repeatable; applied after `${VAR}`).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE", global = true)]
    pub set: Vec<String>,

    /// Read environment variables for `${VAR}` from this file (`KEY=VALUE` lines, `#`
    /// comments); variables already set in the environment win.
    #[arg(long, value_name = "FILE", global = true)]
    pub env_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline: fetch every source, run the transforms, write every sink.
    #[command(
        after_help = "Example:\n  API_BASE_URL=http://127.0.0.1:8080 etl run pipelines/engagement.yaml\n\nAs 4 shards, then the finish (docs/scale-out.md):\n  etl run FILE --shard 0/4 --run-id 20261205 --stage s3://bucket/etl   (... 3/4)\n  etl run FILE --finish --run-id 20261205 --stage s3://bucket/etl\n\nExit codes: 0 ok, 1 the run failed, 2 usage or config error, 75 already running,\n130/143 interrupted by SIGINT/SIGTERM."
    )]
    Run {
        /// The pipeline file. Paths inside it are relative to the working directory.
        file: PathBuf,
        #[command(flatten)]
        window: WindowArgs,
        #[command(flatten)]
        shard: ShardArgs,
        /// A live line per source on stderr (pages, records, rate, waits and why): `auto` on
        /// a terminal only (not with `--quiet` or JSON logs), `always` also into a pipe or a
        /// file (with terminal control codes), `never` plain log lines only.
        #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
        progress: ProgressMode,
    },
    /// Run pipelines on their `schedule`, in one long-lived process, until SIGTERM.
    #[command(
        after_help = "Example:\n  etl schedule pipelines/daily_sales.yaml pipelines/engagement.yaml\n\nEach run is `etl run FILE` in a child process (own lock, manifest and exit code);\na pipeline never overlaps itself: a tick during its previous run is skipped.\nSIGTERM or SIGINT: no new runs, running ones are stopped cleanly, exit 0."
    )]
    Schedule {
        /// Pipeline files, each with a `schedule`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show, reset or publish the incremental state of a pipeline (`.etl/state/`, `.etl/data/`).
    #[command(
        after_help = "Examples:\n  etl state show pipelines/daily_sales.yaml\n  etl state reset pipelines/daily_sales.yaml --source orders\n  etl state publish pipelines/daily_sales.yaml --stage s3://my-bucket/etl-stage"
    )]
    State {
        #[command(subcommand)]
        action: StateAction,
    },
    /// List the recent runs of a pipeline, from its manifests under `.etl/runs/`.
    #[command(after_help = "Example:\n  etl runs pipelines/engagement.yaml")]
    Runs {
        /// The pipeline file.
        file: PathBuf,
        /// How many runs to show, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show what a run would do: the sources and the first request of each (secrets masked),
    /// the transforms and what they read, the sinks. Makes no request.
    #[command(after_help = "Example:\n  etl plan pipelines/engagement.yaml")]
    Plan {
        /// The pipeline file.
        file: PathBuf,
    },
    /// Write a commented pipeline to start from (`NAME.yaml`).
    #[command(after_help = "Example:\n  etl init orders\n  etl validate orders.yaml")]
    Init {
        /// The pipeline's name; the file is `NAME.yaml` in the working directory.
        name: String,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  etl completions bash > ~/.local/share/bash-completion/completions/etl\n  etl completions zsh > \"${fpath[1]}/_etl\""
    )]
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Print the JSON Schema of the pipeline format (for editor autocompletion and checks).
    #[command(
        after_help = "Examples:\n  etl schema > etl.schema.json\n  etl schema --output .vscode/etl.schema.json\n\nVS Code (the Red Hat YAML extension), in .vscode/settings.json:\n  \"yaml.schemas\": { \".vscode/etl.schema.json\": [\"pipelines/*.yaml\"] }"
    )]
    Schema {
        /// Write the schema to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check pipeline files without touching the network; report every error at once.
    #[command(after_help = "Example:\n  etl validate pipelines/*.yaml")]
    Validate {
        /// Pipeline files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `etl run` options: a backfill window and a subset of sources.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WindowArgs {
    /// Start every incremental source here instead of at its stored cursor (a date-time,
    /// a date or an integer). The state is not saved unless `--save-state`.
    #[arg(long, value_name = "CURSOR")]
    pub since: Option<String>,
    /// Leave out records whose cursor is after this (sent as `until_param` if declared).
    #[arg(long, value_name = "CURSOR")]
    pub until: Option<String>,
    /// Save the state after a `--since`/`--until` run too.
    #[arg(long)]
    pub save_state: bool,
    /// Run only these sources (comma-separated), and the transforms and sinks that need
    /// nothing else.
    #[arg(long, value_name = "SOURCE,...", value_delimiter = ',')]
    pub only: Vec<String>,
}

/// `etl run` as one of N processes fetching together, or as the finish that puts their work
/// together (docs/scale-out.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ShardArgs {
    /// Fetch only shard K of N (K from 0): the parents of each `for_each` whose key hashes to
    /// K, and (shard 0) the sources without `for_each`; stage them under `--stage` and stop
    /// before transforms. Needs `--run-id` and `--stage`.
    #[arg(long, value_name = "K/N", conflicts_with = "finish")]
    pub shard: Option<String>,
    /// Put the shards of `--run-id` together: check every shard's manifest (or `--wait` for
    /// them), read their parts, then run transforms, checks and sinks and save the state.
    #[arg(long)]
    pub finish: bool,
    /// The run the shards and the finish share (letters, digits, `.`, `_`, `-`).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Where the shards stage their parts: `s3://BUCKET/PREFIX` (reached with the `AWS_*`
    /// variables) or a local folder (shards on one machine).
    #[arg(long, value_name = "URL")]
    pub stage: Option<String>,
    /// How long to wait for other shards: a shard for the records shard 0 fetches for it
    /// (default 1h), `--finish` for every shard's manifest (default: check once). E.g. `30m`.
    #[arg(long, value_name = "DURATION")]
    pub wait: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Print the stored cursors and merged tables.
    Show {
        /// The pipeline file.
        file: PathBuf,
        /// Also the copy published on this stage for the shards of sharded runs.
        #[arg(long, value_name = "URL")]
        stage: Option<String>,
    },
    /// Forget the cursors (and merged tables): the next run starts from `initial`.
    Reset {
        /// The pipeline file.
        file: PathBuf,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Sharded runs: make the copy published on this stage the same (the shards start
        /// from it).
        #[arg(long, value_name = "URL")]
        stage: Option<String>,
    },
    /// Sharded runs: publish this state on the stage, for the shards to start from.
    ///
    /// The finish does it after each run; this is for the first sharded run after unsharded
    /// ones, or a state moved to another machine.
    Publish {
        /// The pipeline file.
        file: PathBuf,
        /// The stage of the sharded runs (`s3://bucket/prefix` or a folder).
        #[arg(long, value_name = "URL")]
        stage: String,
    },
}
