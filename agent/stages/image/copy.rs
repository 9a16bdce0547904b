//! Promotion's image copy: an image already in the registry, by digest, into another
//! repository — blobs mounted across repositories (uploaded only when the registry refuses the
//! mount), then the very same manifest bytes, so the digest is unchanged. No rebuild.

use super::push::{Destination, PushError, client_for, is_auth_error, retry};
use super::registry_of;
use crate::cloud::Cloud;
use oci_client::Reference;
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
    let client = client_for(&dest);
    let basic = RegistryAuth::Basic(auth.username.clone(), auth.password.expose().to_string());
    let failed = |what: String| {
        let registry = registry.clone();
        move |e: oci_client::errors::OciDistributionError| {
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
    };
    let source = Reference::with_digest(registry.clone(), from.to_string(), digest.to_string());
    let (manifest, _) = retry(|| client.pull_manifest_raw(&source, &basic, &MANIFEST_TYPES))
        .await
        .map_err(failed(format!("reading {from}@{digest}")))?;
    // The bytes must be the ones the digest names: promotion guarantees the same image.
    let actual = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
    if actual != digest {
        return Err(PushError::Read(
            format!("{from}@{digest}"),
            format!("the registry served a manifest whose digest is {actual}"),
        ));
    }
    let parsed: serde_json::Value = serde_json::from_slice(&manifest)
        .map_err(|e| PushError::Read(format!("{from}@{digest}"), e.to_string()))?;
    let media_type = parsed["mediaType"]
        .as_str()
        .unwrap_or(MANIFEST_TYPES[0])
        .to_string();
    let blobs: Vec<(String, i64, String)> = std::iter::once(&parsed["config"])
        .chain(parsed["layers"].as_array().into_iter().flatten())
        .filter_map(|b| {
            Some((
                b["digest"].as_str()?.to_string(),
                b["size"].as_i64().unwrap_or(0),
                b["mediaType"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect();
    let first_tag = tags.first().cloned().unwrap_or_else(|| "latest".into());
    let target = Reference::with_tag(registry.clone(), to.to_string(), first_tag);
    client.store_auth_if_needed(&registry, &basic).await;
    let mut report = CopyReport {
        image: format!("{registry}/{to}@{digest}"),
        ..CopyReport::default()
    };
    for (blob, size, media) in &blobs {
        if retry(|| client.blob_exists(&target, blob))
            .await
            .map_err(failed(format!("checking blob {blob}")))?
        {
            report.blobs_present += 1;
            continue;
        }
        if client.mount_blob(&target, &source, blob).await.is_ok() {
            report.blobs_mounted += 1;
            continue;
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
            .pull_blob(&source, &descriptor, &mut data)
            .await
            .map_err(failed(format!("reading blob {blob}")))?;
        retry(|| client.push_blob(&target, data.clone(), blob))
            .await
            .map_err(failed(format!("blob {blob}")))?;
        report.blobs_uploaded += 1;
    }
    let content_type = http::HeaderValue::from_str(&media_type)
        .unwrap_or(http::HeaderValue::from_static(MANIFEST_TYPES[0]));
    for tag in tags {
        let tagged = Reference::with_tag(registry.clone(), to.to_string(), tag.clone());
        retry(|| client.push_manifest_raw(&tagged, manifest.clone(), content_type.clone()))
            .await
            .map_err(failed(format!("the manifest as {to}:{tag}")))?;
    }
    Ok(report)
}
