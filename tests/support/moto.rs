//! moto (AWS's wire protocol, faked) for the adapter tests: one `moto_server` per test binary on
//! a free loopback port, reset before each test, stopped when the test process exits. A missing
//! moto is a loud failure, never a skip: `scripts/test` installs it.

use super::free_port;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

pub struct Moto {
    pub endpoint: String,
    /// The watchdog shell; it outlives the test process only until its next check.
    _watchdog: std::process::Child,
}

static SERVER: OnceLock<Moto> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::const_new(());

fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let venv = std::env::var_os("AMAGENT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/amagent-venv"));
    let path = venv.join("bin/moto_server");
    assert!(
        path.exists(),
        "moto_server not found at {} — run scripts/test (it installs moto[server]==5.2.5 there) or set MOTO_SERVER",
        path.display()
    );
    path
}

fn start() -> Moto {
    let port = free_port();
    let server = moto_server();
    // A watchdog shell: runs moto and stops it when this test process is gone, since a static
    // child is never dropped.
    let script = format!(
        "'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
        server.display(),
        std::process::id()
    );
    let watchdog = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("sh starts");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto {
        endpoint,
        _watchdog: watchdog,
    }
}

/// The shared moto server, reset, and a guard that keeps other tests of this binary off it
/// until the caller is done.
pub async fn fresh() -> (MutexGuard<'static, ()>, String) {
    let guard = SERIAL.lock().await;
    let endpoint = SERVER.get_or_init(start).endpoint.clone();
    let reset = reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/reset"))
        .send()
        .await
        .expect("moto answers");
    assert!(
        reset.status().is_success(),
        "moto reset: {}",
        reset.status()
    );
    (guard, endpoint)
}
