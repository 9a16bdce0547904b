//! git over the network, as users configure it: the environments repo and a service source
//! over HTTPS (git's own `git http-backend` behind lighttpd with TLS from a test CA and basic
//! auth) and over SSH (OpenSSH's sshd, a temporary host key, an authorised client key).
//! Through the binary where a user would run it (`amagent run --once`), through the library
//! for tag pushes (`promote`'s step) and source checkouts (`build`'s first step).
//! Also: where a token must never go (plain http, another host after a redirect).

mod support;

use amagent::repo::{EnvRepo, GitCredentials};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use support::envrepo::{example, git};
use support::gitserver::{HttpsGitServer, SshGitServer, TestCa, publish};
use support::token_trap;

/// One test CA for this test binary; the in-process libgit2 trusts it (the binary gets it the
/// way users give it, SSL_CERT_FILE).
fn ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let ca = TestCa::new(dir.path());
        // SAFETY: called once, before this process makes any TLS connection.
        unsafe { git2::opts::set_ssl_cert_file(&ca.ca_pem) }.unwrap();
        ca
    })
}

/// The example environments repo, published as `env.git` under `root`; returns the work tree.
fn env_repo(root: &Path) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    example(work.path(), |t| t.to_string());
    publish(root, "env.git", work.path());
    work
}

/// `amagent run --once --sim healthy --repo URL` with a clean environment plus `envs`.
fn run_once(url: &str, state: &Path, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amagent"));
    cmd.args(["run", "--once", "--sim", "healthy", "--repo", url])
        .arg("--cache")
        .arg(state.join("cache"))
        .arg("--journal")
        .arg(state.join("journal"));
    for var in [
        "AMAGENT_GIT_TOKEN",
        "GITHUB_TOKEN",
        "AMAGENT_GIT_SSH_KEY",
        "AMAGENT_GIT_KNOWN_HOSTS",
        "AMAGENT_GIT_USER",
        "SSL_CERT_FILE",
        "AMAGENT_JOURNAL",
        "AMAGENT_CACHE",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(envs.iter().copied());
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file under `dir`, as bytes.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        out.extend(std::fs::read(entry).unwrap_or_default());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn https_with_a_token_clones_and_fetches_and_keeps_the_token_off_disk() {
    let server = HttpsGitServer::start(ca());
    let work = env_repo(&server.root);
    let state = tempfile::tempdir().unwrap();
    let ca_file = ca().ca_pem.display().to_string();
    // The token written into the URL, as some users do.
    let url = format!(
        "https://{}:{}@127.0.0.1:{}/git/env.git",
        server.user, server.token, server.port
    );
    let out = run_once(&url, state.path(), &[("SSL_CERT_FILE", &ca_file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let head = git(work.path(), &["rev-parse", "HEAD"]);
    assert!(text(&out.stdout).contains(&format!("head {}", &head[..12])));
    assert!(text(&out.stdout).contains("adopted as the baseline"));

    // A new commit on the server is fetched over https, with the token from the environment.
    support::envrepo::edit(
        work.path(),
        "environments/staging.yaml",
        "apiVersion",
        "# fetched over https\napiVersion",
        "a comment",
    );
    git(
        work.path(),
        &[
            "push",
            "-q",
            server.root.join("env.git").to_str().unwrap(),
            "main",
        ],
    );
    let out = run_once(
        &server.url("env.git"),
        state.path(),
        &[
            ("SSL_CERT_FILE", &ca_file),
            ("AMAGENT_GIT_TOKEN", &server.token),
            ("AMAGENT_GIT_USER", &server.user),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let head = git(work.path(), &["rev-parse", "HEAD"]);
    assert!(
        text(&out.stdout).contains(&format!("head {}", &head[..12])),
        "{}",
        text(&out.stdout)
    );
    // Nothing under the cache holds the token (mirror config included), and it is private.
    let cache = state.path().join("cache");
    assert!(!contains(&all_bytes(&cache), &server.token));
    let mirror = std::fs::read_dir(cache.join("envrepo"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    for dir in [cache.clone(), cache.join("envrepo"), mirror.path()] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
    let log = std::fs::read_to_string(&server.access_log).unwrap();
    assert!(log.contains("git-upload-pack"), "{log}");
}

#[test]
fn a_wrong_token_is_refused_naming_the_variable_never_the_token() {
    let server = HttpsGitServer::start(ca());
    let _work = env_repo(&server.root);
    let state = tempfile::tempdir().unwrap();
    let wrong = "ghp_WrongToken9876543210";
    let ca_file = ca().ca_pem.display().to_string();
    let out = run_once(
        &server.url("env.git"),
        state.path(),
        &[
            ("SSL_CERT_FILE", &ca_file),
            ("AMAGENT_GIT_TOKEN", wrong),
            ("AMAGENT_GIT_USER", &server.user),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("refused AMAGENT_GIT_TOKEN"), "{stderr}");
    assert!(!stderr.contains(wrong) && !text(&out.stdout).contains(wrong));
    // No token at all: says which variable to set.
    let out = run_once(
        &server.url("env.git"),
        state.path(),
        &[("SSL_CERT_FILE", &ca_file)],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("set AMAGENT_GIT_TOKEN"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused() {
    let server = HttpsGitServer::start(ca());
    let _work = env_repo(&server.root);
    let state = tempfile::tempdir().unwrap();
    // The system CA store does not hold the test CA.
    let out = run_once(
        &server.url("env.git"),
        state.path(),
        &[("AMAGENT_GIT_TOKEN", &server.token)],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    assert!(!stderr.contains(&server.token));
}

#[test]
fn https_tag_push_and_source_checkout_with_the_library() {
    let server = HttpsGitServer::start(ca());
    let work = env_repo(&server.root);
    let mirror = tempfile::tempdir().unwrap();
    let creds = GitCredentials::default()
        .with_token(server.token.clone())
        .with_username(server.user.clone())
        .trusting(&server.url("env.git"));
    let repo = EnvRepo::open_or_clone(&server.url("env.git"), &mirror.path().join("m"), &creds)
        .expect("clone over https");
    let head = git(work.path(), &["rev-parse", "HEAD"]);
    repo.tag_and_push("v1.0.0", &head, &server.url("env.git"), &creds)
        .expect("tag pushed over https");
    let bare = server.root.join("env.git");
    assert_eq!(git(&bare, &["rev-parse", "v1.0.0^{commit}"]), head);
    // A tag the server already has on another commit: it refuses, and that is an error (the
    // push call itself succeeds; the refusal comes per ref).
    support::envrepo::edit(
        work.path(),
        "pipelines/api.yaml",
        "apiVersion",
        "# x\napiVersion",
        "x",
    );
    git(work.path(), &["push", "-q", bare.to_str().unwrap(), "main"]);
    git(&bare, &["tag", "v1.1.0", "main"]);
    let err = repo
        .tag_and_push("v1.1.0", &head, &server.url("env.git"), &creds)
        .unwrap_err();
    assert!(err.to_string().contains("cannot push tag v1.1.0"), "{err}");
    // `amagent build`'s first step: the service source at its ref, over https.
    let cache = tempfile::tempdir().unwrap();
    let checkout = amagent::stages::image::source::checkout(
        &server.url("env.git"),
        "v1.0.0",
        cache.path(),
        &creds,
    )
    .expect("source checked out over https");
    assert_eq!(checkout.commit, head);
    assert!(
        checkout
            .dir
            .path()
            .join("environments/staging.yaml")
            .exists()
    );
}

#[test]
fn ssh_with_a_key_clones_fetches_and_pushes() {
    let server = SshGitServer::start();
    let work = env_repo(&server.root);
    let state = tempfile::tempdir().unwrap();
    let key = server.client_key.display().to_string();
    let known = server.known_hosts.display().to_string();
    let out = run_once(
        &server.url("env.git"),
        state.path(),
        &[
            ("AMAGENT_GIT_SSH_KEY", &key),
            ("AMAGENT_GIT_KNOWN_HOSTS", &known),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("adopted as the baseline"));
    // Push (promote's tag) with the library, then fetch it back.
    let creds = GitCredentials::default()
        .with_ssh_key(&server.client_key)
        .with_known_hosts(&server.known_hosts);
    let mirror = tempfile::tempdir().unwrap();
    let repo = EnvRepo::open_or_clone(&server.url("env.git"), &mirror.path().join("m"), &creds)
        .expect("clone over ssh");
    let head = git(work.path(), &["rev-parse", "HEAD"]);
    repo.tag_and_push("v2.0.0", &head, &server.url("env.git"), &creds)
        .expect("tag pushed over ssh");
    assert_eq!(
        git(
            &server.root.join("env.git"),
            &["rev-parse", "v2.0.0^{commit}"]
        ),
        head
    );
    repo.fetch(&server.url("env.git"), &creds)
        .expect("fetch over ssh");
}

#[test]
fn an_unknown_or_changed_ssh_host_key_is_refused() {
    let server = SshGitServer::start();
    let _work = env_repo(&server.root);
    let state = tempfile::tempdir().unwrap();
    let key = server.client_key.display().to_string();
    let empty = state.path().join("known_hosts");
    std::fs::write(&empty, "").unwrap();
    let out = run_once(
        &server.url("env.git"),
        state.path(),
        &[
            ("AMAGENT_GIT_SSH_KEY", &key),
            ("AMAGENT_GIT_KNOWN_HOSTS", empty.to_str().unwrap()),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("[127.0.0.1]:{}", server.port)),
        "{stderr}"
    );
    assert!(
        stderr.contains("refusing to connect to an unknown host"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("ssh-keyscan -p {} 127.0.0.1 >>", server.port)),
        "{stderr}"
    );
    // Another key listed for that host: a change, refused.
    let client_pub = std::fs::read_to_string(server.client_key.with_extension("pub")).unwrap();
    let mut fields = client_pub.split_whitespace();
    let (kind, other) = (fields.next().unwrap(), fields.next().unwrap());
    let changed = state.path().join("known_hosts_changed");
    std::fs::write(
        &changed,
        format!("[127.0.0.1]:{} {kind} {other}\n", server.port),
    )
    .unwrap();
    let out = run_once(
        &server.url("env.git"),
        state.path(),
        &[
            ("AMAGENT_GIT_SSH_KEY", &key),
            ("AMAGENT_GIT_KNOWN_HOSTS", changed.to_str().unwrap()),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("has CHANGED"), "{stderr}");
}

#[test]
fn no_token_over_plain_http_nor_to_another_port_after_a_redirect() {
    let trap = token_trap::Trap::start();
    let mirror = tempfile::tempdir().unwrap();
    let token = "ghp_MustNeverLeave000";
    // A service source on plain http that asks for credentials.
    let creds = GitCredentials::default()
        .with_token(token)
        .trusting(&trap.url_401());
    let err = EnvRepo::open_or_clone(&trap.url_401(), &mirror.path().join("a"), &creds)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("over plain http"), "{err}");
    // Plain http allowed for a trusted host, which redirects to another port that asks.
    let creds = GitCredentials::default()
        .with_token(token)
        .trusting(&trap.url_redirect())
        .allow_http(trap.redirector_origin());
    let err = EnvRepo::open_or_clone(&trap.url_redirect(), &mirror.path().join("b"), &creds)
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("not a host it is meant for"),
        "{err}"
    );
    assert!(trap.redirects_served() > 0, "the redirect was followed");
    assert_eq!(
        trap.authorization_headers_seen(),
        0,
        "a token reached the server"
    );
}

#[test]
fn an_ssh_key_the_server_does_not_authorise_is_refused_clearly() {
    let server = SshGitServer::start();
    let _work = env_repo(&server.root);
    let state = tempfile::tempdir().unwrap();
    let stranger = state.path().join("stranger_key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(keygen.success());
    let out = run_once(
        &server.url("env.git"),
        state.path(),
        &[
            ("AMAGENT_GIT_SSH_KEY", stranger.to_str().unwrap()),
            (
                "AMAGENT_GIT_KNOWN_HOSTS",
                server.known_hosts.to_str().unwrap(),
            ),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("refused the SSH key"), "{stderr}");
    assert!(stderr.contains("AMAGENT_GIT_SSH_KEY="), "{stderr}");
    let private = std::fs::read_to_string(&stranger).unwrap();
    assert!(!stderr.contains(private.lines().nth(1).unwrap()));
}
