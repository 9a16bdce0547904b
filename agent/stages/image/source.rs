//! The service's source at the ref the spec names: a cached bare mirror per URL, fetched, the
//! ref resolved to its commit (a tag to the commit it points at), and the tree exported into a
//! fresh directory. The build is reproducible from (URL, commit, pipeline).

use crate::repo::{EnvRepo, GitCredentials, RepoError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub struct Checkout {
    pub commit: String,
    /// Commit time, seconds since the epoch.
    pub committed_at: i64,
    /// The exported tree (removed on drop).
    pub dir: tempfile::TempDir,
}

/// `<cache>/sources/<sha256(url)[..16]>`: one mirror per source URL.
pub fn mirror_dir(cache: &Path, url: &str) -> PathBuf {
    let hash = Sha256::digest(url.as_bytes());
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    cache.join("sources").join(hex)
}

pub fn checkout(
    url: &str,
    reference: &str,
    cache: &Path,
    creds: &GitCredentials,
) -> Result<Checkout, RepoError> {
    let mirror = mirror_dir(cache, url);
    crate::repo::private_dir(mirror.parent().expect("has a parent")).map_err(|e| {
        RepoError::Read {
            what: mirror.display().to_string(),
            message: e.to_string(),
        }
    })?;
    // One checkout of a mirror at a time: two services built from one repository at once (or
    // two agents sharing a cache) would otherwise both clone into the same directory.
    let _lock = lock_mirror(&mirror)?;
    let repo = EnvRepo::open_or_clone(url, &mirror, creds)?;
    // A tag first (refs/tags/<ref>), then whatever git makes of it (a full SHA).
    let commit = repo
        .resolve(&format!("refs/tags/{reference}"))
        .or_else(|_| repo.resolve(reference))?
        .to_string();
    let dir = tempfile::Builder::new()
        .prefix("amagent-build-")
        .tempdir()
        .map_err(|e| RepoError::Read {
            what: "a temporary directory".into(),
            message: e.to_string(),
        })?;
    repo.export(&commit, dir.path())?;
    let committed_at = repo.commit_time(&commit)?;
    Ok(Checkout {
        commit,
        committed_at,
        dir,
    })
}

/// An exclusive lock on `<mirror>.lock` (flock: also between handles of one process), held
/// until the returned file is dropped. Blocks: call off the async workers.
fn lock_mirror(mirror: &Path) -> Result<std::fs::File, RepoError> {
    let path = mirror.with_extension("lock");
    let failed = |e: std::io::Error| RepoError::Read {
        what: path.display().to_string(),
        message: e.to_string(),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    file.lock().map_err(failed)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_is_locked_until_its_checkout_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = dir.path().join("sources/abc");
        std::fs::create_dir_all(mirror.parent().unwrap()).unwrap();
        let held = lock_mirror(&mirror).unwrap();
        let other = std::fs::OpenOptions::new()
            .write(true)
            .open(mirror.with_extension("lock"))
            .unwrap();
        assert!(other.try_lock().is_err(), "a second checkout waits");
        drop(held);
        assert!(other.try_lock().is_ok(), "and goes on once the first ends");
    }
}
