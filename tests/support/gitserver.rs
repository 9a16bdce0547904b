//! Real git servers on loopback, started per test: git's own `git http-backend` behind lighttpd
//! with TLS (a CA made for the test run) and basic auth, and OpenSSH's `sshd` with a temporary
//! host key and one authorised client key. Both serve bare repositories under `root`. Stopped
//! when dropped, and by a watchdog if the test process dies.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn program(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} not found — run scripts/test (it installs lighttpd, openssh-server and openssl)"
    );
    p
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `program args…` in the background for as long as this test process lives.
fn spawn_watched(command_line: &str, log: &Path) -> Child {
    let script = format!(
        "{command_line} >'{}' 2>&1 & r=$!; trap 'kill $r 2>/dev/null' TERM; while kill -0 {} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1; done; kill $r 2>/dev/null",
        log.display(),
        std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A bare repository `name` under `root` holding a copy of the work tree `from` (all branches),
/// writable over http (`http.receivepack`).
pub fn publish(root: &Path, name: &str, from: &Path) -> PathBuf {
    let bare = root.join(name);
    run(Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(from)
        .arg(&bare));
    run(Command::new("git")
        .arg("-C")
        .arg(&bare)
        .args(["config", "http.receivepack", "true"]));
    bare
}

/// A test certificate authority and a server certificate for 127.0.0.1 and localhost.
pub struct TestCa {
    pub ca_pem: PathBuf,
    pub server_bundle: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        let p = |n: &str| dir.join(n);
        let openssl = program("/usr/bin/openssl");
        run(Command::new(&openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=amagent test CA", "-keyout"])
            .args([p("ca.key"), "-out".into(), p("ca.pem")]));
        run(Command::new(&openssl)
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
            ])
            .arg("-keyout")
            .args([p("srv.key"), "-out".into(), p("srv.csr")]));
        std::fs::write(p("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
        run(Command::new(&openssl)
            .args(["x509", "-req", "-days", "2", "-CAcreateserial", "-in"])
            .args([
                p("srv.csr"),
                "-CA".into(),
                p("ca.pem"),
                "-CAkey".into(),
                p("ca.key"),
            ])
            .args(["-out".into(), p("srv.pem"), "-extfile".into(), p("ext.cnf")]));
        let bundle = [
            std::fs::read(p("srv.pem")).unwrap(),
            std::fs::read(p("srv.key")).unwrap(),
        ]
        .concat();
        std::fs::write(p("srv-bundle.pem"), bundle).unwrap();
        TestCa {
            ca_pem: p("ca.pem"),
            server_bundle: p("srv-bundle.pem"),
        }
    }
}

/// `git http-backend` over HTTPS with basic auth: `https://127.0.0.1:PORT/git/<name>`.
pub struct HttpsGitServer {
    pub port: u16,
    pub user: String,
    pub token: String,
    pub root: PathBuf,
    pub access_log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl HttpsGitServer {
    pub fn start(ca: &TestCa) -> HttpsGitServer {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repos");
        std::fs::create_dir_all(&root).unwrap();
        let port = free_port();
        let (user, token) = (
            "amagent-ci".to_string(),
            "ghp_TestToken0123456789abcdef".to_string(),
        );
        run(Command::new(program("/usr/bin/htpasswd"))
            .args(["-bcs"])
            .arg(dir.path().join("users"))
            .args([&user, &token]));
        let access_log = dir.path().join("access.log");
        let config = format!(
            r#"server.modules = ("mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", "mod_cgi", "mod_openssl", "mod_accesslog")
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{dir}/error.log"
accesslog.filename = "{access}"
ssl.engine = "enable"
ssl.pemfile = "{bundle}"
alias.url = ("/git" => "/usr/lib/git-core/git-http-backend")
$HTTP["url"] =~ "^/git" {{
  cgi.assign = ("" => "")
  setenv.add-environment = ("GIT_PROJECT_ROOT" => "{root}", "GIT_HTTP_EXPORT_ALL" => "")
}}
auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = "{dir}/users"
auth.require = ("/git" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
"#,
            root = root.display(),
            dir = dir.path().display(),
            access = access_log.display(),
            bundle = ca.server_bundle.display(),
        );
        let conf = dir.path().join("lighttpd.conf");
        std::fs::write(&conf, config).unwrap();
        program("/usr/lib/git-core/git-http-backend");
        let log = dir.path().join("lighttpd.log");
        let child = spawn_watched(
            &format!(
                "'{}' -D -f '{}'",
                program("/usr/sbin/lighttpd").display(),
                conf.display()
            ),
            &log,
        );
        wait_for(port, "lighttpd", &log);
        HttpsGitServer {
            port,
            user,
            token,
            root,
            access_log,
            child,
            _dir: dir,
        }
    }

    /// The https URL of repository `name` (no credentials in it: they come from the environment).
    pub fn url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/git/{name}", self.port)
    }
}

impl Drop for HttpsGitServer {
    fn drop(&mut self) {
        // TERM runs the watchdog shell's trap, which stops the server.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// OpenSSH's sshd as the current user: `ssh://USER@127.0.0.1:PORT/<root>/<name>`.
pub struct SshGitServer {
    pub port: u16,
    pub user: String,
    pub root: PathBuf,
    /// The client's private key (authorised on the server).
    pub client_key: PathBuf,
    /// A known_hosts file listing this server's host key.
    pub known_hosts: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SshGitServer {
    pub fn start() -> SshGitServer {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let root = p("repos");
        std::fs::create_dir_all(&root).unwrap();
        let keygen = program("/usr/bin/ssh-keygen");
        for key in ["host_key", "client_key"] {
            run(Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(p(key)));
        }
        std::fs::copy(p("client_key.pub"), p("authorized_keys")).unwrap();
        let port = free_port();
        let host_pub = std::fs::read_to_string(p("host_key.pub")).unwrap();
        let mut fields = host_pub.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        std::fs::write(
            p("known_hosts"),
            format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").ok();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile {pid}\n",
            hk = p("host_key").display(),
            ak = p("authorized_keys").display(),
            pid = p("sshd.pid").display(),
        );
        std::fs::write(p("sshd_config"), config).unwrap();
        let log = p("sshd.log");
        let child = spawn_watched(
            &format!(
                "'{}' -D -e -f '{}'",
                program("/usr/sbin/sshd").display(),
                p("sshd_config").display()
            ),
            &log,
        );
        wait_for(port, "sshd", &log);
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        SshGitServer {
            port,
            user,
            root,
            client_key: p("client_key"),
            known_hosts: p("known_hosts"),
            child,
            _dir: dir,
        }
    }

    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            self.root.join(name).display()
        )
    }
}

impl Drop for SshGitServer {
    fn drop(&mut self) {
        // TERM runs the watchdog shell's trap, which stops the server.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
