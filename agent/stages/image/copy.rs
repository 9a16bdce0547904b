//! Promotion's image copy: an image already in one registry, by digest, into a repository of
//! the same registry or of another one (another AWS account or region). The source is read
//! with the source side's own login (its environment's ECR token) and the target written with
//! the target's; blobs are mounted across repositories only inside one registry (across
//! registries they are downloaded and uploaded); the manifest bytes — a multi-arch index and
//! each manifest it lists included — are pushed unchanged, so the digest is the same. No
//! rebuild.

use super::copy_session::{Manifest, Session, stream_blob};
use super::push::PushError;
use crate::cloud::Cloud;
use oci_client::Reference;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CopyReport {
    /// `registry/to_repository@digest` (the target's registry)
    pub image: String,
    pub blobs_mounted: usize,
    pub blobs_uploaded: usize,
    pub blobs_present: usize,
    /// Manifests an index lists, copied before the index itself.
    pub manifests_copied: usize,
}

/// One side of a copy: the registry its cloud's login reaches (with that cloud's own
/// credentials) and a repository in it.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub cloud: &'a Cloud,
    pub repository: &'a str,
}

/// Copy `digest` from `from` to `to`, tagging it with `tags`. Real registry traffic: on the
/// simulator it takes its real time (see [`crate::clock::real_work`]).
pub async fn copy_by_digest(
    from: Side<'_>,
    to: Side<'_>,
    digest: &str,
    tags: &[String],
) -> Result<CopyReport, PushError> {
    crate::clock::real_work(copy(from, to, digest, tags)).await
}

async fn copy(
    from: Side<'_>,
    to: Side<'_>,
    digest: &str,
    tags: &[String],
) -> Result<CopyReport, PushError> {
    let source = Session::login(from.cloud).await?;
    let target = Session::login(to.cloud).await?;
    let copier = Copier {
        same_registry: source.registry == target.registry,
        source: &source,
        target: &target,
        from: from.repository,
        to: to.repository,
    };
    if !copier.same_registry {
        tracing::info!(from = %source.registry, to = %target.registry, "copying across registries: every missing blob is downloaded and uploaded");
    }
    let mut report = CopyReport {
        // The name the target account's registry goes by (under the simulator its login
        // hands out a local stand-in).
        image: format!(
            "{}/{}@{digest}",
            to.cloud.ecr.registry_host(),
            to.repository
        ),
        ..CopyReport::default()
    };
    let manifest = copier.copy_contents(digest, &mut report).await?;
    target.push_manifest(to.repository, &manifest, tags).await?;
    Ok(report)
}

struct Copier<'a> {
    source: &'a Session,
    target: &'a Session,
    same_registry: bool,
    from: &'a str,
    to: &'a str,
}

impl Copier<'_> {
    fn source_ref(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.source.registry.clone(),
            self.from.to_string(),
            digest.to_string(),
        )
    }

    /// Everything `digest`'s manifest references, into the target: its blobs, or for an index
    /// each manifest it lists (by digest, after that manifest's own blobs). Returns the
    /// manifest, for the caller to push under its tags.
    async fn copy_contents(
        &self,
        digest: &str,
        report: &mut CopyReport,
    ) -> Result<Manifest, PushError> {
        let manifest = self
            .source
            .read_manifest(&self.source_ref(digest), self.from, digest)
            .await?;
        for child in &manifest.manifests {
            // Indexes nest rarely and shallowly; boxed for the recursion.
            let listed = Box::pin(self.copy_contents(child, report)).await?;
            let by_digest = Reference::with_digest(
                self.target.registry.clone(),
                self.to.to_string(),
                child.clone(),
            );
            self.target
                .push_manifest_at(&by_digest, &listed, &format!("{}@{child}", self.to))
                .await?;
            report.manifests_copied += 1;
        }
        for blob in &manifest.blobs {
            self.copy_blob(&self.source_ref(digest), blob, report)
                .await?;
        }
        Ok(manifest)
    }

    /// One blob into the target repository: already there, mounted (same registry only), or
    /// read from the source with its login and uploaded with the target's.
    async fn copy_blob(
        &self,
        source: &Reference,
        blob: &super::copy_session::Blob,
        report: &mut CopyReport,
    ) -> Result<(), PushError> {
        let target = Reference::with_digest(
            self.target.registry.clone(),
            self.to.to_string(),
            blob.digest.clone(),
        );
        if self.target.has_blob(&target, &blob.digest).await? {
            report.blobs_present += 1;
            return Ok(());
        }
        // A mount names a repository of the registry it is sent to: across registries it
        // cannot work, and would only tell the target which repository the source has.
        if self.same_registry && self.target.mount(&target, source, &blob.digest).await {
            report.blobs_mounted += 1;
            return Ok(());
        }
        stream_blob((self.source, source), (self.target, &target), blob).await?;
        report.blobs_uploaded += 1;
        Ok(())
    }
}
