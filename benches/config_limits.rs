//! How long load + validate takes on hostile and large input, and how much heap it needs at
//! its peak, up to the loader's bounds (`config::limits`): the figures behind "linear, fast and
//! bounded at the bound". Time and memory bounds for the loader are asserted here, by
//! benchmark, not by timed tests.
//!
//! `cargo bench --bench config_limits` prints criterion's figures for each input.

use amagent::config::limits::{MAX_DEPTH, MAX_FILE_BYTES, MAX_REPO_BYTES};
use amagent::config::{SourceFile, load_sources};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use peak_alloc::PeakAlloc;
use std::hint::black_box;
use std::time::Duration;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// The memory bound: the peak heap of one load+validate, beyond what was allocated before it,
/// at most this many times the input's size (plus a floor for the fixed cost).
const HEAP_PER_INPUT_BYTE: usize = 128;
const HEAP_FLOOR: usize = 32 << 20;

const STAGING: &str = include_str!("../environments/staging.yaml");
const PIPELINE: &str = include_str!("../pipelines/api.yaml");

fn service(env: usize, i: usize) -> String {
    format!(
        r#"  - name: svc-{i:04}
    pipeline: api
    ecs:
      service: svc-{i:04}-e{env}
      taskFamily: svc-{i:04}-e{env}-task
      container: app
    image:
      repository: corp/svc-{i:04}-e{env}
    source:
      url: https://github.com/corp/svc-{i:04}.git
      ref: v1.0.0
    cpu: 256
    memory: 512
    secrets:
      DATABASE_URL: /corp/e{env}/svc-{i:04}/database-url
    loadBalancer:
      targetGroup: svc-{i:04}-e{env}
      containerPort: 3000
      healthCheckPath: /health
"#
    )
}

/// A valid environment file of just under `bytes`.
fn environment(env: usize, bytes: u64) -> String {
    let mut text = format!(
        "apiVersion: amagent/v1\nkind: Environment\nname: e{env}\naws:\n  region: ap-southeast-2\n  accountId: \"{:012}\"\necs:\n  cluster: corp-e{env}\necr:\n  lifecycle:\n    keepLastTagged: 10\n    expireUntaggedAfterDays: 1\nssm:\n  naming: \"/corp/{{env}}/{{service}}/{{secret}}\"\nservices:\n",
        100_000_000_000u64 + env as u64
    );
    for i in 0.. {
        let s = service(env, i);
        if (text.len() + s.len()) as u64 > bytes {
            break;
        }
        text.push_str(&s);
    }
    text
}

fn files(envs: Vec<(String, String)>) -> Vec<SourceFile> {
    let mut out: Vec<SourceFile> = envs
        .into_iter()
        .map(|(name, text)| SourceFile {
            path: format!("environments/{name}.yaml"),
            text,
        })
        .collect();
    out.push(SourceFile {
        path: "pipelines/api.yaml".into(),
        text: PIPELINE.into(),
    });
    out
}

fn staging_with(tail: &str) -> Vec<SourceFile> {
    files(vec![("staging".into(), format!("{STAGING}{tail}"))])
}

/// Named inputs, each within or just past a bound, with whether it should load.
fn inputs() -> Vec<(&'static str, Vec<SourceFile>, bool)> {
    let file = MAX_FILE_BYTES as usize;
    let per_file = MAX_REPO_BYTES / 16 - 4096;
    let nested = |open: &str, close: &str, n: usize| {
        format!("deep: {}x{}\n", open.repeat(n), close.repeat(n))
    };
    vec![
        (
            "valid 1 file at 1 MiB",
            files(vec![("e0".into(), environment(0, per_file))]),
            true,
        ),
        (
            "valid repo at 16 MiB (16 files)",
            files(
                (0..16)
                    .map(|e| (format!("e{e}"), environment(e, per_file)))
                    .collect(),
            ),
            true,
        ),
        (
            "flow depth 63 (at bound)",
            staging_with(&nested("[", "]", MAX_DEPTH - 1)),
            false,
        ),
        (
            "block depth 63 (at bound)",
            staging_with(&format!("deep:\n  {}x\n", "- ".repeat(MAX_DEPTH - 2))),
            false,
        ),
        (
            "flow [ x 100k (refused)",
            staging_with(&"[".repeat(100_000)),
            false,
        ),
        (
            "block - x 5000 (refused)",
            staging_with(&format!("deep:\n  {}x\n", "- ".repeat(5000))),
            false,
        ),
        (
            "flow [ to 1 MiB (refused)",
            staging_with(&"[".repeat(file - STAGING.len() - 8)),
            false,
        ),
        (
            "wide flow list 1 MiB",
            staging_with(&format!(
                "deep: [{}]\n",
                vec!["xyz"; (file - STAGING.len()) / 6].join(", ")
            )),
            false,
        ),
        (
            "wide unknown keys 1 MiB",
            staging_with(
                &(0..(file - STAGING.len()) / 16)
                    .map(|i| format!("k{i:010}: x\n"))
                    .collect::<String>(),
            ),
            false,
        ),
    ]
}

fn bench_limits(c: &mut Criterion) {
    let mut group = c.benchmark_group("config_limits");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (name, files, loads) in inputs() {
        let bytes: usize = files.iter().map(|f| f.text.len()).sum();
        assert!(
            bytes as u64 <= MAX_REPO_BYTES + MAX_FILE_BYTES,
            "{name}: {bytes}"
        );
        assert_eq!(load_sources(&files).is_ok(), loads, "{name}");
        // The bound this bench stands for: linear time, at most 1 s per MiB (1 s at least),
        // for every input at or past a limit (the 200 KB flow input took 264 s before).
        let before = HEAP.current_usage();
        HEAP.reset_peak_usage();
        let started = std::time::Instant::now();
        black_box(load_sources(&files).is_ok());
        let once = started.elapsed();
        let peak = HEAP.peak_usage().saturating_sub(before);
        let mib = bytes as f64 / (1 << 20) as f64;
        println!(
            "{name}: {bytes} bytes, one load+validate {once:?} ({:.0} ms/MiB), peak heap {:.1} MiB ({:.1} x input)",
            once.as_secs_f64() * 1000.0 / mib,
            peak as f64 / (1 << 20) as f64,
            peak as f64 / bytes as f64
        );
        let heap_allowed = (HEAP_PER_INPUT_BYTE * bytes).max(HEAP_FLOOR);
        assert!(
            peak <= heap_allowed,
            "{name} peaked at {peak} bytes of heap, allowed {heap_allowed}"
        );
        // An unoptimised build (`cargo test --benches`) is ~20x slower: the bound is for release.
        let slowdown = if cfg!(debug_assertions) { 20.0 } else { 1.0 };
        let allowed = Duration::from_secs_f64(mib.max(1.0) * slowdown);
        assert!(once < allowed, "{name} took {once:?}, allowed {allowed:?}");
        group.bench_with_input(BenchmarkId::from_parameter(name), &files, |b, files| {
            b.iter(|| load_sources(black_box(files)).is_ok())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_limits);
criterion_main!(benches);
