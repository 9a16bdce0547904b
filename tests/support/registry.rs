//! A real OCI registry (Debian's docker-registry, CNCF distribution) for the image tests: one per
//! test, on a free loopback port, htpasswd basic auth, filesystem storage in a temp dir, its log
//! kept to count blob uploads; stopped when dropped (and by a watchdog if the test process dies).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub user: String,
    pub password: String,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

fn program(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{name} not found — run scripts/test (it installs docker-registry, buildah, apache2-utils and skopeo)"
    );
    path
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_as("amagent", "registry-s3cret")
    }

    /// A registry whose only user is `user` with `password` (two of them stand for two
    /// accounts' registries, each with its own credentials).
    pub fn start_as(user: &str, password: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (user, password) = (user.to_string(), password.to_string());
        let htpasswd = Command::new(program("htpasswd"))
            .args(["-Bbn", &user, &password])
            .output()
            .unwrap();
        assert!(htpasswd.status.success());
        std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: amagent-test\n    path: {htpasswd}\n",
            root = dir.path().join("data").display(),
            htpasswd = dir.path().join("htpasswd").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = dir.path().join("registry.log");
        let script = format!(
            "'{}' serve '{}' >'{}' 2>&1 & r=$!; trap 'kill $r 2>/dev/null' TERM; while kill -0 {} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1; done; kill $r 2>/dev/null",
            program("docker-registry").display(),
            dir.path().join("config.yml").display(),
            log.display(),
            std::process::id()
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            addr: format!("127.0.0.1:{port}"),
            user,
            password,
            log,
            child,
            _dir: dir,
        }
    }

    /// `AMAGENT_SIM_REGISTRY` for this registry, with `password` (right or wrong).
    pub fn sim_registry(&self, password: &str) -> String {
        format!("http://{}:{password}@{}", self.user, self.addr)
    }

    /// Blob uploads the registry completed so far (from its request log).
    pub fn blob_uploads(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains("msg=\"response completed\"")
                    && l.contains("http.request.method=PUT")
                    && l.contains("/blobs/uploads/")
            })
            .count()
    }

    /// The registry's request log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET with basic auth.
    pub async fn get(&self, path: &str, accept: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("http://{}{path}", self.addr))
            .basic_auth(&self.user, Some(&self.password))
            .header("Accept", accept)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // TERM runs the shell's trap, which stops the registry.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
