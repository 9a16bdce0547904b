//! SSH host keys checked against a known_hosts file (OpenSSH format, hashed names included),
//! through libssh2's own known-hosts code (the `ssh2` crate) — the same library that carries
//! the connection. An unknown or changed key is refused, never accepted silently.

use base64::Engine;
use std::path::{Path, PathBuf};

/// Where host keys are read from: `AMAGENT_GIT_KNOWN_HOSTS`, else `~/.ssh/known_hosts`.
pub const KNOWN_HOSTS_VAR: &str = "AMAGENT_GIT_KNOWN_HOSTS";

pub fn default_known_hosts() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(KNOWN_HOSTS_VAR).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".ssh/known_hosts"))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Known,
    Unknown { message: String },
    Changed { message: String },
}

/// Check `key` (the raw host key blob the server sent) for `host:port` in `file`.
pub fn check(file: Option<&Path>, host: &str, port: u16, key: &[u8]) -> Verdict {
    let fingerprint = format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha256(key))
    );
    let entry = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    let how_to_add = |file: &str| {
        format!(
            "confirm that fingerprint with the server's owner (GitHub publishes theirs), then add \
             the key: `ssh-keyscan -p {port} {host} >> {file}` (or point {KNOWN_HOSTS_VAR} at a \
             known_hosts file that has it)"
        )
    };
    let Some(file) = file else {
        return Verdict::Unknown {
            message: format!(
                "the SSH host key of {entry} ({fingerprint}) cannot be checked: no known_hosts \
                 file (set {KNOWN_HOSTS_VAR} or HOME); {}",
                how_to_add("~/.ssh/known_hosts")
            ),
        };
    };
    let shown = file.display().to_string();
    match lookup(file, host, port, key) {
        Ok(ssh2::CheckResult::Match) => Verdict::Known,
        Ok(ssh2::CheckResult::Mismatch) => Verdict::Changed {
            message: format!(
                "the SSH host key of {entry} has CHANGED: it sent {fingerprint}, which is not the \
                 key {shown} holds for it. Someone may be intercepting the connection, or the \
                 server's key was replaced; refusing to connect. If the change is legitimate, \
                 remove the old line (`ssh-keygen -R '{entry}' -f {shown}`) and {}",
                how_to_add(&shown)
            ),
        },
        Ok(_) => Verdict::Unknown {
            message: format!(
                "the SSH host key of {entry} ({fingerprint}) is not in {shown}; refusing to \
                 connect to an unknown host. To trust it, {}",
                how_to_add(&shown)
            ),
        },
        Err(reason) => Verdict::Unknown {
            message: format!(
                "the SSH host key of {entry} ({fingerprint}) cannot be checked: {reason}; {}",
                how_to_add(&shown)
            ),
        },
    }
}

fn lookup(file: &Path, host: &str, port: u16, key: &[u8]) -> Result<ssh2::CheckResult, String> {
    if !file.is_file() {
        return Err(format!("{} does not exist", file.display()));
    }
    let session = ssh2::Session::new().map_err(|e| e.to_string())?;
    let mut known = session.known_hosts().map_err(|e| e.to_string())?;
    known
        .read_file(file, ssh2::KnownHostFileKind::OpenSSH)
        .map_err(|e| format!("{} is not a known_hosts file ({e})", file.display()))?;
    Ok(known.check_port(host, port, key))
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    // An ed25519 public key blob (OpenSSH's wire format), and another one.
    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGMKbtPPzuyBXdZvWIWXPpO7/1Mg6N3atSefnFCp/fq0";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIDDkKXaWSR2kgtif8FQDy1l8CslreUiWl3G28sGVsK0W";

    fn file_with(line: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), format!("{line}\n")).unwrap();
        f
    }

    #[test]
    fn a_listed_key_passes_and_a_different_one_is_a_change() {
        let f = file_with(&format!("[127.0.0.1]:2222 ssh-ed25519 {KEY_A}"));
        let a = STANDARD.decode(KEY_A).unwrap();
        let b = STANDARD.decode(KEY_B).unwrap();
        assert_eq!(check(Some(f.path()), "127.0.0.1", 2222, &a), Verdict::Known);
        let Verdict::Changed { message } = check(Some(f.path()), "127.0.0.1", 2222, &b) else {
            panic!("a different key must be a change");
        };
        assert!(
            message.contains("[127.0.0.1]:2222 has CHANGED"),
            "{message}"
        );
        assert!(message.contains("ssh-keygen -R"), "{message}");
    }

    #[test]
    fn an_unlisted_host_or_missing_file_is_unknown_with_the_fix() {
        let f = file_with(&format!("github.com ssh-ed25519 {KEY_A}"));
        let a = STANDARD.decode(KEY_A).unwrap();
        let Verdict::Unknown { message } = check(Some(f.path()), "gitlab.com", 22, &a) else {
            panic!("unlisted host must be unknown");
        };
        assert!(message.contains("gitlab.com (SHA256:"), "{message}");
        assert!(
            message.contains("ssh-keyscan -p 22 gitlab.com >>"),
            "{message}"
        );
        let missing = Path::new("/nonexistent/known_hosts");
        assert!(matches!(
            check(Some(missing), "github.com", 22, &a),
            Verdict::Unknown { .. }
        ));
        assert!(matches!(
            check(None, "github.com", 22, &a),
            Verdict::Unknown { .. }
        ));
    }
}
