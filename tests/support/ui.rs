//! The status page's tests: `amagent run --sim` with a listen address, watching a local bare
//! remote of the bundled example that the test merges to (deploy-only changes: no build).

use super::envrepo::{example, git};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SECRET: &str = "webhook-secret-for-ui-tests";

pub struct UiFixture {
    pub tmp: tempfile::TempDir,
    pub work: PathBuf,
    pub remote: PathBuf,
}

/// The agent process, killed when dropped; its stderr goes to `log`.
pub struct UiAgent {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for UiAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl UiAgent {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl UiFixture {
    pub fn new() -> UiFixture {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("envrepo");
        example(&work, str::to_string);
        let remote = tmp.path().join("remote.git");
        let (from, to) = (work.to_str().unwrap(), remote.to_str().unwrap());
        git(tmp.path(), &["clone", "-q", "--bare", from, to]);
        git(&work, &["remote", "add", "origin", to]);
        UiFixture { tmp, work, remote }
    }

    /// Start the agent on `sim` (a built-in scenario or a fault script's path), listening on
    /// `listen` (`127.0.0.1` or `0.0.0.0`), polling every second, with `env` set.
    pub fn start(&self, sim: &str, listen: &str, env: &[(&str, &str)]) -> UiAgent {
        let port = super::free_port();
        let log = self.tmp.path().join(format!("agent-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_amagent"));
        cmd.args(["run", "--repo", self.remote.to_str().unwrap(), "--sim", sim])
            .args([
                "--poll-interval",
                "1",
                "--listen",
                &format!("{listen}:{port}"),
            ])
            .env("AMAGENT_CACHE", self.tmp.path().join("cache"))
            .env("AMAGENT_JOURNAL", self.tmp.path().join("journal"))
            .env("AMAGENT_WEBHOOK_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .env_remove("GITHUB_TOKEN")
            .env_remove("AMAGENT_GITHUB_APP_ID")
            .env_remove("AMAGENT_UI_TOKEN")
            .env_remove("AMAGENT_UI_TRUSTED_HEADER")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let agent = UiAgent {
            child: cmd.spawn().expect("amagent starts"),
            port,
            log,
        };
        eventually("the agent listens", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        agent
    }

    /// Merge "pull request #n": staging's api gets another API_BASE_URL (a deploy, no build).
    pub fn merge(&self, n: u64, host: &str) -> String {
        let path = self.work.join("environments/staging.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("API_BASE_URL:"))
            .unwrap()
            .to_string();
        let indent = &line[..line.len() - line.trim_start().len()];
        let text = text.replacen(&line, &format!("{indent}API_BASE_URL: https://{host}"), 1);
        std::fs::write(&path, text).unwrap();
        let message =
            format!("Merge pull request #{n} from team/{host}\n\nPoint staging at {host}");
        git(&self.work, &["commit", "-qam", &message]);
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// The local journal's lines for `env`.
    pub fn journal(&self, env: &str) -> String {
        let path = self.tmp.path().join("journal").join(format!("{env}.jsonl"));
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

/// Wait until `done` holds (generous for a loaded machine).
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
