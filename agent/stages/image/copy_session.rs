//! One side's registry session for a copy: an oci-client logged in with that side's own ECR
//! token, and the registry requests a copy makes through it. Two sessions never share a
//! client, so each registry only ever sees its own side's credentials.

use super::push::{ATTEMPTS, Destination, PushError, client_for, is_auth_error, retry};
use super::registry_of;
use crate::cloud::Cloud;
use futures_util::TryStreamExt;
use oci_client::Reference;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use sha2::{Digest, Sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// What a copy accepts: single-platform manifests and multi-arch indexes (OCI and Docker).
const MANIFEST_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    "application/vnd.docker.distribution.manifest.v2+json",
    OCI_INDEX,
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A blob a manifest references.
pub struct Blob {
    pub digest: String,
    pub size: i64,
    pub media_type: String,
}

/// A manifest as the registry served it, and what it references.
pub struct Manifest {
    /// The exact bytes: pushed unchanged, so the digest stays the same.
    pub bytes: bytes::Bytes,
    pub media_type: String,
    /// An image manifest's config and layers.
    pub blobs: Vec<Blob>,
    /// An index's manifests, by digest.
    pub manifests: Vec<String>,
}

/// A registry client logged in with one side's credentials.
pub struct Session {
    client: oci_client::Client,
    /// `host[:port]`
    pub registry: String,
    basic: RegistryAuth,
}

impl Session {
    /// Logs in to the registry `cloud`'s ECR login hands out, with that login's token.
    pub async fn login(cloud: &Cloud) -> Result<Session, PushError> {
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
        let client = client_for(&Destination {
            registry: registry.clone(),
            repository: String::new(),
            insecure,
            mount_from: None,
        });
        let basic = RegistryAuth::Basic(auth.username.clone(), auth.password.expose().to_string());
        client.store_auth_if_needed(&registry, &basic).await;
        Ok(Session {
            client,
            registry,
            basic,
        })
    }

    /// The registry's error about `what`: refused credentials are told apart from the rest.
    /// oci-client's messages carry URLs and statuses, never the credentials.
    fn failed(&self, what: String) -> impl FnOnce(OciDistributionError) -> PushError {
        let registry = self.registry.clone();
        move |e: OciDistributionError| {
            if is_auth_error(&e) {
                PushError::Unauthorized {
                    registry,
                    message: format!("{what}: {e}"),
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
    pub async fn read_manifest(
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
        parse(bytes).map_err(|e| PushError::Read(format!("{from}@{digest}"), e))
    }

    pub async fn has_blob(&self, target: &Reference, digest: &str) -> Result<bool, PushError> {
        retry(|| self.client.blob_exists(target, digest))
            .await
            .map_err(self.failed(format!("checking blob {digest}")))
    }

    /// Mount `digest` from `source`'s repository (same registry): true when the registry did.
    /// A 202 (mount refused) surfaces as an error, so the blob is then checked again.
    pub async fn mount(&self, target: &Reference, source: &Reference, digest: &str) -> bool {
        self.client.mount_blob(target, source, digest).await.is_ok()
            && self
                .client
                .blob_exists(target, digest)
                .await
                .unwrap_or(false)
    }

    /// The manifest's very bytes under each tag of `to`.
    pub async fn push_manifest(
        &self,
        to: &str,
        manifest: &Manifest,
        tags: &[String],
    ) -> Result<(), PushError> {
        for tag in tags {
            let tagged = Reference::with_tag(self.registry.clone(), to.to_string(), tag.clone());
            self.push_manifest_at(&tagged, manifest, &format!("{to}:{tag}"))
                .await?;
        }
        Ok(())
    }

    /// The manifest's very bytes at `reference` (a tag, or its digest for an index's entry).
    pub async fn push_manifest_at(
        &self,
        reference: &Reference,
        manifest: &Manifest,
        what: &str,
    ) -> Result<(), PushError> {
        let content_type = http::HeaderValue::from_str(&manifest.media_type)
            .unwrap_or(http::HeaderValue::from_static(OCI_MANIFEST));
        retry(|| {
            self.client
                .push_manifest_raw(reference, manifest.bytes.clone(), content_type.clone())
        })
        .await
        .map_err(self.failed(format!("the manifest as {what}")))?;
        Ok(())
    }
}

/// One blob from `from`'s registry into `to`'s, streamed (a layer may be larger than the
/// agent's memory): read with `from`'s login, uploaded with `to`'s. A failed upload starts
/// over from a fresh read. oci-client checks the bytes read against the digest, and the
/// target registry checks them again before it keeps the blob.
pub async fn stream_blob(
    (from, source): (&Session, &Reference),
    (to, target): (&Session, &Reference),
    blob: &Blob,
) -> Result<(), PushError> {
    let descriptor = oci_client::manifest::OciDescriptor {
        media_type: blob.media_type.clone(),
        digest: blob.digest.clone(),
        size: blob.size,
        ..Default::default()
    };
    let mut attempt = 1;
    loop {
        let pulled = retry(|| from.client.pull_blob_stream(source, &descriptor))
            .await
            .map_err(from.failed(format!("reading blob {}", blob.digest)))?;
        let size = pulled
            .content_length
            .unwrap_or(u64::try_from(blob.size).unwrap_or_default());
        let body = pulled.stream.map_err(OciDistributionError::from);
        match to
            .client
            .push_blob_stream(target, body, &blob.digest, Some(size))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if attempt < ATTEMPTS && !is_auth_error(&e) => {
                tracing::debug!(attempt, error = %e, "blob copy failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200 * 2u64.pow(attempt))).await;
                attempt += 1;
            }
            Err(e) => {
                let what = format!("blob {} (read from {})", blob.digest, from.registry);
                return Err(to.failed(what)(e));
            }
        }
    }
}

/// What a manifest references: an index lists manifests, an image manifest a config and layers.
/// The media type is the manifest's own, else told by its shape (OCI allows leaving it out).
fn parse(bytes: bytes::Bytes) -> Result<Manifest, String> {
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let manifests: Vec<String> = parsed["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["digest"].as_str().map(String::from))
        .collect();
    let is_index = parsed["manifests"].is_array();
    let media_type = parsed["mediaType"]
        .as_str()
        .unwrap_or(if is_index { OCI_INDEX } else { OCI_MANIFEST })
        .to_string();
    let blobs = std::iter::once(&parsed["config"])
        .chain(parsed["layers"].as_array().into_iter().flatten())
        .filter_map(|b| {
            Some(Blob {
                digest: b["digest"].as_str()?.to_string(),
                size: b["size"].as_i64().unwrap_or(0),
                media_type: b["mediaType"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect();
    Ok(Manifest {
        bytes,
        media_type,
        blobs,
        manifests,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn an_index_lists_manifests_and_an_image_its_config_and_layers() {
        let index = br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:aa","size":1},{"digest":"sha256:bb","size":2}]}"#;
        let m = parse(bytes::Bytes::from_static(index)).unwrap();
        assert_eq!(m.manifests, ["sha256:aa", "sha256:bb"]);
        assert!(m.blobs.is_empty());
        assert_eq!(m.media_type, super::OCI_INDEX);
        let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:cc","size":3,"mediaType":"c"},"layers":[{"digest":"sha256:dd","size":4,"mediaType":"l"}]}"#;
        let m = parse(bytes::Bytes::from_static(image)).unwrap();
        assert!(m.manifests.is_empty());
        let blobs: Vec<_> = m
            .blobs
            .iter()
            .map(|b| (b.digest.as_str(), b.size))
            .collect();
        assert_eq!(blobs, [("sha256:cc", 3), ("sha256:dd", 4)]);
        assert_eq!(
            m.media_type,
            "application/vnd.docker.distribution.manifest.v2+json"
        );
    }
}
