//! An object staged for a commit: a multipart upload with every part uploaded but not
//! completed, so that the object does not exist yet. [`Upload::complete`] makes it appear,
//! whole; dropping an [`Upload`] aborts it (the server discards the parts).

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};

use super::{Client, runtime};
use crate::error::Error;
use crate::spec::IfExists;

/// Parts of 8 MiB (S3 wants at least 5 MiB for every part but the last), up to 4 sent at
/// once: at most about 40 MiB of the file in memory.
const PART: u64 = 8 << 20;
const IN_FLIGHT: usize = 4;

/// How long dropping an upload waits for its abort.
const ABORT_WAIT: Duration = Duration::from_secs(30);

/// A multipart upload with all its parts uploaded, not completed.
pub(crate) struct Upload {
    client: Client,
    /// `None` once completed or aborted.
    pending: Option<Box<dyn MultipartUpload>>,
    parts: usize,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("client", &self.client)
            .field("parts", &self.parts)
            .field("pending", &self.pending.is_some())
            .finish()
    }
}

impl Upload {
    /// Starts a multipart upload of the client's object and uploads `file` (read from its
    /// start; `path` names it in messages) as its parts.
    pub(crate) fn stage(client: Client, mut file: File, path: &Path) -> Result<Self, Error> {
        let (store, key) = (client.store(), client.key());
        let url = client.url().to_string();
        let upload = runtime::run(async move { store.put_multipart(&key).await })
            .map_err(|m| client.failed("upload to", url.clone(), &m))?
            .map_err(|e| client.error("upload to", url, &e))?;
        let mut staged = Self {
            client,
            pending: Some(upload),
            parts: 0,
        };
        staged.send(&mut file, path)?;
        Ok(staged)
    }

    /// The object.
    pub(crate) fn url(&self) -> &super::ObjectUrl {
        self.client.url()
    }

    /// Uploads `file` in parts, a few at a time; an empty file is one empty part.
    fn send(&mut self, file: &mut File, path: &Path) -> Result<(), Error> {
        let url = self.client.url().to_string();
        let mut running = VecDeque::new();
        loop {
            let mut chunk = Vec::with_capacity(PART as usize);
            file.by_ref()
                .take(PART)
                .read_to_end(&mut chunk)
                .map_err(|source| Error::Io {
                    sink: self.client.sink().to_owned(),
                    action: "read",
                    path: path.to_owned(),
                    source,
                })?;
            let last = (chunk.len() as u64) < PART;
            if chunk.is_empty() && self.parts > 0 {
                break;
            }
            if running.len() == IN_FLIGHT {
                self.finish_part(running.pop_front(), &url)?;
            }
            let Some(upload) = self.pending.as_mut() else {
                break;
            };
            let part = upload.put_part(PutPayload::from(chunk));
            let started = runtime::start(part)
                .map_err(|m| self.client.failed("upload to", url.clone(), &m))?;
            running.push_back(started);
            self.parts += 1;
            if last {
                break;
            }
        }
        while let Some(part) = running.pop_front() {
            self.finish_part(Some(part), &url)?;
        }
        Ok(())
    }

    fn finish_part(
        &self,
        part: Option<runtime::Running<object_store::Result<()>>>,
        url: &str,
    ) -> Result<(), Error> {
        let Some(part) = part else { return Ok(()) };
        part.wait()
            .map_err(|m| self.client.failed("upload to", url.to_owned(), &m))?
            .map_err(|e| self.client.error("upload to", url.to_owned(), &e))
    }

    /// Completes the upload: the object appears, whole (replacing the previous one). With
    /// `if_exists: fail`, an object that appeared since [`Upload::stage`] fails it first.
    pub(crate) fn complete(mut self, if_exists: IfExists) -> Result<(), Error> {
        if if_exists == IfExists::Fail {
            self.client.refuse_existing()?;
        }
        let url = self.client.url().to_string();
        let Some(mut upload) = self.pending.take() else {
            return Err(Error::data(
                self.client.sink(),
                "the upload was not prepared",
            ));
        };
        runtime::run(async move {
            let done = upload.complete().await.map(drop);
            if done.is_err() {
                let _ = upload.abort().await;
            }
            done
        })
        .map_err(|m| {
            self.client
                .failed("complete the upload of", url.clone(), &m)
        })?
        .map_err(|e| self.client.error("complete the upload of", url, &e))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let Some(mut upload) = self.pending.take() else {
            return;
        };
        let url = self.client.url().to_string();
        let aborted = runtime::start(async move { upload.abort().await })
            .ok()
            .and_then(|running| running.wait_at_most(ABORT_WAIT));
        match aborted {
            Some(Ok(())) => {
                tracing::debug!(sink = %self.client.sink(), url = %url, "Aborted an upload.");
            }
            Some(Err(e)) => {
                let e = self.client.error("abort the upload of", url, &e);
                tracing::warn!(
                    error = %e,
                    "Could not abort an upload; its parts stay in the bucket until a lifecycle \
                     rule removes them."
                );
            }
            None => {
                tracing::warn!(
                    sink = %self.client.sink(),
                    url = %url,
                    "Gave up waiting for an upload to abort; its parts may stay in the bucket \
                     until a lifecycle rule removes them."
                );
            }
        }
    }
}
