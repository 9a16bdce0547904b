//! Reading an OCI image layout (index.json → manifest → config and layer blobs) as a builder
//! wrote it.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
    pub path: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Layout {
    /// The manifest exactly as stored: pushed verbatim, so its digest is preserved.
    pub manifest: Vec<u8>,
    pub media_type: String,
    /// `sha256:<hex>` of `manifest`.
    pub digest: String,
    pub config: Blob,
    pub layers: Vec<Blob>,
}

#[derive(Debug, thiserror::Error)]
#[error("unreadable OCI layout at {path}: {message}")]
pub struct LayoutError {
    pub path: String,
    pub message: String,
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn blob_path(root: &Path, digest: &str) -> PathBuf {
    let (algo, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    root.join("blobs").join(algo).join(hex)
}

impl Layout {
    pub fn read(root: &Path) -> Result<Layout, LayoutError> {
        let err = |message: String| LayoutError {
            path: root.display().to_string(),
            message,
        };
        let index: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join("index.json")).map_err(|e| err(format!("index.json: {e}")))?,
        )
        .map_err(|e| err(format!("index.json: {e}")))?;
        let entry = &index["manifests"][0];
        let digest = entry["digest"]
            .as_str()
            .ok_or_else(|| err("index.json lists no manifest".into()))?;
        let manifest = std::fs::read(blob_path(root, digest))
            .map_err(|e| err(format!("manifest {digest}: {e}")))?;
        let computed = sha256_digest(&manifest);
        if computed != digest {
            return Err(err(format!(
                "manifest digest {computed} does not match the index's {digest}"
            )));
        }
        let parsed: serde_json::Value =
            serde_json::from_slice(&manifest).map_err(|e| err(format!("manifest: {e}")))?;
        let blob = |d: &serde_json::Value| -> Result<Blob, LayoutError> {
            let digest = d["digest"]
                .as_str()
                .ok_or_else(|| err("a descriptor without digest".into()))?;
            Ok(Blob {
                digest: digest.to_string(),
                size: d["size"].as_u64().unwrap_or(0),
                path: blob_path(root, digest),
            })
        };
        Ok(Layout {
            media_type: parsed["mediaType"]
                .as_str()
                .or(entry["mediaType"].as_str())
                .unwrap_or("application/vnd.oci.image.manifest.v1+json")
                .to_string(),
            config: blob(&parsed["config"])?,
            layers: parsed["layers"]
                .as_array()
                .map(|a| a.iter().map(blob).collect::<Result<_, _>>())
                .transpose()?
                .unwrap_or_default(),
            digest: computed,
            manifest,
        })
    }
}
