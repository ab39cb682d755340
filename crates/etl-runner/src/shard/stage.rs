//! The stage of a sharded run (`--stage`): an S3 bucket prefix (`s3://bucket/prefix`, reached
//! with the `AWS_*` variables as an `s3://` sink without `s3:` keys is) or a local folder (for
//! shards on one machine). Every object is written whole (a PUT; a local file is written
//! beside and renamed) and read back against the sha256 its manifest gives.

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::digest;

/// Where shards put their parts and manifests.
#[derive(Debug, Clone)]
pub(crate) struct Stage {
    store: Arc<dyn ObjectStore>,
    /// The prefix in the bucket or folder, empty for its root.
    base: String,
    /// As given, without a trailing `/`, for messages.
    shown: String,
}

impl Stage {
    /// The stage at `url`: `s3://bucket[/prefix]`, `file:///folder` or a folder path (made if
    /// missing). Makes no request.
    pub(crate) fn open(url: &str) -> Result<Self, String> {
        Self::check_url(url)?;
        let shown = url.trim_end_matches('/').to_owned();
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let base = prefix.trim_matches('/').to_owned();
            let (store, _) = etl_sink::S3Options::default()
                .store(bucket)
                // A stage has no `s3:` keys: only the environment sets it up.
                .map_err(|e| {
                    let e = e.replace(
                        "`s3.allow_http: true` (or AWS_ALLOW_HTTP=true)",
                        "AWS_ALLOW_HTTP=true",
                    );
                    format!("--stage `{url}`: {e}")
                })?;
            return Ok(Self { store, base, shown });
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("--stage: cannot create the folder `{dir}`: {e}"))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| format!("--stage: cannot use the folder `{dir}`: {e}"))?;
        Ok(Self {
            store: Arc::new(store),
            base: String::new(),
            shown,
        })
    }

    /// Whether `url` can be a stage at all (a usage error if not): `s3://` with a bucket and
    /// a clean prefix, or a local folder.
    pub(crate) fn check_url(url: &str) -> Result<(), String> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!(
                    "--stage `{url}` names no bucket; e.g. `s3://my-bucket/etl-stage`"
                ));
            }
            let base = prefix.trim_matches('/');
            if base
                .split('/')
                .any(|p| p == "." || p == ".." || (p.is_empty() && !base.is_empty()))
            {
                return Err(format!(
                    "--stage `{url}`: a part of the prefix between `/` is empty, `.` or `..`"
                ));
            }
            return Ok(());
        }
        if url.trim().is_empty() {
            return Err("--stage is empty: give `s3://bucket/prefix` or a folder".to_owned());
        }
        if url.contains("://") && !url.starts_with("file://") {
            return Err(format!(
                "--stage `{url}`: only `s3://bucket/prefix` and local folders are stages"
            ));
        }
        Ok(())
    }

    fn key(&self, rel: &str) -> Key {
        if self.base.is_empty() {
            Key::from(rel)
        } else {
            Key::from(format!("{}/{rel}", self.base))
        }
    }

    /// `rel` as people find it: `s3://bucket/prefix/run/shard-1/manifest.json`.
    pub(crate) fn show(&self, rel: &str) -> String {
        format!("{}/{rel}", self.shown)
    }

    /// Writes `bytes` at `rel`, whole.
    pub(crate) async fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<(), String> {
        self.store
            .put(&self.key(rel), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot write `{}`: {e}", self.show(rel)))
    }

    /// Uploads the file at `path` to `rel`: its size and sha256.
    pub(crate) async fn put_file(&self, rel: &str, path: &Path) -> Result<(u64, String), String> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| format!("cannot read the staged part `{}`: {e}", path.display()))?;
        let sha256 = digest::sha256(&bytes);
        let size = bytes.len() as u64;
        self.put(rel, bytes).await?;
        Ok((size, sha256))
    }

    /// The object at `rel`, or `None` if there is none.
    pub(crate) async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, String> {
        let fail = |e: object_store::Error| format!("cannot read `{}`: {e}", self.show(rel));
        match self.store.get(&self.key(rel)).await {
            Ok(got) => Ok(Some(got.bytes().await.map_err(fail)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(fail(e)),
        }
    }

    /// Downloads `rel` to `path`, checking its size and sha256 against what its manifest says.
    pub(crate) async fn get_file(
        &self,
        rel: &str,
        path: &Path,
        size: u64,
        sha256: &str,
    ) -> Result<(), String> {
        let Some(bytes) = self.get(rel).await? else {
            return Err(format!("`{}` is missing", self.show(rel)));
        };
        let got = digest::sha256(&bytes);
        if bytes.len() as u64 != size || got != sha256 {
            return Err(format!(
                "`{}` is damaged: {} bytes with sha256 {got}, its manifest says {size} bytes \
                 with sha256 {sha256}",
                self.show(rel),
                bytes.len()
            ));
        }
        tokio::fs::write(path, bytes)
            .await
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
    }

    /// Every object under `rel` (a folder, `run/shard-1`), as keys relative to the stage.
    pub(crate) async fn list(&self, rel: &str) -> Result<Vec<String>, String> {
        let prefix = self.key(rel);
        let mut objects = self.store.list(Some(&prefix));
        let mut keys = Vec::new();
        let strip = if self.base.is_empty() {
            0
        } else {
            self.base.len() + 1
        };
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(|e| format!("cannot list `{}`: {e}", self.show(rel)))?;
            keys.push(meta.location.as_ref()[strip..].to_owned());
        }
        keys.sort();
        Ok(keys)
    }

    /// Deletes `rel` (no error if it is already gone).
    pub(crate) async fn delete(&self, rel: &str) -> Result<(), String> {
        match self.store.delete(&self.key(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(format!("cannot delete `{}`: {e}", self.show(rel))),
        }
    }
}
