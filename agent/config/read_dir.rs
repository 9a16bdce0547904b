//! Configuration files from a checkout on disk, and the rules both readers (this one and the
//! git reader, `repo::EnvRepo::sources_at`) apply to each entry before reading it, so that
//! `validate`, `plan` and the agent refuse the same things with the same words:
//!
//! * a symbolic link: `validate` used to follow one to `/etc/shadow` (and print its lines as
//!   unknown fields) while `plan` read the link's text; both now refuse it;
//! * anything but a regular file (FIFO, device, socket): opening a FIFO blocks, a device never
//!   ends;
//! * a file over [`limits::MAX_FILE_BYTES`], or past [`limits::MAX_REPO_BYTES`] in total: not
//!   even read.

use super::diagnostic::{Diagnostic, Diagnostics};
use super::limits;
use super::load::load_sources;
use super::model::Model;
use super::units::{ENVIRONMENTS_DIR, FileKind, PIPELINES_DIR, SourceFile};
use std::io::Read;
use std::path::Path;

/// Problems reading the directory itself (not the configuration in it).
#[derive(Debug, thiserror::Error)]
pub enum LoadDirError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
}

fn file_level(path: &str, message: String, hint: &str) -> Diagnostic {
    Diagnostic {
        file: path.to_string(),
        line: 1,
        column: 1,
        message,
        hint: Some(hint.to_string()),
    }
}

/// `path` (relative to the repository root) is a symbolic link to `target`.
pub fn symlink_refused(path: &str, target: &str) -> Diagnostic {
    let message = if link_leaves_repo(path, target) {
        format!("{path} is a symbolic link to a path outside the repository")
    } else {
        format!("{path} is a symbolic link")
    };
    file_level(
        path,
        message,
        "amagent reads configuration only from regular files: replace the link with the file itself",
    )
}

/// `path` is a FIFO, device or socket.
pub fn not_regular(path: &str) -> Diagnostic {
    file_level(
        path,
        format!("{path} is not a regular file"),
        "amagent reads configuration only from regular files",
    )
}

/// Whether a link at `path` (relative to the root) pointing to `target` resolves outside the
/// root, judged on the text alone (the git reader has no file system to ask).
pub fn link_leaves_repo(path: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return true;
    }
    let mut depth = path.matches('/').count() as isize;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// The running total of bytes read at one revision, against [`limits::MAX_REPO_BYTES`].
#[derive(Default)]
pub struct Budget {
    total: u64,
}

impl Budget {
    /// Whether `path`, `bytes` long, may be read; pushes why not to `out`.
    pub fn admit(&mut self, path: &str, bytes: u64, out: &mut Vec<Diagnostic>) -> bool {
        if bytes > limits::MAX_FILE_BYTES {
            out.push(limits::file_too_large(path, bytes));
            return false;
        }
        let before = self.total;
        self.total = self.total.saturating_add(bytes);
        if self.total > limits::MAX_REPO_BYTES {
            if before <= limits::MAX_REPO_BYTES {
                out.push(limits::repo_too_large(path, self.total));
            }
            return false;
        }
        true
    }
}

/// Read `root/environments/*.yaml` and `root/pipelines/*.yaml` from disk and load them.
pub fn load_dir(root: &Path) -> Result<Model, LoadDirError> {
    let files = read_dir_sources(root)?;
    load_sources(&files).map_err(LoadDirError::Invalid)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoadDirError + '_ {
    move |source| LoadDirError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The configuration files under `root`, sorted by path.
pub fn read_dir_sources(root: &Path) -> Result<Vec<SourceFile>, LoadDirError> {
    let mut files = Vec::new();
    let mut refused = Vec::new();
    let mut budget = Budget::default();
    for dir in [ENVIRONMENTS_DIR, PIPELINES_DIR] {
        let full = root.join(dir);
        match std::fs::symlink_metadata(&full) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(io(&full)(source)),
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&full).map_err(io(&full))?;
                refused.push(symlink_refused(dir, &target.to_string_lossy()));
                continue;
            }
            Ok(m) if !m.is_dir() => continue,
            Ok(_) => {}
        }
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&full).map_err(io(&full))? {
            names.push(entry.map_err(io(&full))?.file_name());
        }
        // Sorted, so the repository budget runs out at the same file as in the git reader.
        names.sort();
        for name in names {
            let rel = format!("{dir}/{}", name.to_string_lossy());
            if FileKind::of(&rel).is_some()
                && let Some(text) = read_entry(&full.join(&name), &rel, &mut budget, &mut refused)?
            {
                files.push(SourceFile { path: rel, text });
            }
        }
    }
    if !refused.is_empty() {
        let mut d = Diagnostics(refused);
        d.sort();
        return Err(LoadDirError::Invalid(d));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// One directory entry's text, or None when it is not ours to read or was refused.
fn read_entry(
    path: &Path,
    rel: &str,
    budget: &mut Budget,
    refused: &mut Vec<Diagnostic>,
) -> Result<Option<String>, LoadDirError> {
    // lstat: never follow a link, never open a FIFO.
    let meta = std::fs::symlink_metadata(path).map_err(io(path))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = std::fs::read_link(path).map_err(io(path))?;
        refused.push(symlink_refused(rel, &target.to_string_lossy()));
        return Ok(None);
    }
    if kind.is_dir() {
        return Ok(None);
    }
    if !kind.is_file() {
        refused.push(not_regular(rel));
        return Ok(None);
    }
    if !budget.admit(rel, meta.len(), refused) {
        return Ok(None);
    }
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut text = String::new();
    // Bounded even if the file grew since the lstat.
    file.take(limits::MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io(path))?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_leaving_the_repository() {
        assert!(link_leaves_repo("environments/x.yaml", "/etc/shadow"));
        assert!(link_leaves_repo("environments/x.yaml", "../../etc/shadow"));
        assert!(link_leaves_repo("environments", ".."));
        assert!(!link_leaves_repo(
            "environments/x.yaml",
            "../pipelines/api.yaml"
        ));
        assert!(!link_leaves_repo("environments/x.yaml", "y.yaml"));
    }

    #[test]
    fn budget_refuses_large_files_and_reports_the_repository_bound_once() {
        let mut budget = Budget::default();
        let mut out = Vec::new();
        assert!(!budget.admit("a", limits::MAX_FILE_BYTES + 1, &mut out));
        for i in 0..16 {
            assert!(budget.admit(&format!("f{i}"), limits::MAX_FILE_BYTES, &mut out));
        }
        assert!(!budget.admit("g", 1, &mut out));
        assert!(!budget.admit("h", 1, &mut out));
        assert_eq!(out.len(), 2, "{out:?}");
    }
}
