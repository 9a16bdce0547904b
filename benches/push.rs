//! Pushing an image: amagent (oci-client, HEAD then upload missing blobs, 4 in parallel) against
//! `skopeo copy`, the same OCI layout into an empty repository of the same local registry.
//! `cargo bench --bench push` prints the medians and the ratio (goal ≤ 1.0×).

#[path = "../tests/support/registry.rs"]
#[allow(dead_code)] // the tests use the rest of it
mod registry;

use amagent::secret::Secret;
use amagent::stages::image::builder::{BuildRequest, Builder};
use amagent::stages::image::layout::Layout;
use amagent::stages::image::push::{Destination, push};
use std::collections::BTreeMap;
use std::time::Instant;

const RUNS: usize = 5;
const LAYERS: usize = 4;
const LAYER_BYTES: usize = 8 * 1024 * 1024;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    // A fresh, empty registry per push: skopeo keeps a blob-location cache and would otherwise
    // mount blobs it saw pushed earlier instead of uploading them.
    let registry = registry::Registry::start();
    let work = tempfile::tempdir().unwrap();
    // An image with a few incompressible layers, so that bytes on the wire dominate.
    let context = work.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    let mut dockerfile = String::from("FROM scratch\n");
    for i in 0..LAYERS {
        let data: Vec<u8> = (0..LAYER_BYTES).map(|_| rand::random::<u8>()).collect();
        std::fs::write(context.join(format!("blob{i}.bin")), data).unwrap();
        dockerfile.push_str(&format!("COPY blob{i}.bin /blob{i}.bin\n"));
    }
    std::fs::write(context.join("Dockerfile"), dockerfile).unwrap();
    let layout_dir = work.path().join("layout");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        Builder::detect(None)
            .expect("buildah installed (scripts/test installs it)")
            .build(&BuildRequest {
                context: &context,
                dockerfile: "Dockerfile",
                args: &BTreeMap::new(),
                platform: "linux/amd64",
                labels: BTreeMap::new(),
                timestamp: 1_764_000_000,
                tag: "amagent-bench/push:latest",
                layout: &layout_dir,
            })
            .await
            .unwrap();
    });
    let layout = Layout::read(&layout_dir).unwrap();
    let total: u64 = layout.layers.iter().map(|l| l.size).sum();

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for run in 0..RUNS {
        let registry = registry::Registry::start();
        let dest = Destination {
            registry: registry.addr.clone(),
            repository: format!("bench/amagent-{run}"),
            insecure: true,
            mount_from: None,
        };
        let started = Instant::now();
        let report = runtime
            .block_on(push(
                &layout,
                &dest,
                &["latest".into()],
                &registry.user,
                &Secret::new(registry.password.clone()),
            ))
            .unwrap();
        ours.push(started.elapsed().as_secs_f64());
        assert_eq!(report.blobs_pushed, layout.layers.len() + 1);

        let registry = registry::Registry::start();
        let started = Instant::now();
        let status = std::process::Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false", "--dest-creds"])
            .arg(format!("{}:{}", registry.user, registry.password))
            .arg(format!("oci:{}:latest", layout_dir.display()))
            .arg(format!(
                "docker://{}/bench/skopeo-{run}:latest",
                registry.addr
            ))
            .status()
            .expect("skopeo installed (scripts/test installs it)");
        assert!(status.success());
        theirs.push(started.elapsed().as_secs_f64());
    }
    // Fixed cost: a push where every blob is already there.
    let dest = Destination {
        registry: registry.addr.clone(),
        repository: "bench/repush".into(),
        insecure: true,
        mount_from: None,
    };
    let password = Secret::new(registry.password.clone());
    runtime
        .block_on(push(
            &layout,
            &dest,
            &["latest".into()],
            &registry.user,
            &password,
        ))
        .unwrap();
    let started = Instant::now();
    let again = runtime
        .block_on(push(
            &layout,
            &dest,
            &["latest".into()],
            &registry.user,
            &password,
        ))
        .unwrap();
    assert_eq!(again.blobs_pushed, 0);
    println!(
        "  (re-push, nothing to upload: {:.1} ms)",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let (a, s) = (median(ours), median(theirs));
    println!(
        "push of {} layer(s) + config, {:.1} MiB, to an empty registry (median of {RUNS}):",
        layout.layers.len(),
        total as f64 / 1048576.0
    );
    println!("  amagent (oci-client): {:8.1} ms", a * 1000.0);
    println!("  skopeo copy:          {:8.1} ms", s * 1000.0);
    println!("  ratio amagent/skopeo: {:8.2}x", a / s);
}
