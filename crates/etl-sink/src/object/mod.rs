//! File sinks on S3 and S3-compatible object storage: `path: s3://BUCKET/KEY-TEMPLATE`.
//!
//! An [`ObjectTemplate`] (checked offline, with its [`S3Options`]) renders to an
//! [`ObjectUrl`] for one run. The file is written to a local temporary file as for a local
//! sink, then sent as a multipart upload whose parts are all uploaded before the run commits
//! (`upload.rs`); completing it makes the object appear, whole. [`check_object_store`] is the
//! check before a run fetches anything: the bucket exists and takes uploads.
//! `keep_last` lists the key's prefix and deletes the oldest objects whose names this sink
//! writes. Requests run on a runtime of this crate (`runtime.rs`).

mod options;
mod runtime;
mod upload;

use std::fmt;
use std::sync::Arc;

use etl_config::ConfigError;
use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::config::SinkConfig;
use crate::error::{Error, problem};
use crate::location::Location;
use crate::path::{PathTemplate, RenderVars};
use crate::spec::IfExists;

pub use options::S3Options;
pub(crate) use upload::Upload;

/// `s3://BUCKET/KEY`, the key a template with the placeholders of [`PathTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectTemplate {
    template: String,
    bucket: String,
    key: PathTemplate,
    options: Arc<S3Options>,
}

impl ObjectTemplate {
    /// Checks `s3://BUCKET/KEY` (placeholders in the key only). The error has no key.
    pub(crate) fn parse(template: &str, options: &S3Options) -> Result<Self, ConfigError> {
        let rest = template.strip_prefix("s3://").unwrap_or(template);
        let Some((bucket, key)) = rest.split_once('/') else {
            return Err(
                problem(format!("`{template}` names a bucket but no object")).with_hint(format!(
                    "e.g. `s3://{rest}/reports/{{pipeline}}_{{timestamp}}.parquet`"
                )),
            );
        };
        if bucket.contains('{') {
            return Err(
                problem(format!("the bucket `{bucket}` cannot hold placeholders")).with_hint(
                    "put them in the key: `s3://BUCKET/{pipeline}/{sink}_{timestamp}.csv`",
                ),
            );
        }
        bucket_name(bucket)?;
        if key.is_empty() || key.ends_with('/') {
            return Err(
                problem(format!("`{template}` is a prefix, not an object")).with_hint(format!(
                    "name the object, e.g. `{template}{{pipeline}}_{{timestamp}}.csv`"
                )),
            );
        }
        if key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(problem(format!(
                "`{template}`: a part of the key between `/` is empty, `.` or `..`"
            ))
            .with_hint(
                "object keys are not file paths; write the key plainly, e.g. `reports/x.csv`",
            ));
        }
        let key = PathTemplate::parse(key, true)?;
        Ok(Self {
            template: template.to_owned(),
            bucket: bucket.to_owned(),
            key,
            options: Arc::new(options.clone()),
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.template
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// How the bucket is reached.
    pub fn options(&self) -> &S3Options {
        &self.options
    }

    /// The object for one run.
    pub fn render(&self, vars: &RenderVars<'_>) -> ObjectUrl {
        ObjectUrl {
            bucket: self.bucket.clone(),
            key: self.key.render(vars).to_string_lossy().into_owned(),
            options: Arc::clone(&self.options),
        }
    }

    pub(crate) fn varies_in_file_name_only(&self) -> bool {
        self.key.varies_in_file_name_only()
    }

    /// Deletes the objects of this sink beside `written` (same prefix, a name this template
    /// writes, not starting with `.`) but the newest `keep`, by last-modified time then key.
    /// The object just written is always kept. Returns what it deleted.
    pub(crate) fn prune(
        &self,
        written: &ObjectUrl,
        vars: &RenderVars<'_>,
        keep: usize,
    ) -> Result<Vec<Location>, Error> {
        let client = Client::new(vars.sink, written)?;
        let folder = written.folder().map(Key::from);
        let store = Arc::clone(&client.store);
        let listed = runtime::run(async move { store.list_with_delimiter(folder.as_ref()).await })
            .map_err(|message| client.failed("list", written.prefix_url(), &message))?
            .map_err(|e| client.error("list", written.prefix_url(), &e))?;
        let mut older: Vec<_> = listed
            .objects
            .into_iter()
            .filter(|o| {
                o.location.filename().is_some_and(|name| {
                    !name.starts_with('.')
                        && name != written.file_name()
                        && self.key.matches(name, vars)
                })
            })
            .map(|o| (o.last_modified, o.location))
            .collect();
        older.sort();
        let remove = older.len().saturating_sub(keep.saturating_sub(1));
        let mut removed = Vec::new();
        for (_, key) in older.into_iter().take(remove) {
            let url = ObjectUrl {
                key: key.to_string(),
                ..written.clone()
            };
            let store = Arc::clone(&client.store);
            runtime::run(async move { store.delete(&key).await })
                .map_err(|message| client.failed("delete", url.to_string(), &message))?
                .map_err(|e| client.error("delete", url.to_string(), &e))?;
            removed.push(Location::Object(url));
        }
        Ok(removed)
    }
}

/// A bucket name S3 accepts: 3 to 63 lowercase letters, digits, `.` and `-`, starting and
/// ending with a letter or digit.
fn bucket_name(bucket: &str) -> Result<(), ConfigError> {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge(bucket.chars().next())
        && edge(bucket.chars().last());
    if ok {
        Ok(())
    } else {
        Err(
            problem(format!("`{bucket}` is not a bucket name")).with_hint(
                "3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter \
             or digit",
            ),
        )
    }
}

/// One object: `s3://BUCKET/KEY`, and how its bucket is reached. Shown as its URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    bucket: String,
    key: String,
    options: Arc<S3Options>,
}

impl ObjectUrl {
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key's last part.
    pub fn file_name(&self) -> &str {
        self.key
            .rsplit_once('/')
            .map_or(&self.key, |(_, name)| name)
    }

    /// The key's prefix up to its last `/`, if it has one.
    pub(crate) fn folder(&self) -> Option<&str> {
        self.key.rsplit_once('/').map(|(folder, _)| folder)
    }

    /// `s3://BUCKET/PREFIX/`, for messages about the prefix.
    fn prefix_url(&self) -> String {
        match self.folder() {
            Some(folder) => format!("s3://{}/{folder}/", self.bucket),
            None => format!("s3://{}/", self.bucket),
        }
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl fmt::Debug for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ObjectUrl").field(&self.to_string()).finish()
    }
}

/// A client for one object of a sink: requests, and errors that name the sink, the object
/// and the server but never a credential.
pub(crate) struct Client {
    sink: String,
    url: ObjectUrl,
    store: Arc<dyn ObjectStore>,
    /// `endpoint `...`` or `AWS, region `...``, for messages.
    server: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("sink", &self.sink)
            .field("url", &self.url)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(sink: &str, url: &ObjectUrl) -> Result<Self, Error> {
        let (store, server) =
            url.options
                .store(&url.bucket)
                .map_err(|message| Error::ObjectStore {
                    sink: sink.to_owned(),
                    action: "reach",
                    url: url.to_string(),
                    message,
                })?;
        Ok(Self {
            sink: sink.to_owned(),
            url: url.clone(),
            store,
            server,
        })
    }

    pub(crate) fn url(&self) -> &ObjectUrl {
        &self.url
    }

    pub(crate) fn sink(&self) -> &str {
        &self.sink
    }

    pub(crate) fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// The object's key for the store.
    pub(crate) fn key(&self) -> Key {
        Key::from(self.url.key.as_str())
    }

    /// Whether the object exists (a HEAD request).
    pub(crate) fn exists(&self) -> Result<bool, Error> {
        let (store, key) = (self.store(), self.key());
        match runtime::run(async move { store.head(&key).await })
            .map_err(|message| self.failed("look up", self.url.to_string(), &message))?
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error("look up", self.url.to_string(), &e)),
        }
    }

    /// [`Error::ObjectExists`] if the object exists.
    pub(crate) fn refuse_existing(&self) -> Result<(), Error> {
        if self.exists()? {
            return Err(Error::ObjectExists {
                sink: self.sink.clone(),
                url: self.url.to_string(),
            });
        }
        Ok(())
    }

    /// The bucket exists and lists with these credentials: the first page of the prefix.
    fn check_bucket(&self) -> Result<(), Error> {
        let store = self.store();
        let folder = self.url.folder().map(Key::from);
        let first = runtime::run(async move { store.list(folder.as_ref()).next().await })
            .map_err(|message| self.failed("list", self.url.prefix_url(), &message))?;
        match first {
            None | Some(Ok(_)) => Ok(()),
            // Listing a bucket finds nothing only when the bucket is missing.
            Some(Err(object_store::Error::NotFound { .. })) => {
                Err(self.failed("list", self.url.prefix_url(), &self.no_bucket()))
            }
            Some(Err(e)) => Err(self.error("list", self.url.prefix_url(), &e)),
        }
    }

    /// Uploads are allowed under the prefix: starts a multipart upload of a probe object
    /// and aborts it, so nothing remains.
    fn check_writable(&self, run_id: &str) -> Result<(), Error> {
        let id: String = run_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        let probe = ObjectUrl {
            key: match self.url.folder() {
                Some(folder) => format!("{folder}/.etl-check-{id}"),
                None => format!(".etl-check-{id}"),
            },
            ..self.url.clone()
        };
        let (store, key) = (self.store(), Key::from(probe.key.as_str()));
        runtime::run(async move {
            let mut upload = store.put_multipart(&key).await?;
            upload.abort().await
        })
        .map_err(|message| self.failed("upload to", probe.to_string(), &message))?
        .map_err(|e| self.error("upload to", probe.to_string(), &e))
    }

    /// An error of a request, in words a user can act on.
    pub(crate) fn error(
        &self,
        action: &'static str,
        target: String,
        e: &object_store::Error,
    ) -> Error {
        let (code, detail) = detail(e);
        let refused = matches!(
            e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || matches!(
            code.as_deref(),
            Some(
                "AccessDenied"
                    | "SignatureDoesNotMatch"
                    | "InvalidAccessKeyId"
                    | "InvalidToken"
                    | "ExpiredToken"
                    | "TokenRefreshRequired"
            )
        );
        let message = if code.as_deref() == Some("NoSuchBucket") {
            self.no_bucket()
        } else if refused {
            format!(
                "{} refused the credentials, or they lack a permission ({detail}); check \
                 `s3.access_key_id` and `s3.secret_access_key`, or AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY",
                self.server
            )
        } else if let object_store::Error::NotFound { .. } = e {
            format!("not found at {} ({detail})", self.server)
        } else {
            format!("{detail} ({})", self.server)
        };
        self.failed(action, target, &message)
    }

    fn no_bucket(&self) -> String {
        format!(
            "bucket `{}` does not exist at {}; create it, or fix the bucket in the sink's `path` \
             or `latest`",
            self.url.bucket, self.server
        )
    }

    /// [`Error::ObjectStore`] with `message` (scrubbed of the credentials).
    pub(crate) fn failed(&self, action: &'static str, target: String, message: &str) -> Error {
        Error::ObjectStore {
            sink: self.sink.clone(),
            action,
            url: target,
            message: self.scrub(message),
        }
    }

    /// `text` with every credential given under the sink replaced by `***`.
    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in self.url.options.secrets() {
            text = text.replace(secret, "***");
        }
        text
    }
}

/// The S3 error code the server sent, if any, and what it said, shortest first: the code
/// and its message (`SignatureDoesNotMatch: ...`), else the error's own text.
fn detail(e: &object_store::Error) -> (Option<String>, String) {
    let text = e.to_string();
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))?;
        Some(text[start..start + end].trim().to_owned())
    };
    let code = tag("Code");
    // `... Server returned non-2xx status code: 403 Forbidden: ` (a HEAD has no body).
    let status = text
        .split_once("status code: ")
        .map(|(_, rest)| rest.split(':').next().unwrap_or(rest).trim().to_owned());
    let detail = match (&code, tag("Message"), status) {
        (Some(code), Some(message), _) => format!("{code}: {message}"),
        (Some(code), None, _) => code.clone(),
        (None, _, Some(status)) => format!("HTTP {status}"),
        (None, _, None) => {
            // The root cause (`Connection refused`), which object_store's text leaves out.
            let mut root: &dyn std::error::Error = e;
            while let Some(source) = root.source() {
                root = source;
            }
            let cause = root.to_string();
            if text.contains(&cause) {
                text
            } else {
                format!("{text}: {cause}")
            }
        }
    };
    (code, detail)
}

/// Before a run fetches anything: for each `s3://` location of `sink` (its `path` and
/// `latest`), the bucket exists and lists with the credentials, and uploads are allowed
/// under the key's prefix (a multipart upload started and aborted: nothing remains). With
/// `if_exists: fail`, the run's object must not exist yet. A local file or a table sink has
/// nothing to check here.
pub fn check_object_store(sink: &SinkConfig, vars: &RenderVars<'_>) -> Result<(), Error> {
    let Some(file) = sink.file() else {
        return Ok(());
    };
    let targets = std::iter::once((file.path.render(vars), file.if_exists)).chain(
        file.latest
            .iter()
            .map(|l| (l.render(vars), IfExists::Overwrite)),
    );
    for (location, if_exists) in targets {
        let Location::Object(url) = location else {
            continue;
        };
        let client = Client::new(&sink.name, &url)?;
        client.check_bucket()?;
        client.check_writable(vars.run_id)?;
        if if_exists == IfExists::Fail {
            client.refuse_existing()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ObjectTemplate, String> {
        ObjectTemplate::parse(text, &S3Options::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn templates_name_a_bucket_and_a_key() {
        let t = parse("s3://etl-reports/daily/{pipeline}_{timestamp}.parquet").unwrap();
        assert_eq!(t.bucket(), "etl-reports");
        let vars = RenderVars {
            pipeline: "../engagement",
            sink: "report",
            date: "2026-11-26",
            timestamp: "20261126_020000",
            run_id: "r1",
        };
        let url = t.render(&vars);
        assert_eq!(
            url.to_string(),
            "s3://etl-reports/daily/_engagement_20261126_020000.parquet"
        );
        assert_eq!(url.folder(), Some("daily"));
        assert_eq!(url.file_name(), "_engagement_20261126_020000.parquet");
        assert_eq!(format!("{url:?}"), format!("ObjectUrl(\"{url}\")"));
        assert!(t.varies_in_file_name_only());
        assert_eq!(
            parse("s3://b12/{pipeline}.csv")
                .unwrap()
                .render(&vars)
                .folder(),
            None
        );
    }

    #[test]
    fn bad_templates_say_what_to_write() {
        for (text, expected) in [
            ("s3://bucket", "names a bucket but no object"),
            ("s3://{pipeline}/x.csv", "cannot hold placeholders"),
            ("s3://My_Bucket/x.csv", "`My_Bucket` is not a bucket name"),
            ("s3://ab/x.csv", "`ab` is not a bucket name"),
            ("s3://bucket/", "is a prefix, not an object"),
            ("s3://bucket/reports/", "is a prefix, not an object"),
            ("s3://bucket/a//b.csv", "is empty, `.` or `..`"),
            ("s3://bucket/../b.csv", "is empty, `.` or `..`"),
            ("s3://bucket/{day}.csv", "`{day}` is not a placeholder"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn server_error_codes_are_kept_short() {
        let e = object_store::Error::Generic {
            store: "S3",
            source: "Error performing PUT http://h/b/k: <?xml version=\"1.0\"?><Error>\
                     <Code>SignatureDoesNotMatch</Code><Message>The signature does not match\
                     </Message></Error>"
                .into(),
        };
        assert_eq!(
            detail(&e),
            (
                Some("SignatureDoesNotMatch".to_owned()),
                "SignatureDoesNotMatch: The signature does not match".to_owned()
            )
        );
    }
}
