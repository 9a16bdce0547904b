//! What `plan` tells about the git repository besides the plan (issue 20, item 6): the
//! uncommitted changes it does not plan, and how far back a `REV~N` can reach.

use crate::config::units::ENVIRONMENTS_DIR;
use std::path::Path;

/// Uncommitted (staged, unstaged or untracked) files under environments/ or pipelines/ of the
/// work tree at `dir`: plan reads commits only, so these are not in the plan. Empty for a bare
/// repository or one that cannot be read here.
pub fn uncommitted_config(dir: &Path) -> Vec<String> {
    let Ok(repo) = git2::Repository::open(dir) else {
        return Vec::new();
    };
    if repo.is_bare() {
        return Vec::new();
    }
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    let Ok(statuses) = repo.statuses(Some(&mut options)) else {
        return Vec::new();
    };
    statuses
        .iter()
        .filter(|s| s.status() != git2::Status::CURRENT && !s.status().is_ignored())
        .filter_map(|s| s.path().ok().map(String::from))
        .filter(|p| p.starts_with(&format!("{ENVIRONMENTS_DIR}/")) || p.starts_with("pipelines/"))
        .collect()
}

/// For `BASE~N` that goes back past the first commit: a message saying how many commits the
/// history has (git's own says "parent 0 does not exist").
pub fn beyond_history(dir: &Path, rev: &str) -> Option<String> {
    let (base, steps) = rev.rsplit_once('~')?;
    let steps: usize = steps.parse().ok()?;
    let repo = git2::Repository::open(dir).ok()?;
    let start = repo.revparse_single(base).ok()?.peel_to_commit().ok()?;
    // First parents only: what `~` follows.
    let mut depth = 0;
    let mut commit = start;
    while let Ok(parent) = commit.parent(0) {
        depth += 1;
        commit = parent;
    }
    (steps > depth).then(|| {
        let oldest = match depth {
            0 => format!("{base} is the first commit"),
            n => format!("{base}~{n} is the first commit"),
        };
        format!(
            "`{rev}` goes back further than the history: {base} has {} commit(s) ({oldest}); \
             omit --from to plan {base} against its parent",
            depth + 1
        )
    })
}
