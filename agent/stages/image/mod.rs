//! The build and push stages: the service's source at the spec's ref → an image built by
//! buildah (or podman) → pushed to ECR over the OCI distribution API, skipping what exists.
//! Returns the manifest digest; deploys pin `repository@sha256:…`.

pub mod builder;
pub mod codebuild;
pub mod copy;
mod copy_session;
pub mod layout;
mod progress;
pub mod push;
pub mod source;
mod storage_lock;
mod upload;

use crate::clock::real_work;
use crate::cloud::types::{ImageDetail, RegistryAuth};
use crate::cloud::{Cloud, CloudError};
use crate::config::codebuild::BuilderChoice;
use crate::config::{Pipeline, Service};
use crate::repo::{GitCredentials, RepoError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub struct ImageRequest<'a> {
    pub service: &'a Service,
    pub pipeline: &'a Pipeline,
    /// Where source mirrors are cached.
    pub cache: &'a Path,
    pub credentials: &'a GitCredentials,
    /// `buildah` or `podman`; None: the first found.
    pub builder: Option<&'a str>,
    pub now: chrono::DateTime<chrono::Utc>,
    /// Where a CodeBuild build's id is remembered (re-attaching after a restart) and its
    /// phases are told.
    pub ledger: &'a dyn codebuild::ledger::BuildLedger,
    /// Sleeps between looks at a CodeBuild build (virtual under the simulator).
    pub clock: &'a crate::clock::Clock,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImageResult {
    /// `registry/repository@sha256:…`
    pub image: String,
    pub digest: String,
    /// False when the registry already had the commit's image.
    pub built: bool,
    pub commit: String,
    pub tags: Vec<String>,
    pub blobs_pushed: usize,
    pub blobs_skipped: usize,
    pub bytes_pushed: u64,
    pub seconds: f64,
    /// The build log's last lines (for reports).
    pub log_tail: Vec<String>,
}

impl ImageResult {
    /// An image the agent pushed no bytes of: found in the registry (or pushed by CodeBuild).
    fn found(
        image: String,
        digest: String,
        commit: String,
        tags: Vec<String>,
        started: std::time::Instant,
    ) -> ImageResult {
        ImageResult {
            image,
            digest,
            built: false,
            commit,
            tags,
            blobs_pushed: 0,
            blobs_skipped: 0,
            bytes_pushed: 0,
            seconds: started.elapsed().as_secs_f64(),
            log_tail: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("source: {0}")]
    Source(#[from] RepoError),
    #[error("build: {0}")]
    Build(#[from] builder::BuildError),
    #[error("{0}")]
    Layout(#[from] layout::LayoutError),
    #[error("push: {0}")]
    Push(#[from] push::PushError),
    #[error("{0}")]
    Cloud(#[from] CloudError),
    #[error("{0}")]
    CodeBuild(#[from] codebuild::CodeBuildError),
}

/// `https://host` or `http://127.0.0.1:5000` → (`host[:port]`, plain HTTP?).
pub fn registry_of(endpoint: &str) -> (String, bool) {
    match endpoint.split_once("://") {
        Some(("http", rest)) => (rest.trim_end_matches('/').to_string(), true),
        Some((_, rest)) => (rest.trim_end_matches('/').to_string(), false),
        None => (endpoint.trim_end_matches('/').to_string(), false),
    }
}

/// The service's image at the spec's ref: found in the registry by its commit (tagged with
/// what it lacks), or built and pushed. The checkout, build and registry traffic are real work:
/// on the simulator they take their real time (see [`crate::clock::real_work`]).
pub async fn build_and_push(
    cloud: &Cloud,
    req: &ImageRequest<'_>,
) -> Result<ImageResult, ImageError> {
    let started = std::time::Instant::now();
    let spec = req.service;
    let repository = &spec.image.repository;
    let checkout = check_out(req).await?;
    let tags = tags_for(spec, &checkout.commit);
    let pin = |digest: &str| format!("{}/{repository}@{digest}", cloud.ecr.registry_host());

    let existing = cloud.ecr.describe_images(repository).await?;
    if let Some(found) = existing.iter().find(|i| i.tags.contains(&checkout.commit)) {
        tracing::info!(repository, commit = %checkout.commit, "image already in the registry; not building");
        add_missing_tags(cloud, repository, found, &tags).await?;
        return Ok(ImageResult::found(
            pin(&found.digest),
            found.digest.clone(),
            checkout.commit,
            tags,
            started,
        ));
    }

    if req.pipeline.build.builder == BuilderChoice::Codebuild {
        let built = build_remotely(cloud, req, &checkout, &tags).await?;
        return Ok(ImageResult {
            built: true,
            ..ImageResult::found(
                pin(&built.digest),
                built.digest,
                checkout.commit,
                tags,
                started,
            )
        });
    }
    // The layout lives in `_out`: kept until the push has read it.
    let (_out, layout, log_tail) = build(req, &checkout).await?;
    let (destination, auth) = login(cloud, repository).await?;
    let report = real_work(push::push(
        &layout,
        &destination,
        &tags,
        &auth.username,
        &auth.password,
    ))
    .await?;
    Ok(ImageResult {
        image: pin(&report.digest),
        digest: report.digest,
        built: true,
        commit: checkout.commit,
        tags,
        blobs_pushed: report.blobs_pushed,
        blobs_skipped: report.blobs_skipped,
        bytes_pushed: report.bytes_pushed,
        seconds: started.elapsed().as_secs_f64(),
        log_tail,
    })
}

/// Build and push on CodeBuild (`builder: codebuild`): CodeBuild pushes, the agent checks.
async fn build_remotely(
    cloud: &Cloud,
    req: &ImageRequest<'_>,
    checkout: &source::Checkout,
    tags: &[String],
) -> Result<codebuild::Built, ImageError> {
    let build = &req.pipeline.build;
    let settings = build.codebuild.as_ref().ok_or_else(|| {
        ImageError::Cloud(CloudError::invalid(
            "StartBuild",
            "`builder: codebuild` without `build.codebuild` (the configuration check should have said so)",
        ))
    })?;
    let registry = cloud.ecr.registry_host();
    let built = codebuild::build(
        cloud,
        &codebuild::RemoteBuild {
            settings,
            build,
            repository: &req.service.image.repository,
            registry: &registry,
            checkout,
            labels: image_labels(req, checkout),
            tags,
            ledger: req.ledger,
            clock: req.clock,
        },
    )
    .await?;
    tracing::info!(build = %built.build_id, uploaded = built.uploaded, digest = %built.digest, "built on CodeBuild");
    Ok(built)
}

/// The service's source at the spec's ref (git is blocking: off the async workers).
async fn check_out(req: &ImageRequest<'_>) -> Result<source::Checkout, ImageError> {
    let source = &req.service.source;
    let (url, reference) = (source.url.clone(), source.reference.clone());
    let (cache, creds) = (req.cache.to_path_buf(), req.credentials.clone());
    let checkout = real_work(tokio::task::spawn_blocking(move || {
        source::checkout(&url, &reference, &cache, &creds)
    }))
    .await
    .expect("checkout task")?;
    Ok(checkout)
}

/// The commit SHA tag is immutable; a semver ref is tagged too.
fn tags_for(spec: &Service, commit: &str) -> Vec<String> {
    let mut tags = vec![commit.to_string()];
    if !spec.source.is_commit() {
        tags.push(spec.source.reference.clone());
    }
    tags
}

/// The commit may have been built under another ref: add the tags it lacks (e.g. v1.4.0).
async fn add_missing_tags(
    cloud: &Cloud,
    repository: &str,
    found: &ImageDetail,
    tags: &[String],
) -> Result<(), ImageError> {
    let missing: Vec<String> = tags
        .iter()
        .filter(|t| !found.tags.contains(t))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let (destination, auth) = login(cloud, repository).await?;
    real_work(push::retag(
        &destination,
        &found.digest,
        &missing,
        &auth.username,
        &auth.password,
    ))
    .await?;
    Ok(())
}

/// The registry's credentials and where in it `repository` is pushed.
async fn login(
    cloud: &Cloud,
    repository: &str,
) -> Result<(push::Destination, RegistryAuth), ImageError> {
    let auth = cloud.ecr.get_authorization_token().await?;
    let (registry, insecure) = registry_of(&auth.endpoint);
    let destination = push::Destination {
        registry,
        repository: repository.to_string(),
        insecure,
        mount_from: None,
    };
    Ok((destination, auth))
}

/// Build the checkout into an OCI layout in a temporary directory (returned: the layout's files
/// live there); also returns the build log's tail.
async fn build(
    req: &ImageRequest<'_>,
    checkout: &source::Checkout,
) -> Result<(tempfile::TempDir, layout::Layout, Vec<String>), ImageError> {
    let builder = builder::Builder::detect(req.builder)?;
    let out = tempfile::Builder::new()
        .prefix("amagent-oci-")
        .tempdir()
        .map_err(|e| layout::LayoutError {
            path: "a temporary directory".into(),
            message: e.to_string(),
        })?;
    let layout_dir = out.path().join("layout");
    let context = checkout.dir.path().join(&req.pipeline.build.context);
    // Unique per build: concurrent builds of one commit (two services, two agents) must not
    // push or remove each other's local image.
    let local_tag = format!(
        "amagent-build/{}:{}-{:08x}",
        req.service.name,
        &checkout.commit[..12],
        rand::random::<u32>()
    );
    let log_tail = real_work(builder.build(&builder::BuildRequest {
        context: &context,
        dockerfile: &req.pipeline.build.dockerfile,
        args: &req.pipeline.build.args,
        platform: &req.pipeline.build.platform,
        labels: image_labels(req, checkout),
        tag: &local_tag,
        timestamp: checkout.committed_at,
        layout: &layout_dir,
    }))
    .await?;
    let layout = layout::Layout::read(&layout_dir)?;
    Ok((out, layout, log_tail))
}

/// The OCI labels saying where the image came from.
fn image_labels(req: &ImageRequest<'_>, checkout: &source::Checkout) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "org.opencontainers.image.source".to_string(),
            req.service.source.url.clone(),
        ),
        (
            "org.opencontainers.image.revision".to_string(),
            checkout.commit.clone(),
        ),
        (
            "org.opencontainers.image.created".to_string(),
            // The commit's time, not the build's: the same commit gives the same image.
            chrono::DateTime::from_timestamp(checkout.committed_at, 0)
                .unwrap_or(req.now)
                .to_rfc3339(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_endpoints() {
        assert_eq!(
            super::registry_of("http://127.0.0.1:5000"),
            ("127.0.0.1:5000".into(), true)
        );
        assert_eq!(
            super::registry_of("https://123456789012.dkr.ecr.ap-southeast-2.amazonaws.com"),
            (
                "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com".into(),
                false
            )
        );
    }
}
