//! One builder storage, many builds. containers/storage (buildah 1.28) loses a race when one
//! process removes its image while another commits an image that shares a layer with it: the
//! commit fails with "layer not known". So builds and pushes out of the storage hold a shared
//! lock, and removing a local image holds it alone. The lock is a file per user, as the builder's
//! storage is (root: /var/lib/containers, others: ~/.local/share/containers).

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

/// Held while it lives; dropping the file releases the lock.
pub struct StorageLock {
    _file: File,
}

#[derive(Clone, Copy)]
enum Mode {
    Shared,
    Exclusive,
}

impl StorageLock {
    /// For building into and pushing out of the storage: any number at once.
    pub async fn shared() -> Option<StorageLock> {
        Self::take(lock_path(), Mode::Shared).await
    }

    /// For removing an image: waits until no build or push is under way.
    pub async fn exclusive() -> Option<StorageLock> {
        Self::take(lock_path(), Mode::Exclusive).await
    }

    /// `None` (and a warning) when the lock file cannot be used: the build still runs, as it
    /// did before there was a lock, and may meet the race this prevents.
    async fn take(path: PathBuf, mode: Mode) -> Option<StorageLock> {
        let shown = path.display().to_string();
        let taken = tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            match mode {
                Mode::Shared => file.lock_shared()?,
                Mode::Exclusive => file.lock()?,
            }
            Ok::<_, std::io::Error>(file)
        })
        .await;
        match taken {
            Ok(Ok(file)) => Some(StorageLock { _file: file }),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, path = %shown, "cannot lock the builder storage");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot lock the builder storage");
                None
            }
        }
    }
}

/// `$XDG_DATA_HOME/amagent/builder.lock`, else under `~/.local/share`, else the temp dir.
fn lock_path() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    data.join("amagent").join("builder.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shared_holders_coexist_and_exclusive_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("amagent/builder.lock");
        let first = StorageLock::take(path.clone(), Mode::Shared).await;
        let second = StorageLock::take(path.clone(), Mode::Shared).await;
        assert!(
            first.is_some() && second.is_some(),
            "shared holders coexist"
        );
        let exclusive = tokio::spawn(StorageLock::take(path.clone(), Mode::Exclusive));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(
            !exclusive.is_finished(),
            "exclusive waits while builds hold it"
        );
        drop(first);
        drop(second);
        let held = exclusive.await.unwrap();
        assert!(held.is_some());
        assert!(path.is_file());
    }
}
