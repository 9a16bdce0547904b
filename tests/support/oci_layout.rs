//! OCI image layouts written straight to disk, without a builder: gzip layers of incompressible
//! pseudo-random bytes (stored deflate blocks, so writing a large one costs little CPU and
//! `skopeo copy` passes it through as the gzip layer it is), a config naming their diff ids,
//! the manifest, and index.json tagging it `latest`. Streamed to disk: a layer of any size
//! never sits in memory.

use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// Writes through to `inner` while hashing what passes.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hex_digest(hash: Sha256) -> String {
    format!("sha256:{}", hex::encode(hash.finalize()))
}

/// Moves a finished blob to `blobs/sha256/<hex>`.
fn store(dir: &Path, tmp: &Path, digest: &str) {
    let hex = digest.trim_start_matches("sha256:");
    std::fs::rename(tmp, dir.join("blobs/sha256").join(hex)).unwrap();
}

/// One gzip layer of `size` random bytes before compression: (digest, size, diff id).
fn write_layer(dir: &Path, size: u64, rng: &mut rand::rngs::SmallRng) -> (String, u64, String) {
    let tmp = dir.join("layer.tmp");
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
    let compressed = Hashing {
        inner: file,
        hash: Sha256::new(),
        written: 0,
    };
    let mut gzip = flate2::write::GzEncoder::new(compressed, flate2::Compression::none());
    let mut diff_id = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        diff_id.update(&buf[..n]);
        gzip.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    let mut compressed = gzip.finish().unwrap();
    compressed.flush().unwrap();
    let digest = hex_digest(compressed.hash);
    store(dir, &tmp, &digest);
    (digest, compressed.written, hex_digest(diff_id))
}

fn write_blob(dir: &Path, bytes: &[u8]) -> String {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    let tmp = dir.join("blob.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    store(dir, &tmp, &digest);
    digest
}

/// An image of one gzip layer per entry of `layer_sizes` (uncompressed bytes) at `dir`;
/// returns the manifest's digest. The same `seed` writes the same bytes.
pub fn write(dir: &Path, layer_sizes: &[u64], seed: u64) -> String {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let layers: Vec<_> = layer_sizes
        .iter()
        .map(|size| write_layer(dir, *size, &mut rng))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.2).collect::<Vec<_>>()},
    })
    .to_string();
    let config_digest = write_blob(dir, config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": layers.iter().map(|(digest, size, _)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest,
            "size": size,
        })).collect::<Vec<_>>(),
    })
    .to_string();
    let manifest_digest = write_blob(dir, manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    manifest_digest
}
