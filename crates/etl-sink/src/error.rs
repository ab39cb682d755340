use std::path::PathBuf;

/// Everything that can go wrong in a sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sink's configuration is wrong; found before anything runs.
    #[error("`{key}`: {message}")]
    Config { key: String, message: String },

    /// The target exists and `if_exists` is `fail`.
    #[error(
        "sink `{sink}`: `{}` already exists; set `if_exists: overwrite` or put `{{timestamp}}` \
         in `path`",
        path.display()
    )]
    Exists { sink: String, path: PathBuf },

    /// The data cannot be written in this format.
    #[error("sink `{sink}`: {message}")]
    Data { sink: String, message: String },

    /// Creating, writing, syncing or renaming the file failed.
    #[error("sink `{sink}`: cannot {action} `{}`: {source}", path.display())]
    Io {
        sink: String,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is in place, but its `latest` copy could not replace the previous copy.
    #[error(
        "sink `{sink}`: wrote `{}`, but cannot replace `{}` with a copy of it: {source}",
        path.display(),
        latest.display()
    )]
    Latest {
        sink: String,
        path: PathBuf,
        latest: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
