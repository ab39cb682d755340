use std::path::PathBuf;

/// Everything that can go wrong while running a source. (Problems of configuration are
/// [`etl_config::ConfigError`]s, returned by [`crate::build`].)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a status that retrying cannot fix.
    #[error("source `{source_name}`: {method} {url} answered {status}{excerpt}; {hint}")]
    Status {
        source_name: String,
        method: &'static str,
        url: String,
        status: u16,
        /// `: <body excerpt>` or empty.
        excerpt: String,
        hint: &'static str,
    },

    /// Transient failures went on past the retry policy's bounds.
    #[error(
        "source `{source_name}`: {method} {url} failed after {attempts} attempts (`{bound}` \
         reached): {last}"
    )]
    RetriesExhausted {
        source_name: String,
        method: &'static str,
        url: String,
        attempts: u32,
        last: String,
        /// The bound that ended the retries, e.g. `retry.max_attempts`.
        bound: String,
    },

    /// The server asked for a longer wait than `max_wait` allows.
    #[error(
        "source `{source_name}`: {url} asked to wait {wait_secs}s before retrying, more than \
         `max_wait` ({max_wait_secs}s); raise `max_wait` or run later"
    )]
    WaitTooLong {
        source_name: String,
        url: String,
        wait_secs: u64,
        max_wait_secs: u64,
    },

    /// The HTTP client could not be set up (TLS roots, proxy settings).
    #[error("cannot set up the HTTP client: {message}")]
    Client { message: String },

    /// A request could not be sent at all (bad URL, TLS setup).
    #[error("source `{source_name}`: {method} {url}: {message}")]
    Request {
        source_name: String,
        method: &'static str,
        url: String,
        message: String,
    },

    /// The response holds no records where the pipeline says they are.
    #[error("source `{source_name}`: {url}: {message}")]
    Records {
        source_name: String,
        url: String,
        message: String,
    },

    /// Paging went around in a circle, or the API ignored the paging parameters.
    #[error("source `{source_name}`: {message}")]
    Loop {
        source_name: String,
        message: String,
    },

    /// A next link leads where the source may not follow.
    #[error("source `{source_name}`: {message}")]
    ForeignLink {
        source_name: String,
        message: String,
    },

    /// A parent record cannot drive a child request.
    #[error("source `{source_name}`: {message}")]
    Parent {
        source_name: String,
        message: String,
    },

    /// A `for_each` source was run before its parent source.
    #[error("source `{source_name}`: its `for_each` parent `{parent}` has not run before it")]
    ParentNotRun { source_name: String, parent: String },

    /// Two fields flatten to the same column name.
    #[error(
        "source `{source_name}`: fields `{field}` and `{other}` both flatten to column \
         `{column}`; set `flatten: {{ separator: ... }}` to another separator or \
         `flatten: false`"
    )]
    FlattenCollision {
        source_name: String,
        field: String,
        other: String,
        column: String,
    },

    /// The source returned no record and `allow_empty` is not set.
    #[error(
        "source `{source_name}` returned no records from {url}; if that can be right, set \
         `allow_empty: true` on the source"
    )]
    Empty { source_name: String, url: String },

    /// Writing the staged records failed.
    #[error("source `{source_name}`: cannot write staged records to `{}`: {source}", path.display())]
    Stage {
        source_name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The source returned no record and `allow_empty` is not set: for records counted
    /// elsewhere (the shards of a sharded run, put together).
    #[must_use]
    pub fn empty(source: &crate::SourceConfig) -> Self {
        Self::Empty {
            source_name: source.name.clone(),
            url: crate::redact::display_url(&source.url, &source.params),
        }
    }
}
