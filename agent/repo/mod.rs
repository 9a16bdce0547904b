//! The environments repository, through git2: open or clone, fetch, read the model at any
//! commit, semver tags, and the commits (with their PR numbers) between two revisions.
//! Knows nothing of AWS or of how a plan is executed.

pub mod credentials;
pub mod host_keys;
mod pr;
mod push;
pub mod remote_url;
mod sources;

pub use credentials::{GitCredentials, redact_url};
pub use pr::pr_number_from_message;

use crate::config::{self, Diagnostics, Model};
use git2::{Oid, Repository};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("cannot open a git repository at {path}: {message}")]
    Open { path: String, message: String },
    #[error("cannot clone {url}: {message}")]
    Clone { url: String, message: String },
    #[error("cannot fetch from {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("cannot push {what} to {url}: {message}")]
    Push {
        what: String,
        url: String,
        message: String,
    },
    #[error("revision `{rev}` not found: {message}")]
    RevisionNotFound { rev: String, message: String },
    #[error("cannot read {what}: {message}")]
    Read { what: String, message: String },
    #[error("the configuration at {rev} is invalid ({} problem(s)):\n{diagnostics}", diagnostics.len())]
    InvalidConfig {
        rev: String,
        diagnostics: Diagnostics,
    },
}

/// A commit with what the agent needs to report on it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CommitInfo {
    pub id: String,
    pub summary: String,
    pub message: String,
    pub author: String,
    /// The pull request this commit merged, read from its message (fallback for the API).
    pub pull_request: Option<u64>,
}

/// A tag whose name is `<prefix><semver>`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SemverTag {
    pub name: String,
    pub version: semver::Version,
    pub commit: String,
}

pub struct EnvRepo {
    repo: Repository,
}

impl EnvRepo {
    /// Open a repository (work tree or bare) at `path` or any parent of it.
    pub fn open(path: &Path) -> Result<Self, RepoError> {
        Repository::discover(path)
            .map(|repo| EnvRepo { repo })
            .map_err(|e| RepoError::Open {
                path: path.display().to_string(),
                message: e.message().to_string(),
            })
    }

    /// Clone `url` (local path, file://, https:// or ssh) as a bare mirror into `dest`, or open
    /// and fetch it if `dest` already holds a clone. `dest` is made private (0700), and the URL
    /// stored in its config carries no user-info: a token in `url` is offered through the
    /// credential callback only.
    pub fn open_or_clone(
        url: &str,
        dest: &Path,
        creds: &GitCredentials,
    ) -> Result<Self, RepoError> {
        let (clean, creds) = creds.for_remote(url);
        let clone_err = |message: String| RepoError::Clone {
            url: redact_url(url),
            message,
        };
        if dest.join("HEAD").exists() || dest.join(".git").exists() {
            let repo = Self::open(dest)?;
            // A mirror an older version cloned may hold a token in its config: drop it.
            if let Ok(origin) = repo.repo.find_remote("origin")
                && origin.url().ok().is_some_and(|u| u != clean)
            {
                let _ = repo.repo.remote_set_url("origin", &clean);
            }
            repo.fetch(url, &creds)?;
            return Ok(repo);
        }
        private_dir(dest)
            .map_err(|e| clone_err(format!("cannot create {}: {e}", dest.display())))?;
        let (callbacks, refusal) = creds.callbacks(&clean);
        let mut fetch = git2::FetchOptions::new();
        fetch.remote_callbacks(callbacks);
        fetch.download_tags(git2::AutotagOption::All);
        fetch.follow_redirects(git2::RemoteRedirect::Initial);
        tracing::info!(url = %redact_url(url), dest = %dest.display(), "cloning environments repo");
        git2::build::RepoBuilder::new()
            .bare(true)
            .fetch_options(fetch)
            .remote_create(|repo, name, url| {
                repo.remote_with_fetch(name, url, "+refs/heads/*:refs/heads/*")
            })
            .clone(&clean, dest)
            .map(|repo| EnvRepo { repo })
            .map_err(|e| clone_err(refusal.explain(&e)))
    }

    /// Fetch every branch and tag from `url` into this repository (branches as local heads, as
    /// in a mirror), pruning what the remote deleted.
    pub fn fetch(&self, url: &str, creds: &GitCredentials) -> Result<(), RepoError> {
        // In a work tree the checked-out branch cannot be overwritten: fetch to remote-tracking refs.
        let heads = if self.repo.is_bare() {
            "+refs/heads/*:refs/heads/*"
        } else {
            "+refs/heads/*:refs/remotes/origin/*"
        };
        // Pull-request heads (GitHub's refs/pull/N/head) feed the plan preview.
        let specs = [
            heads,
            "+refs/tags/*:refs/tags/*",
            "+refs/pull/*/head:refs/pull/*/head",
        ];
        self.fetch_refspecs(url, creds, &specs, git2::FetchPrune::On)?;
        tracing::debug!(url = %redact_url(url), "fetched environments repo");
        Ok(())
    }

    /// Fetch one commit by its id (a pull request's base that no branch holds any more, say).
    /// Servers that refuse to serve an object by id answer with an error.
    pub fn fetch_commit(
        &self,
        url: &str,
        creds: &GitCredentials,
        sha: &str,
    ) -> Result<(), RepoError> {
        Oid::from_str(sha).map_err(|e| RepoError::RevisionNotFound {
            rev: sha.to_string(),
            message: e.message().to_string(),
        })?;
        self.fetch_refspecs(url, creds, &[sha], git2::FetchPrune::Off)
    }

    /// Whether the commit `sha` is in this repository.
    pub fn has_commit(&self, sha: &str) -> bool {
        Oid::from_str(sha)
            .and_then(|oid| self.repo.find_commit(oid))
            .is_ok()
    }

    /// Where `head` left `branch` (their merge base), when both are known here.
    pub fn fork_point(&self, head: &str, branch: &str) -> Option<Oid> {
        let head = self.resolve(head).ok()?;
        let tip = [
            format!("refs/heads/{branch}"),
            format!("refs/remotes/origin/{branch}"),
        ]
        .iter()
        .find_map(|r| self.resolve(r).ok())?;
        self.repo.merge_base(head, tip).ok()
    }

    fn fetch_refspecs(
        &self,
        url: &str,
        creds: &GitCredentials,
        specs: &[&str],
        prune: git2::FetchPrune,
    ) -> Result<(), RepoError> {
        let err = |e: git2::Error| RepoError::Fetch {
            url: redact_url(url),
            message: e.message().to_string(),
        };
        let (clean, creds) = creds.for_remote(url);
        let mut remote = self.repo.remote_anonymous(&clean).map_err(err)?;
        let (callbacks, refusal) = creds.callbacks(&clean);
        let mut opts = git2::FetchOptions::new();
        opts.remote_callbacks(callbacks);
        opts.prune(prune);
        opts.download_tags(git2::AutotagOption::All);
        // Only the first request may be redirected (as git does by default); the credential
        // callback refuses the token to any host it is not meant for anyway.
        opts.follow_redirects(git2::RemoteRedirect::Initial);
        remote
            .fetch(specs, Some(&mut opts), None)
            .map_err(|e| RepoError::Fetch {
                url: redact_url(url),
                message: refusal.explain(&e),
            })
    }

    /// The commit a revision (SHA, branch, tag, `HEAD~2`, …) names.
    pub fn resolve(&self, rev: &str) -> Result<Oid, RepoError> {
        self.repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id())
            .map_err(|e| RepoError::RevisionNotFound {
                rev: rev.to_string(),
                message: e.message().to_string(),
            })
    }

    /// The validated model at a revision.
    pub fn model_at(&self, rev: &str) -> Result<Model, RepoError> {
        let files = self.sources_at(rev)?;
        config::load_sources(&files).map_err(|diagnostics| RepoError::InvalidConfig {
            rev: rev.to_string(),
            diagnostics,
        })
    }

    /// Tags named `<prefix><semver>`, oldest version first.
    pub fn semver_tags(&self, prefix: &str) -> Result<Vec<SemverTag>, RepoError> {
        let names = self.repo.tag_names(None).map_err(|e| RepoError::Read {
            what: "tags".into(),
            message: e.message().to_string(),
        })?;
        let mut tags: Vec<SemverTag> = names
            .iter()
            .filter_map(|name| {
                let name = name.ok().flatten()?;
                let version = semver::Version::parse(name.strip_prefix(prefix)?).ok()?;
                let commit = self.resolve(&format!("refs/tags/{name}")).ok()?;
                Some(SemverTag {
                    name: name.to_string(),
                    version,
                    commit: commit.to_string(),
                })
            })
            .collect();
        tags.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(tags)
    }

    /// Commits reachable from `to` but not from `from`, oldest first.
    pub fn commits_between(&self, from: &str, to: &str) -> Result<Vec<CommitInfo>, RepoError> {
        self.walk_between(from, to, false)
    }

    /// The commits that landed on `to`'s branch since `from`, oldest first: first parents only,
    /// so a merged pull request is its merge (or squash) commit, not the branch's commits.
    pub fn landed_between(&self, from: &str, to: &str) -> Result<Vec<CommitInfo>, RepoError> {
        self.walk_between(from, to, true)
    }

    fn walk_between(
        &self,
        from: &str,
        to: &str,
        first_parent: bool,
    ) -> Result<Vec<CommitInfo>, RepoError> {
        let (from, to) = (self.resolve(from)?, self.resolve(to)?);
        let err = |e: git2::Error| RepoError::Read {
            what: "history".into(),
            message: e.message().to_string(),
        };
        let mut walk = self.repo.revwalk().map_err(err)?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
            .map_err(err)?;
        if first_parent {
            walk.simplify_first_parent().map_err(err)?;
        }
        walk.push(to).map_err(err)?;
        walk.hide(from).map_err(err)?;
        walk.map(|oid| {
            let commit = self.repo.find_commit(oid.map_err(err)?).map_err(err)?;
            let message = commit.message().unwrap_or_default().to_string();
            Ok(CommitInfo {
                id: commit.id().to_string(),
                summary: commit
                    .summary()
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .to_string(),
                pull_request: pr_number_from_message(&message),
                message,
                author: commit.author().name().unwrap_or_default().to_string(),
            })
        })
        .collect()
    }

    /// When `commit` was committed (seconds since the epoch): reproducible builds stamp it.
    pub fn commit_time(&self, commit: &str) -> Result<i64, RepoError> {
        let oid = self.resolve(commit)?;
        self.repo
            .find_commit(oid)
            .map(|c| c.time().seconds())
            .map_err(|e| RepoError::Read {
                what: format!("commit {commit}"),
                message: e.message().to_string(),
            })
    }

    /// Write the tree of `commit` into `dest` (a fresh directory): the build context.
    pub fn export(&self, commit: &str, dest: &Path) -> Result<(), RepoError> {
        let err = |e: git2::Error| RepoError::Read {
            what: format!("the tree of {commit}"),
            message: e.message().to_string(),
        };
        let oid = self.resolve(commit)?;
        let tree = self
            .repo
            .find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(err)?;
        let mut checkout = git2::build::CheckoutBuilder::new();
        checkout.target_dir(dest).force().recreate_missing(true);
        self.repo
            .checkout_tree(tree.as_object(), Some(&mut checkout))
            .map_err(err)
    }

    /// The first commit of the history leading to `rev` (for "plan everything since the start").
    pub fn root_commit(&self, rev: &str) -> Result<Oid, RepoError> {
        let mut commit =
            self.repo
                .find_commit(self.resolve(rev)?)
                .map_err(|e| RepoError::Read {
                    what: "history".into(),
                    message: e.message().to_string(),
                })?;
        while let Ok(parent) = commit.parent(0) {
            commit = parent;
        }
        Ok(commit.id())
    }
}

/// Create `dir` (and its parents) readable by its owner only: mirrors and checkouts of private
/// repositories stay private.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
