//! Promotion's image copy: an image already in the registry, by digest, into another
//! repository — blobs mounted across repositories (uploaded only when the registry refuses the
//! mount), then the very same manifest bytes, so the digest is unchanged. No rebuild.

use super::push::{Destination, PushError, client_for, is_auth_error, retry};
use super::registry_of;
use crate::cloud::Cloud;
use oci_client::Reference;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use sha2::{Digest, Sha256};

const MANIFEST_TYPES: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CopyReport {
    /// `registry/to_repository@digest`
    pub image: String,
    pub blobs_mounted: usize,
    pub blobs_uploaded: usize,
    pub blobs_present: usize,
}

/// Copy `digest` from `from` to `to` in the cloud's registry, tagging it with `tags`. Real
/// registry traffic: on the simulator it takes its real time (see [`crate::clock::real_work`]).
pub async fn copy_by_digest(
    cloud: &Cloud,
    from: &str,
    to: &str,
    digest: &str,
    tags: &[String],
) -> Result<CopyReport, PushError> {
    crate::clock::real_work(copy(cloud, from, to, digest, tags)).await
}

async fn copy(
    cloud: &Cloud,
    from: &str,
    to: &str,
    digest: &str,
    tags: &[String],
) -> Result<CopyReport, PushError> {
    let session = Session::login(cloud, from, to).await?;
    let registry = &session.registry;
    let source = Reference::with_digest(registry.clone(), from.to_string(), digest.to_string());
    let manifest = session.read_manifest(&source, from, digest).await?;
    let first_tag = tags.first().cloned().unwrap_or_else(|| "latest".into());
    let target = Reference::with_tag(registry.clone(), to.to_string(), first_tag);
    session
        .client
        .store_auth_if_needed(registry, &session.basic)
        .await;
    let mut report = CopyReport {
        image: format!("{registry}/{to}@{digest}"),
        ..CopyReport::default()
    };
    for blob in &manifest.blobs {
        session
            .copy_blob(&source, &target, blob, &mut report)
            .await?;
    }
    session.push_manifest(to, &manifest, tags).await?;
    Ok(report)
}

/// A manifest as the registry served it, and what it references.
struct Manifest {
    /// The exact bytes: pushed unchanged, so the digest stays the same.
    bytes: bytes::Bytes,
    media_type: String,
    /// The config and layer blobs: (digest, size, media type).
    blobs: Vec<(String, i64, String)>,
}

/// A registry client logged in to the cloud's registry.
struct Session {
    client: oci_client::Client,
    registry: String,
    basic: RegistryAuth,
}

impl Session {
    async fn login(cloud: &Cloud, from: &str, to: &str) -> Result<Session, PushError> {
        let auth = cloud
            .ecr
            .get_authorization_token()
            .await
            .map_err(|e| PushError::Failed {
                registry: cloud.ecr.registry_host(),
                what: "the registry login".into(),
                message: e.to_string(),
            })?;
        let (registry, insecure) = registry_of(&auth.endpoint);
        let dest = Destination {
            registry: registry.clone(),
            repository: to.to_string(),
            insecure,
            mount_from: Some(from.to_string()),
        };
        let basic = RegistryAuth::Basic(auth.username.clone(), auth.password.expose().to_string());
        Ok(Session {
            client: client_for(&dest),
            registry,
            basic,
        })
    }

    /// The registry's error about `what`: refused credentials are told apart from the rest.
    fn failed(&self, what: String) -> impl FnOnce(OciDistributionError) -> PushError {
        let registry = self.registry.clone();
        move |e: OciDistributionError| {
            if is_auth_error(&e) {
                PushError::Unauthorized {
                    registry,
                    message: e.to_string(),
                }
            } else {
                PushError::Failed {
                    registry,
                    what,
                    message: e.to_string(),
                }
            }
        }
    }

    /// The manifest of `from@digest`, checked against its digest.
    async fn read_manifest(
        &self,
        source: &Reference,
        from: &str,
        digest: &str,
    ) -> Result<Manifest, PushError> {
        let (bytes, _) = retry(|| {
            self.client
                .pull_manifest_raw(source, &self.basic, &MANIFEST_TYPES)
        })
        .await
        .map_err(self.failed(format!("reading {from}@{digest}")))?;
        // The bytes must be the ones the digest names: promotion guarantees the same image.
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if actual != digest {
            return Err(PushError::Read(
                format!("{from}@{digest}"),
                format!("the registry served a manifest whose digest is {actual}"),
            ));
        }
        let parsed: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| PushError::Read(format!("{from}@{digest}"), e.to_string()))?;
        let media_type = parsed["mediaType"]
            .as_str()
            .unwrap_or(MANIFEST_TYPES[0])
            .to_string();
        let blobs = std::iter::once(&parsed["config"])
            .chain(parsed["layers"].as_array().into_iter().flatten())
            .filter_map(|b| {
                Some((
                    b["digest"].as_str()?.to_string(),
                    b["size"].as_i64().unwrap_or(0),
                    b["mediaType"].as_str().unwrap_or_default().to_string(),
                ))
            })
            .collect();
        Ok(Manifest {
            bytes,
            media_type,
            blobs,
        })
    }

    /// One blob into `target`'s repository: already there, mounted, or (last resort) uploaded.
    async fn copy_blob(
        &self,
        source: &Reference,
        target: &Reference,
        (blob, size, media): &(String, i64, String),
        report: &mut CopyReport,
    ) -> Result<(), PushError> {
        let client = &self.client;
        if retry(|| client.blob_exists(target, blob))
            .await
            .map_err(self.failed(format!("checking blob {blob}")))?
        {
            report.blobs_present += 1;
            return Ok(());
        }
        if client.mount_blob(target, source, blob).await.is_ok() {
            report.blobs_mounted += 1;
            return Ok(());
        }
        // The registry would not mount (e.g. another account's registry): download, upload.
        let descriptor = oci_client::manifest::OciDescriptor {
            media_type: media.clone(),
            digest: blob.clone(),
            size: *size,
            ..Default::default()
        };
        let mut data = Vec::new();
        client
            .pull_blob(source, &descriptor, &mut data)
            .await
            .map_err(self.failed(format!("reading blob {blob}")))?;
        retry(|| client.push_blob(target, data.clone(), blob))
            .await
            .map_err(self.failed(format!("blob {blob}")))?;
        report.blobs_uploaded += 1;
        Ok(())
    }

    /// The manifest's very bytes under each tag of `to`.
    async fn push_manifest(
        &self,
        to: &str,
        manifest: &Manifest,
        tags: &[String],
    ) -> Result<(), PushError> {
        let content_type = http::HeaderValue::from_str(&manifest.media_type)
            .unwrap_or(http::HeaderValue::from_static(MANIFEST_TYPES[0]));
        for tag in tags {
            let tagged = Reference::with_tag(self.registry.clone(), to.to_string(), tag.clone());
            retry(|| {
                self.client
                    .push_manifest_raw(&tagged, manifest.bytes.clone(), content_type.clone())
            })
            .await
            .map_err(self.failed(format!("the manifest as {to}:{tag}")))?;
        }
        Ok(())
    }
}
