//! CodeBuild builds of one merge on the simulator: N services' refs change in one merge, each
//! builds on CodeBuild (the simulator's default build: 130 s), with `--parallel-builds` P.
//! Prints, per (N, P): the virtual time from the first StartBuild to the last build's end, the
//! merge's whole apply (build + deploy), the ideal ⌈N/P⌉ × 130 s, and CodeBuild calls per build.
//!
//! `cargo bench --bench codebuild` prints the figures (wall time too).

use amagent::cloud::sim::FaultScript;
use amagent::sandbox::Sandbox;
use amagent::state::journal::{Journal, LocalJournal};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

const BUILD_S: u64 = 130;

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

/// The example environments repo with the api pipeline on CodeBuild and staging running `n`
/// copies of the api service (`svc0`…), all from `source`.
fn env_repo(dir: &Path, source: &Path, n: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["environments", "pipelines"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let pipeline = std::fs::read_to_string(root.join("pipelines/api.yaml")).unwrap().replacen(
        "  platform: linux/amd64   # Fargate X86_64\n",
        "  platform: linux/amd64   # Fargate X86_64\n  builder: codebuild\n  codebuild:\n    project: builds\n    sourceBucket: sources\n",
        1,
    );
    std::fs::write(dir.join("pipelines/api.yaml"), pipeline).unwrap();
    let staging = std::fs::read_to_string(root.join("environments/staging.yaml"))
        .unwrap()
        .replace(
            "url: https://github.com/aussie-markets/api.git",
            &format!("url: {}", source.display()),
        )
        .replace("policy: major", "policy: never");
    let start = staging.find("  - name: api").unwrap();
    let block = &staging[start..];
    let mut text = staging[..start].to_string();
    for i in 0..n {
        text.push_str(
            &block
                .replace("name: api", &format!("name: svc{i}"))
                .replace("aussie-markets-api", &format!("aussie-markets-svc{i}"))
                .replace("aussie-markets/api", &format!("aussie-markets/svc{i}"))
                .replace("/api/", &format!("/svc{i}/")),
        );
    }
    std::fs::write(dir.join("environments/staging.yaml"), text).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "environments"]);
}

fn source_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "v1.4.0"]);
    git(dir, &["tag", "v1.4.0"]);
}

fn measure(n: usize, parallel: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let wall = Instant::now();
    runtime.block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let (repo, source) = (tmp.path().join("envrepo"), tmp.path().join("src"));
        source_repo(&source);
        env_repo(&repo, &source, n);
        let model = amagent::config::load_dir(&repo).unwrap();
        let envs: Vec<_> = model.environments.values().cloned().collect();
        let sandbox = Sandbox::for_environments(&envs, FaultScript::new(), amagent::sandbox::epoch());
        sandbox.add_build_projects(model.pipelines.values());
        let journal: Arc<dyn Journal> = Arc::new(LocalJournal::new(tmp.path().join("journal")));
        let mut agent = amagent::daemon::Agent::new(
            amagent::daemon::Settings {
                url: repo.display().to_string(),
                branch: "main".into(),
                mirror: tmp.path().join("mirror"),
                cache: tmp.path().join("cache"),
                credentials: Default::default(),
                builder: None,
                parallel_builds: parallel,
            },
            sandbox.sim.cloud(),
            sandbox.clock.clone(),
            journal,
            Arc::new(amagent::report::console::Console::quiet()),
            Arc::new(amagent::stages::deploy::Silent),
            Arc::new(amagent::metrics::Metrics::default()),
        );
        agent.tick().await.unwrap(); // adopts
        let file = repo.join("environments/staging.yaml");
        let text = std::fs::read_to_string(&file).unwrap().replace("ref: v1.3.0", "ref: v1.4.0");
        std::fs::write(&file, text).unwrap();
        git(&repo, &["commit", "-qam", "Merge pull request #1"]);
        let before = sandbox.clock.elapsed();
        let tick = agent.tick().await.unwrap();
        let apply = (sandbox.clock.elapsed() - before).as_secs();
        let report = &tick.applied[0];
        assert_eq!(report.outcome, amagent::stages::deploy::Outcome::Succeeded, "{report:?}");
        let runs = sandbox.sim.build_runs();
        assert_eq!(runs.len(), n);
        let first = runs.iter().map(|r| r.started).min().unwrap();
        let last = runs.iter().filter_map(|r| r.ended).max().unwrap();
        let calls = sandbox.sim.calls();
        let per_build = |op: &str| calls.get(op).copied().unwrap_or(0) as f64 / n as f64;
        let ideal = n.div_ceil(parallel) as u64 * BUILD_S;
        println!(
            "{n:>3} services, parallel {parallel}: builds {:>5} s (ideal {ideal:>5} s, ratio {:.3}), whole apply {apply:>5} s; per build: StartBuild {:.1}, BatchGetBuilds {:.1}, BatchGetProjects {:.1}, PutObject {:.1}; wall {:.2} s",
            last - first,
            (last - first) as f64 / ideal as f64,
            per_build("StartBuild"),
            per_build("BatchGetBuilds"),
            per_build("BatchGetProjects"),
            per_build("PutObject"),
            wall.elapsed().as_secs_f64()
        );
    });
}

fn main() {
    for (n, parallel) in [(2, 4), (8, 1), (8, 4), (8, 8)] {
        measure(n, parallel);
    }
}
