//! Where a file sink writes: a local path or an object of S3-compatible storage. As written,
//! a [`LocationTemplate`] (`reports/{pipeline}_{timestamp}.csv`,
//! `s3://bucket/reports/{pipeline}_{timestamp}.csv`); for one run, a [`Location`].

use std::fmt;
use std::path::{Path, PathBuf};

use etl_config::ConfigError;

use crate::error::{Error, problem};
use crate::object::{ObjectTemplate, ObjectUrl, S3Options};
use crate::path::{PathTemplate, RenderVars};

/// Where a file sink writes, checked: a local path template or an `s3://` object template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationTemplate {
    Local(PathTemplate),
    Object(ObjectTemplate),
}

/// Where one run's file goes: a local path, or an object (shown as its `s3://` URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    Object(ObjectUrl),
}

impl LocationTemplate {
    /// `s3://BUCKET/KEY` is an object reached with `s3` (each setting left out is taken from
    /// the `AWS_*` variables when used); another URL is refused; anything else is a local
    /// path, checked by [`PathTemplate::parse`]. The error has no key.
    pub fn parse(template: &str, allow_outside: bool, s3: &S3Options) -> Result<Self, ConfigError> {
        match template.split_once("://") {
            Some(("s3", _)) => ObjectTemplate::parse(template, s3).map(Self::Object),
            Some((scheme, _)) => Err(problem(format!(
                "`{template}`: `{scheme}://` is not a storage etl writes to"
            ))
            .with_hint("use a local path, or `s3://BUCKET/KEY` for S3 and S3-compatible storage")),
            None => PathTemplate::parse(template, allow_outside).map(Self::Local),
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Local(t) => t.as_str(),
            Self::Object(t) => t.as_str(),
        }
    }

    /// Whether it names an object rather than a local file.
    pub fn is_object(&self) -> bool {
        matches!(self, Self::Object(_))
    }

    /// The location for one run.
    pub fn render(&self, vars: &RenderVars<'_>) -> Location {
        match self {
            Self::Local(t) => Location::Local(t.render(vars)),
            Self::Object(t) => Location::Object(t.render(vars)),
        }
    }

    pub(crate) fn varies_in_file_name_only(&self) -> bool {
        match self {
            Self::Local(t) => t.varies_in_file_name_only(),
            Self::Object(t) => t.varies_in_file_name_only(),
        }
    }

    /// `keep_last`: removes the files (or objects) of this sink beside `written` but the
    /// newest `keep`; `written` itself is always kept. Returns what it removed. The sink is
    /// `vars.sink`. See [`PathTemplate::prune`] for which files are this sink's.
    pub fn prune(
        &self,
        written: &Location,
        vars: &RenderVars<'_>,
        keep: usize,
    ) -> Result<Vec<Location>, Error> {
        match (self, written) {
            (Self::Local(t), Location::Local(path)) => t
                .prune(path, vars, keep)
                .map(|removed| removed.into_iter().map(Location::Local).collect())
                .map_err(|source| Error::Io {
                    sink: vars.sink.to_owned(),
                    action: "remove older files beside",
                    path: path.clone(),
                    source,
                }),
            (Self::Object(t), Location::Object(url)) => t.prune(url, vars, keep),
            _ => Err(Error::data(
                vars.sink,
                format!("`{written}` is not where `{}` writes", self.as_str()),
            )),
        }
    }
}

impl Location {
    /// The local path, if it is one.
    pub fn as_local(&self) -> Option<&Path> {
        match self {
            Self::Local(path) => Some(path),
            Self::Object(_) => None,
        }
    }

    /// The object, if it is one.
    pub fn as_object(&self) -> Option<&ObjectUrl> {
        match self {
            Self::Local(_) => None,
            Self::Object(url) => Some(url),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(path) => write!(f, "{}", path.display()),
            Self::Object(url) => write!(f, "{url}"),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Self::Local(path)
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Self {
        Self::Local(path.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LocationTemplate, String> {
        LocationTemplate::parse(text, false, &S3Options::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_path_or_an_s3_url() {
        let vars = RenderVars {
            pipeline: "engagement",
            sink: "report",
            date: "2026-11-26",
            timestamp: "20261126_020000",
            run_id: "r1",
        };
        let local = parse("reports/{pipeline}.csv").unwrap();
        assert!(!local.is_object());
        assert_eq!(
            local.render(&vars),
            Location::Local(PathBuf::from("reports/engagement.csv"))
        );
        let object = parse("s3://etl-test/reports/{pipeline}.csv").unwrap();
        assert!(object.is_object());
        assert_eq!(
            object.render(&vars).to_string(),
            "s3://etl-test/reports/engagement.csv"
        );
        assert!(object.render(&vars).as_local().is_none());
        // `allow_outside` does not apply to a bucket.
        assert!(
            LocationTemplate::parse("s3://etl-test/x.csv", true, &S3Options::default()).is_ok()
        );
    }

    #[test]
    fn other_urls_are_refused() {
        assert!(
            parse("gs://bucket/x.csv")
                .unwrap_err()
                .contains("`gs://` is not a storage etl writes to")
        );
        let err = PathTemplate::parse("s3://bucket/x.sqlite", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a `s3://` URL, not a file path"), "{err}");
    }
}
