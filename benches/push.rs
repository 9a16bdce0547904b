//! Pushing an image: amagent (HEAD, then streamed, chunked, resumable uploads, 4 blobs at once)
//! against `skopeo copy oci:… docker://…`, the same OCI layout each time into its own empty
//! registry (Debian's docker-registry on loopback), on (a) a 5-layer ~300 MB image and (b) one
//! 2 GiB layer. Layers are gzip (stored blocks) of pseudo-random bytes, written to disk once.
//! Each amagent push runs in a child process (this binary, re-run with
//! `AMAGENT_PUSH_BENCH_CHILD`), timed like skopeo's from spawn to exit; the child reports its
//! own peak RSS (VmHWM of /proc/self/status) after the push.
//! `cargo bench --bench push` prints the medians of 5, the ratio (goal ≤ 0.8×) and the peak RSS
//! (goal ≤ 64 MiB). `AMAGENT_PUSH_BENCH_QUICK=1`: 1 run, a tenth of the sizes.

#[path = "../tests/support/registry.rs"]
#[allow(dead_code)] // the tests use the rest of it
mod registry;

#[path = "../tests/support/oci_layout.rs"]
mod oci_layout;

use amagent::secret::Secret;
use amagent::stages::image::layout::Layout;
use amagent::stages::image::push::{Destination, push};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const CHILD: &str = "AMAGENT_PUSH_BENCH_CHILD";
const MIB: u64 = 1 << 20;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The child: one push of the layout at argv[1] to registry argv[2], repository argv[3], with
/// the user and password from the environment; prints its peak RSS in KiB.
fn child() {
    let args: Vec<String> = std::env::args().collect();
    let layout = Layout::read(Path::new(&args[1])).unwrap();
    let dest = Destination {
        registry: args[2].clone(),
        repository: args[3].clone(),
        insecure: true,
        mount_from: None,
    };
    let user = std::env::var("BENCH_REGISTRY_USER").unwrap();
    let password = Secret::new(std::env::var("BENCH_REGISTRY_PASSWORD").unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(push(&layout, &dest, &["latest".into()], &user, &password))
        .unwrap();
    assert_eq!(report.blobs_pushed, layout.layers.len() + 1);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .to_string();
    amagent::outln!("{hwm}");
}

/// One amagent push in a child process: (seconds, peak RSS in KiB).
fn amagent_push(layout: &Path, run: usize) -> (f64, u64) {
    let registry = registry::Registry::start();
    let started = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .arg(layout)
        .arg(&registry.addr)
        .arg(format!("bench/amagent-{run}"))
        .env(CHILD, "1")
        .env("BENCH_REGISTRY_USER", &registry.user)
        .env("BENCH_REGISTRY_PASSWORD", &registry.password)
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hwm = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (seconds, hwm)
}

fn skopeo_push(layout: &Path, run: usize) -> f64 {
    let registry = registry::Registry::start();
    let started = Instant::now();
    let status = Command::new("/usr/bin/skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false", "--dest-creds"])
        .arg(format!("{}:{}", registry.user, registry.password))
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!(
            "docker://{}/bench/skopeo-{run}:latest",
            registry.addr
        ))
        .status()
        .expect("skopeo installed (scripts/test installs it)");
    assert!(status.success());
    started.elapsed().as_secs_f64()
}

/// Pushes the image of `layer_bytes` `runs` times each way, alternating; prints the figures.
fn compare(name: &str, layer_bytes: &[u64], runs: usize, work: &Path) {
    let dir = work.join(name);
    oci_layout::write(&dir, layer_bytes, 19);
    let layout = Layout::read(&dir).unwrap();
    let total: u64 = layout.layers.iter().map(|l| l.size).sum();
    let (mut ours, mut theirs, mut rss) = (Vec::new(), Vec::new(), 0);
    for run in 0..runs {
        let (seconds, hwm) = amagent_push(&dir, run);
        ours.push(seconds);
        rss = rss.max(hwm);
        theirs.push(skopeo_push(&dir, run));
    }
    let (a, s) = (median(ours), median(theirs));
    amagent::outln!(
        "{name}: {} layer(s) + config, {:.0} MiB, each push to an empty registry (median of {runs}):",
        layout.layers.len(),
        total as f64 / MIB as f64
    );
    amagent::outln!("  amagent:              {a:8.2} s");
    amagent::outln!("  skopeo copy:          {s:8.2} s");
    amagent::outln!("  ratio amagent/skopeo: {:8.2}x", a / s);
    amagent::outln!(
        "  amagent peak RSS:     {:8.1} MiB (child process VmHWM)",
        rss as f64 / 1024.0
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let quick = std::env::var_os("AMAGENT_PUSH_BENCH_QUICK").is_some();
    let (runs, scale) = if quick { (1, 10) } else { (5, 1) };
    let work = tempfile::tempdir().unwrap();
    compare("(a) image", &[60 * MIB / scale; 5], runs, work.path());
    compare("(b) one layer", &[2048 * MIB / scale], runs, work.path());
}
