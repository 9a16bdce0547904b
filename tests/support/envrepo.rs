//! Environments repositories for tests: the bundled example (`environments/`, `pipelines/`)
//! copied into a fresh git work tree, optionally edited, and committed; and `git` itself.

use std::path::Path;
use std::process::Command;

/// Run git in `dir` as a fixed author; panics with git's message on failure. Returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The bundled example in `dir`, each file passed through `edit`, committed on `main`.
pub fn example(dir: &Path, edit: impl Fn(&str) -> String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["environments", "pipelines"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            std::fs::write(dir.join(sub).join(entry.file_name()), edit(&text)).unwrap();
        }
    }
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "environments"]);
}

/// Replace the first `from` in `file` with `to` and commit with `message`.
pub fn edit(dir: &Path, file: &str, from: &str, to: &str, message: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    git(dir, &["commit", "-qam", message]);
}

/// The agent watching the repository at `repo` on `sandbox`'s simulated account, with a quiet
/// console reporter and no progress output; mirror and cache under `work`.
pub fn sim_agent(
    repo: &Path,
    work: &Path,
    sandbox: &amagent::sandbox::Sandbox,
    journal: std::sync::Arc<dyn amagent::state::journal::Journal>,
) -> amagent::daemon::Agent {
    use std::sync::Arc;
    amagent::daemon::Agent::new(
        amagent::daemon::Settings {
            url: repo.display().to_string(),
            branch: "main".into(),
            mirror: work.join("mirror"),
            cache: work.join("cache"),
            credentials: Default::default(),
            builder: None,
            parallel_builds: amagent::daemon::PARALLEL_BUILDS,
        },
        sandbox.sim.cloud(),
        sandbox.clock.clone(),
        journal,
        Arc::new(amagent::report::console::Console::quiet()),
        Arc::new(amagent::stages::deploy::Silent),
        Arc::new(amagent::metrics::Metrics::default()),
    )
}

/// A service source repository with `v1.4.0` and `v1.5.0` tagged; returns their commits.
pub fn source_repo(dir: &Path) -> (String, String) {
    git(dir, &["init", "-q", "-b", "main"]);
    let mut commits = Vec::new();
    for v in ["v1.4.0", "v1.5.0"] {
        std::fs::write(dir.join("VERSION"), v).unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", v]);
        git(dir, &["tag", v]);
        commits.push(git(dir, &["rev-parse", "HEAD"]));
    }
    (commits[0].clone(), commits[1].clone())
}
