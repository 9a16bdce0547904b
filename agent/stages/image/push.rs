//! Pushing an OCI layout over the distribution API: HEAD each blob (oci-client), upload only the
//! missing ones (in parallel, bounded; streamed and resumable, `upload.rs`), then the manifest
//! verbatim under each tag.
//! The manifest digest is sha256 of those bytes, so deploys can pin it.

use super::layout::{Blob, Layout};
use super::progress::PushProgress;
use super::upload::Uploader;
use crate::secret::Secret;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Where to push: `registry` is `host[:port]`; `insecure` means plain HTTP (a loopback test
/// registry).
#[derive(Clone, Debug)]
pub struct Destination {
    pub registry: String,
    pub repository: String,
    pub insecure: bool,
    /// A repository of the same registry that may already hold the blobs (promotion between
    /// repositories): missing blobs are mounted from it instead of uploaded.
    pub mount_from: Option<String>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PushReport {
    pub digest: String,
    pub blobs_pushed: usize,
    pub blobs_skipped: usize,
    /// Blobs mounted from `mount_from` instead of uploaded.
    pub blobs_mounted: usize,
    pub bytes_pushed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(
        "the registry {registry} refused the credentials (check the ECR authorization token / registry user): {message}"
    )]
    Unauthorized { registry: String, message: String },
    #[error("pushing {what} to {registry} failed: {message}")]
    Failed {
        registry: String,
        what: String,
        message: String,
    },
    #[error("reading {0}: {1}")]
    Read(String, String),
}

/// Layers uploaded at the same time.
pub const PARALLEL_UPLOADS: usize = 4;
pub(crate) const ATTEMPTS: u32 = 3;

/// Credentials refused: decided on the error's kind and status, never on its text (URLs in
/// messages contain digests, which may contain "401").
pub(crate) fn is_auth_error(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match e {
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => true,
        E::ServerError { code, .. } => *code == 401 || *code == 403,
        E::RequestError(r) => r
            .status()
            .is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403),
        _ => false,
    }
}

pub(crate) fn client_for(dest: &Destination) -> Client {
    Client::new(ClientConfig {
        protocol: if dest.insecure {
            ClientProtocol::HttpsExcept(vec![dest.registry.clone()])
        } else {
            ClientProtocol::Https
        },
        use_monolithic_push: true,
        ..Default::default()
    })
}

/// Tag an image the repository already has (by digest) with `tags`: the manifest is read back
/// and pushed verbatim, so the digest does not change and no blob moves.
pub async fn retag(
    dest: &Destination,
    digest: &str,
    tags: &[String],
    username: &str,
    password: &Secret,
) -> Result<(), PushError> {
    let client = client_for(dest);
    let auth = RegistryAuth::Basic(username.to_string(), password.expose().to_string());
    let by_digest = Reference::with_digest(
        dest.registry.clone(),
        dest.repository.clone(),
        digest.to_string(),
    );
    let failed = |what: &str, e: oci_client::errors::OciDistributionError| {
        if is_auth_error(&e) {
            PushError::Unauthorized {
                registry: dest.registry.clone(),
                message: e.to_string(),
            }
        } else {
            PushError::Failed {
                registry: dest.registry.clone(),
                what: what.to_string(),
                message: e.to_string(),
            }
        }
    };
    let (manifest, _) = client
        .pull_manifest_raw(
            &by_digest,
            &auth,
            &[
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            ],
        )
        .await
        .map_err(|e| failed("reading the manifest", e))?;
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(String::from))
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into());
    let content_type = http::HeaderValue::from_str(&media_type)
        .map_err(|e| PushError::Read("the manifest media type".into(), e.to_string()))?;
    for tag in tags {
        let tagged =
            Reference::with_tag(dest.registry.clone(), dest.repository.clone(), tag.clone());
        retry(|| client.push_manifest_raw(&tagged, manifest.clone(), content_type.clone()))
            .await
            .map_err(|e| failed(&format!("tag {tag}"), e))?;
    }
    Ok(())
}

/// How a push uploads: tests and benchmarks tune it, the agent uses the defaults.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Blobs uploaded at the same time.
    pub parallel: usize,
    /// Bytes per PATCH of an upload session.
    pub chunk_bytes: u64,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            parallel: PARALLEL_UPLOADS,
            chunk_bytes: super::upload::CHUNK_BYTES,
        }
    }
}

pub async fn push(
    layout: &Layout,
    dest: &Destination,
    tags: &[String],
    username: &str,
    password: &Secret,
) -> Result<PushReport, PushError> {
    push_with(
        layout,
        dest,
        tags,
        (username, password),
        &PushOptions::default(),
    )
    .await
}

pub async fn push_with(
    layout: &Layout,
    dest: &Destination,
    tags: &[String],
    (username, password): (&str, &Secret),
    options: &PushOptions,
) -> Result<PushReport, PushError> {
    let client = client_for(dest);
    let auth = RegistryAuth::Basic(username.to_string(), password.expose().to_string());
    let first_tag = tags.first().cloned().unwrap_or_else(|| "latest".into());
    let reference = Reference::with_tag(dest.registry.clone(), dest.repository.clone(), first_tag);
    client.store_auth_if_needed(&dest.registry, &auth).await;
    // Authenticate once up front: a wrong password fails before anything is uploaded or tagged.
    client
        .auth(&reference, &auth, oci_client::RegistryOperation::Push)
        .await
        .map_err(|e| PushError::Unauthorized {
            registry: dest.registry.clone(),
            message: e.to_string(),
        })?;
    let uploader = Uploader::new(dest, username, password)?.chunked(options.chunk_bytes);
    let mut report = PushReport {
        digest: layout.digest.clone(),
        ..Default::default()
    };
    upload_all(
        layout,
        dest,
        (&client, uploader),
        &reference,
        options,
        &mut report,
    )
    .await?;
    let content_type = http::HeaderValue::from_str(&layout.media_type)
        .map_err(|e| PushError::Read("the manifest media type".into(), e.to_string()))?;
    for tag in tags {
        let tagged =
            Reference::with_tag(dest.registry.clone(), dest.repository.clone(), tag.clone());
        retry(|| client.push_manifest_raw(&tagged, layout.manifest.clone(), content_type.clone()))
            .await
            .map_err(|e| PushError::Failed {
                registry: dest.registry.clone(),
                what: format!("manifest :{tag}"),
                message: e.to_string(),
            })?;
    }
    Ok(report)
}

/// Every blob of the layout into the repository, `options.parallel` at a time.
async fn upload_all(
    layout: &Layout,
    dest: &Destination,
    (client, uploader): (&Client, Uploader),
    reference: &Reference,
    options: &PushOptions,
    report: &mut PushReport,
) -> Result<(), PushError> {
    let mut blobs: Vec<Blob> = layout.layers.clone();
    blobs.push(layout.config.clone());
    let limit = Arc::new(Semaphore::new(options.parallel.max(1)));
    let uploader = Arc::new(uploader);
    let progress = Arc::new(PushProgress::new());
    let mut tasks = tokio::task::JoinSet::new();
    let source = dest
        .mount_from
        .as_ref()
        .map(|repo| Reference::with_tag(dest.registry.clone(), repo.clone(), "latest".into()));
    for blob in blobs {
        let (client, uploader, reference, limit, source, progress) = (
            client.clone(),
            uploader.clone(),
            reference.clone(),
            limit.clone(),
            source.clone(),
            progress.clone(),
        );
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let clients = (&client, uploader.as_ref());
            upload(clients, &reference, &blob, source.as_ref(), &progress).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        match done.expect("upload task")? {
            Sent::Uploaded(bytes) => {
                report.blobs_pushed += 1;
                report.bytes_pushed += bytes;
            }
            Sent::Mounted => report.blobs_mounted += 1,
            Sent::Present => report.blobs_skipped += 1,
        }
    }
    Ok(())
}

enum Sent {
    Uploaded(u64),
    Mounted,
    Present,
}

/// Upload one blob unless the registry has it (or can mount it from `source`).
async fn upload(
    (client, uploader): (&Client, &Uploader),
    reference: &Reference,
    blob: &Blob,
    source: Option<&Reference>,
    progress: &PushProgress,
) -> Result<Sent, PushError> {
    let registry = &reference.resolve_registry().to_string();
    let failed = |e: oci_client::errors::OciDistributionError| {
        let message = e.to_string();
        if is_auth_error(&e) {
            PushError::Unauthorized {
                registry: registry.to_string(),
                message,
            }
        } else {
            PushError::Failed {
                registry: registry.to_string(),
                what: format!("blob {}", blob.digest),
                message,
            }
        }
    };
    if retry(|| client.blob_exists(reference, &blob.digest))
        .await
        .map_err(failed)?
    {
        tracing::debug!(digest = %blob.digest, "blob already in the registry");
        return Ok(Sent::Present);
    }
    if let Some(source) = source {
        // A 202 (mount refused) surfaces as an error: then upload as usual.
        if client
            .mount_blob(reference, source, &blob.digest)
            .await
            .is_ok()
            && client
                .blob_exists(reference, &blob.digest)
                .await
                .unwrap_or(false)
        {
            tracing::info!(digest = %blob.digest, from = source.repository(), "mounted blob");
            return Ok(Sent::Mounted);
        }
    }
    let progress = progress.blob(&blob.digest, blob.size);
    let size = uploader.upload(blob, &progress).await?;
    tracing::info!(digest = %blob.digest, size, "uploaded blob");
    Ok(Sent::Uploaded(size))
}

/// A few attempts with backoff for transient registry errors (not for auth errors).
pub(crate) async fn retry<T, F, Fut>(
    mut call: F,
) -> Result<T, oci_client::errors::OciDistributionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, oci_client::errors::OciDistributionError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if attempt < ATTEMPTS && !is_auth_error(&e) => {
                tracing::debug!(attempt, error = %e, "registry call failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}
