//! One blob from the OCI layout into the registry as a chunked upload session (OCI distribution
//! spec): POST opens it, each PATCH streams one section of the file (`Content-Range`), PUT with
//! the digest closes it. Memory stays bounded whatever the blob's size: a body is a file
//! section read through a small buffer. A failed request asks the registry what it holds (GET
//! on the session → `Range: 0-<last byte>`) and goes on from there; when the registry has
//! dropped the session (docker distribution 2.x does after a partly received PATCH), a new one
//! starts from byte 0. Retries back off and are bounded. The registry checks the digest at the
//! PUT, so the client does not hash what it sends.

use super::layout::Blob;
use super::progress::BlobProgress;
use super::push::{Destination, PushError};
use crate::secret::Secret;
use futures_util::TryStreamExt;
use reqwest::{Method, StatusCode, header};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use url::Url;

/// Bytes per PATCH: what a failure mid-chunk may cost again. Memory does not depend on it.
pub const CHUNK_BYTES: u64 = 32 << 20;
/// The read buffer of a chunk's body: large enough that syscalls do not dominate.
const READ_BUFFER: usize = 256 << 10;
/// Failed requests per blob before the push gives up.
pub const ATTEMPTS: u32 = 5;

/// The registry's side of a blob upload: basic auth (what ECR and the test registry take) over
/// one connection pool shared by the push's parallel uploads.
pub struct Uploader {
    http: reqwest::Client,
    base: Url,
    registry: String,
    repository: String,
    user: String,
    password: Secret,
    chunk_bytes: u64,
}

/// Why a request failed: refused credentials end the push at once; anything else is retried.
struct Failure {
    auth: bool,
    message: String,
}

impl Failure {
    fn of(e: reqwest::Error) -> Failure {
        Failure {
            auth: false,
            message: e.to_string(),
        }
    }
}

/// An open upload session: where to send next, and how many bytes the registry holds.
#[derive(Clone)]
struct Session {
    location: Url,
    offset: u64,
}

impl Uploader {
    pub fn new(dest: &Destination, user: &str, password: &Secret) -> Result<Uploader, PushError> {
        let scheme = if dest.insecure { "http" } else { "https" };
        let failed = |message: String| PushError::Failed {
            registry: dest.registry.clone(),
            what: "the upload client".into(),
            message,
        };
        let base = Url::parse(&format!("{scheme}://{}/", dest.registry))
            .map_err(|e| failed(e.to_string()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .map_err(|e| failed(e.to_string()))?;
        Ok(Uploader {
            http,
            base,
            registry: dest.registry.clone(),
            repository: dest.repository.clone(),
            user: user.to_string(),
            password: password.clone(),
            chunk_bytes: CHUNK_BYTES,
        })
    }

    /// `bytes` per PATCH instead of [`CHUNK_BYTES`].
    pub fn chunked(mut self, bytes: u64) -> Uploader {
        self.chunk_bytes = bytes.max(1);
        self
    }

    /// Uploads `blob` from its file; returns the bytes it has.
    pub async fn upload(&self, blob: &Blob, progress: &BlobProgress) -> Result<u64, PushError> {
        let size = tokio::fs::metadata(&blob.path)
            .await
            .map_err(|e| PushError::Read(blob.path.display().to_string(), e.to_string()))?
            .len();
        let mut session: Option<Session> = None;
        let mut attempt = 1;
        loop {
            let failure = match self.send(blob, size, &mut session, progress).await {
                Ok(()) => return Ok(size),
                Err(failure) => failure,
            };
            if failure.auth || attempt >= ATTEMPTS {
                return Err(self.error(blob, failure));
            }
            tracing::debug!(attempt, digest = %blob.digest, error = %failure.message, "blob upload failed; asking the registry where to resume");
            tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt - 1))).await;
            attempt += 1;
            session = match session {
                Some(open) => self.status(&open.location).await,
                None => None,
            };
            match &session {
                Some(open) => {
                    tracing::info!(digest = %blob.digest, offset = open.offset, "resuming the blob upload where the registry has it")
                }
                None => {
                    tracing::info!(digest = %blob.digest, "the registry dropped the upload session; starting the blob over")
                }
            }
        }
    }

    fn error(&self, blob: &Blob, failure: Failure) -> PushError {
        if failure.auth {
            PushError::Unauthorized {
                registry: self.registry.clone(),
                message: failure.message,
            }
        } else {
            PushError::Failed {
                registry: self.registry.clone(),
                what: format!("blob {}", blob.digest),
                message: failure.message,
            }
        }
    }

    /// Drives the session from where it stands to the closing PUT. `session` always holds the
    /// last state the registry confirmed, for a retry to ask about.
    async fn send(
        &self,
        blob: &Blob,
        size: u64,
        session: &mut Option<Session>,
        progress: &BlobProgress,
    ) -> Result<(), Failure> {
        let mut open = match session.clone() {
            Some(open) => open,
            None => self.start().await?,
        };
        *session = Some(open.clone());
        progress.at(open.offset);
        while open.offset < size {
            let len = self.chunk_bytes.min(size - open.offset);
            let location = self.patch(&open, blob, len, progress).await?;
            open = Session {
                location,
                offset: open.offset + len,
            };
            *session = Some(open.clone());
            progress.at(open.offset);
        }
        self.finish(&open.location, &blob.digest).await?;
        progress.done();
        Ok(())
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(&self.user, Some(self.password.expose()))
    }

    /// POST: a new, empty session.
    async fn start(&self) -> Result<Session, Failure> {
        let url = self
            .base
            .join(&format!("v2/{}/blobs/uploads/", self.repository))
            .map_err(|e| Failure {
                auth: false,
                message: e.to_string(),
            })?;
        let response = self
            .request(Method::POST, url)
            .header(header::CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(Failure::of)?;
        let location = self.expect(response, StatusCode::ACCEPTED).await?;
        Ok(Session {
            location,
            offset: 0,
        })
    }

    /// PATCH: `len` bytes of the file from the session's offset, streamed.
    async fn patch(
        &self,
        open: &Session,
        blob: &Blob,
        len: u64,
        progress: &BlobProgress,
    ) -> Result<Url, Failure> {
        let mut file = tokio::fs::File::open(&blob.path)
            .await
            .map_err(|e| Failure {
                auth: false,
                message: format!("{}: {e}", blob.path.display()),
            })?;
        file.seek(std::io::SeekFrom::Start(open.offset))
            .await
            .map_err(|e| Failure {
                auth: false,
                message: format!("{}: {e}", blob.path.display()),
            })?;
        let sent = progress.counter();
        let body = tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_BUFFER)
            .inspect_ok(move |bytes| sent(bytes.len() as u64));
        let last = open.offset + len - 1;
        let response = self
            .request(Method::PATCH, open.location.clone())
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, len)
            .header(header::CONTENT_RANGE, format!("{}-{last}", open.offset))
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(Failure::of)?;
        self.expect(response, StatusCode::ACCEPTED).await
    }

    /// PUT with the digest: the registry checks it and keeps the blob.
    async fn finish(&self, location: &Url, digest: &str) -> Result<(), Failure> {
        let mut url = location.clone();
        url.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .request(Method::PUT, url)
            .header(header::CONTENT_LENGTH, 0)
            .send()
            .await
            .map_err(Failure::of)?;
        self.expect(response, StatusCode::CREATED).await.map(|_| ())
    }

    /// GET on the session: where the registry stands (`Range: 0-<last byte>`), or `None` when
    /// it no longer has the session (404) or cannot say.
    async fn status(&self, location: &Url) -> Option<Session> {
        let response = self
            .request(Method::GET, location.clone())
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            tracing::debug!(status = %response.status(), "upload session status");
            return None;
        }
        let offset = response
            .headers()
            .get(header::RANGE)
            .and_then(|range| range_end(range.to_str().ok()?))?;
        let location = self
            .location(response.headers())
            .unwrap_or_else(|| location.clone());
        Some(Session { location, offset })
    }

    fn location(&self, headers: &header::HeaderMap) -> Option<Url> {
        let value = headers.get(header::LOCATION)?.to_str().ok()?;
        self.base.join(value).ok()
    }

    /// The response's `Location` when it has `status`; else the failure, with the registry's
    /// error body (distribution error codes; no credentials in them).
    async fn expect(
        &self,
        response: reqwest::Response,
        status: StatusCode,
    ) -> Result<Url, Failure> {
        let got = response.status();
        if got == status {
            return self.location(response.headers()).ok_or_else(|| Failure {
                auth: false,
                message: format!("{got} without a Location header"),
            });
        }
        let body = response.text().await.unwrap_or_default();
        Err(Failure {
            auth: got == StatusCode::UNAUTHORIZED || got == StatusCode::FORBIDDEN,
            message: format!("{got}: {}", body.trim()),
        })
    }
}

/// `0-1023` → 1024 bytes held. `0-0` is what distribution answers for an empty session as
/// well as for one byte: read as empty (a wrong guess fails the digest check and starts over).
fn range_end(range: &str) -> Option<u64> {
    let (start, end) = range.trim().trim_start_matches("bytes=").split_once('-')?;
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    (start == 0).then_some(if end == 0 { 0 } else { end + 1 })
}

#[cfg(test)]
mod tests {
    use super::range_end;

    #[test]
    fn the_registrys_range_is_the_offset_to_resume_at() {
        assert_eq!(range_end("0-1023"), Some(1024));
        assert_eq!(range_end("0-0"), Some(0));
        assert_eq!(range_end("bytes=0-99"), Some(100));
        assert_eq!(range_end("5-99"), None);
        assert_eq!(range_end("junk"), None);
    }
}
