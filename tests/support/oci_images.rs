//! Small images written straight into a real registry over the distribution API (oci-client),
//! without a builder: a config and a layer blob and their manifest, or a multi-arch index of
//! such manifests. The bytes are the test's, so their digests are known.

use super::registry::Registry;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A manifest (or index) as pushed: its digest and exact bytes.
pub struct Pushed {
    pub digest: String,
    pub bytes: Vec<u8>,
}

async fn client(registry: &Registry) -> (Client, RegistryAuth) {
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(vec![registry.addr.clone()]),
        use_monolithic_push: true,
        ..Default::default()
    });
    let auth = RegistryAuth::Basic(registry.user.clone(), registry.password.clone());
    client.store_auth_if_needed(&registry.addr, &auth).await;
    (client, auth)
}

async fn put_blob(client: &Client, reference: &Reference, data: &[u8]) -> (String, usize) {
    let digest = digest_of(data);
    client
        .push_blob(reference, data.to_vec(), &digest)
        .await
        .unwrap();
    (digest, data.len())
}

async fn put_manifest(
    client: &Client,
    registry: &Registry,
    repository: &str,
    reference: &str,
    bytes: &[u8],
    media_type: &'static str,
) {
    let at = match reference.starts_with("sha256:") {
        true => Reference::with_digest(registry.addr.clone(), repository.into(), reference.into()),
        false => Reference::with_tag(registry.addr.clone(), repository.into(), reference.into()),
    };
    client
        .push_manifest_raw(
            &at,
            bytes.to_vec(),
            http::HeaderValue::from_static(media_type),
        )
        .await
        .unwrap();
}

/// One image for `arch` whose layer holds `content`, pushed to `repository` by digest (and
/// under `tag` when given).
pub async fn push_image(
    registry: &Registry,
    repository: &str,
    content: &str,
    arch: &str,
    tag: Option<&str>,
) -> Pushed {
    let (client, _) = client(registry).await;
    let at = Reference::with_tag(registry.addr.clone(), repository.into(), "latest".into());
    let (layer, layer_size) = put_blob(&client, &at, content.as_bytes()).await;
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [layer] }
    })
    .to_string();
    let (config, config_size) = put_blob(&client, &at, config.as_bytes()).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size }]
    })
    .to_string()
    .into_bytes();
    let digest = digest_of(&manifest);
    put_manifest(
        &client,
        registry,
        repository,
        &digest,
        &manifest,
        OCI_MANIFEST,
    )
    .await;
    if let Some(tag) = tag {
        put_manifest(&client, registry, repository, tag, &manifest, OCI_MANIFEST).await;
    }
    Pushed {
        digest,
        bytes: manifest,
    }
}

/// A multi-arch index of `images` (pushed before), under `tag`.
pub async fn push_index(
    registry: &Registry,
    repository: &str,
    images: &[(&Pushed, &str)],
    tag: &str,
) -> Pushed {
    let (client, _) = client(registry).await;
    let manifests: Vec<_> = images
        .iter()
        .map(|(image, arch)| {
            serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": image.digest, "size": image.bytes.len(),
                "platform": { "architecture": arch, "os": "linux" }
            })
        })
        .collect();
    let index =
        serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests })
            .to_string()
            .into_bytes();
    put_manifest(&client, registry, repository, tag, &index, OCI_INDEX).await;
    Pushed {
        digest: digest_of(&index),
        bytes: index,
    }
}

/// The manifest at `reference` (tag or digest) as the registry serves it, with its own
/// credentials: (status, bytes).
pub async fn manifest(registry: &Registry, repository: &str, reference: &str) -> (u16, Vec<u8>) {
    let response = registry
        .get(
            &format!("/v2/{repository}/manifests/{reference}"),
            &format!("{OCI_MANIFEST}, {OCI_INDEX}"),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}
