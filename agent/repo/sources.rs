//! The configuration files at a revision, read from git objects under the same rules as the
//! disk reader (`config::read_dir`): links, non-files and oversized files are refused with the
//! same diagnostics, and sizes are checked from the object header before a blob is loaded.

use super::{EnvRepo, RepoError};
use crate::config::read_dir::{Budget, not_regular, symlink_refused};
use crate::config::units::{ENVIRONMENTS_DIR, FileKind, PIPELINES_DIR};
use crate::config::{Diagnostic, Diagnostics, SourceFile};
use git2::{FileMode, ObjectType, TreeEntry};
use std::path::Path;

fn is_link(entry: &TreeEntry<'_>) -> bool {
    entry.filemode() == i32::from(FileMode::Link)
}

impl EnvRepo {
    /// The configuration files (environments/*.yaml, pipelines/*.yaml) at a revision. A
    /// revision without those directories has none; one with a refused entry is invalid.
    pub fn sources_at(&self, rev: &str) -> Result<Vec<SourceFile>, RepoError> {
        let oid = self.resolve(rev)?;
        let tree = self
            .repo
            .find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(read_err(format!("the tree of {rev}")))?;
        let mut files = Vec::new();
        let mut refused = Vec::new();
        let mut budget = Budget::default();
        for dir in [ENVIRONMENTS_DIR, PIPELINES_DIR] {
            let Ok(entry) = tree.get_path(Path::new(dir)) else {
                continue;
            };
            if is_link(&entry) {
                refused.push(symlink_refused(dir, &self.link_target(&entry, dir, rev)?));
                continue;
            }
            let Ok(subtree) = entry.to_object(&self.repo).and_then(|o| o.peel_to_tree()) else {
                continue;
            };
            for item in subtree.iter() {
                let Ok(name) = item.name() else { continue };
                let path = format!("{dir}/{name}");
                if FileKind::of(&path).is_none() {
                    continue;
                }
                if let Some(text) = self.read_entry(&item, &path, rev, &mut budget, &mut refused)? {
                    files.push(SourceFile { path, text });
                }
            }
        }
        if !refused.is_empty() {
            let mut diagnostics = Diagnostics(refused);
            diagnostics.sort();
            return Err(RepoError::InvalidConfig {
                rev: rev.to_string(),
                diagnostics,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    fn read_entry(
        &self,
        item: &TreeEntry<'_>,
        path: &str,
        rev: &str,
        budget: &mut Budget,
        refused: &mut Vec<Diagnostic>,
    ) -> Result<Option<String>, RepoError> {
        if is_link(item) {
            refused.push(symlink_refused(path, &self.link_target(item, path, rev)?));
            return Ok(None);
        }
        match item.kind() {
            Some(ObjectType::Blob) => {}
            // A directory (or submodule) named like a file: not ours, as on disk.
            Some(ObjectType::Tree) | Some(ObjectType::Commit) => return Ok(None),
            _ => {
                refused.push(not_regular(path));
                return Ok(None);
            }
        }
        let what = || format!("{path} at {rev}");
        let odb = self.repo.odb().map_err(read_err(what()))?;
        let (size, _) = odb.read_header(item.id()).map_err(read_err(what()))?;
        if !budget.admit(path, size as u64, refused) {
            return Ok(None);
        }
        let blob = self.repo.find_blob(item.id()).map_err(read_err(what()))?;
        String::from_utf8(blob.content().to_vec())
            .map(Some)
            .map_err(|_| RepoError::Read {
                what: what(),
                message: "the file is not UTF-8 text".into(),
            })
    }

    /// The text of a link (bounded: only to judge whether it leaves the repository).
    fn link_target(
        &self,
        entry: &TreeEntry<'_>,
        path: &str,
        rev: &str,
    ) -> Result<String, RepoError> {
        let what = || format!("{path} at {rev}");
        let odb = self.repo.odb().map_err(read_err(what()))?;
        let (size, _) = odb.read_header(entry.id()).map_err(read_err(what()))?;
        if size > 4096 {
            return Ok("/".into()); // no file system has such a path: treat it as leaving
        }
        let blob = self.repo.find_blob(entry.id()).map_err(read_err(what()))?;
        let content = blob.content();
        Ok(String::from_utf8_lossy(&content[..content.len().min(4096)]).into_owned())
    }
}

fn read_err(what: String) -> impl FnOnce(git2::Error) -> RepoError {
    move |e: git2::Error| RepoError::Read {
        what,
        message: e.message().to_string(),
    }
}
