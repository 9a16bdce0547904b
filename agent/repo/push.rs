//! Writing to the environments repo's remote: a promotion's tag, and the branch of a revert
//! pull request (one commit that changes one file, made without a work tree).

use super::{EnvRepo, GitCredentials, RepoError, redact_url};
use git2::Oid;
use std::path::Path;

impl EnvRepo {
    /// Tag `commit` as `name` (lightweight) and push the tag to `url`.
    pub fn tag_and_push(
        &self,
        name: &str,
        commit: &str,
        url: &str,
        creds: &GitCredentials,
    ) -> Result<(), RepoError> {
        let object = self
            .repo
            .find_object(self.resolve(commit)?, None)
            .map_err(git_err(url))?;
        self.repo
            .tag_lightweight(name, &object, false)
            .map_err(git_err(url))?;
        let refname = format!("refs/tags/{name}");
        let pushed = self.push_ref(&refname, &format!("tag {name}"), url, creds);
        if pushed.is_err() {
            // Not on the remote: not here either, so a retry can create it again.
            let _ = self.repo.tag_delete(name);
        }
        pushed
    }

    /// A commit on `parent` whose tree is `parent`'s with the file at `path` holding `text`;
    /// no ref moves. Author and committer: `who`.
    pub fn commit_file(
        &self,
        parent: &str,
        path: &str,
        text: &str,
        message: &str,
        who: &git2::Signature<'_>,
    ) -> Result<Oid, RepoError> {
        let err = |e: git2::Error| RepoError::Read {
            what: format!("a commit changing {path}"),
            message: e.message().to_string(),
        };
        let parent = self.repo.find_commit(self.resolve(parent)?).map_err(err)?;
        let mut index = git2::Index::new().map_err(err)?;
        index.read_tree(&parent.tree().map_err(err)?).map_err(err)?;
        let mut entry = index
            .get_path(Path::new(path), 0)
            .ok_or_else(|| RepoError::Read {
                what: path.to_string(),
                message: "not in the commit".into(),
            })?;
        entry.id = self.repo.blob(text.as_bytes()).map_err(err)?;
        entry.file_size = u32::try_from(text.len()).unwrap_or(u32::MAX);
        index.add(&entry).map_err(err)?;
        let tree = self
            .repo
            .find_tree(index.write_tree_to(&self.repo).map_err(err)?)
            .map_err(err)?;
        self.repo
            .commit(None, who, who, message, &tree, &[&parent])
            .map_err(err)
    }

    /// Create branch `branch` at `commit` and push it to `url` (a branch the remote already
    /// has is refused: nothing is overwritten).
    pub fn push_branch(
        &self,
        branch: &str,
        commit: Oid,
        url: &str,
        creds: &GitCredentials,
    ) -> Result<(), RepoError> {
        let refname = format!("refs/heads/{branch}");
        self.repo
            .reference(&refname, commit, false, "amagent: revert pull request")
            .map_err(git_err(url))?;
        let pushed = self.push_ref(&refname, &format!("branch {branch}"), url, creds);
        if pushed.is_err() {
            let _ = self
                .repo
                .find_reference(&refname)
                .and_then(|mut r| r.delete());
        }
        pushed
    }

    /// Push `refname` to the same name on `url`, never forced.
    fn push_ref(
        &self,
        refname: &str,
        what: &str,
        url: &str,
        creds: &GitCredentials,
    ) -> Result<(), RepoError> {
        let (clean, creds) = creds.for_remote(url);
        let mut remote = self.repo.remote_anonymous(&clean).map_err(git_err(url))?;
        // A server that refuses the ref (it exists, it is protected) says so here, not as an error.
        let rejected = std::cell::RefCell::new(None::<String>);
        let (mut callbacks, refusal) = creds.callbacks(&clean);
        callbacks.push_update_reference(|refname, status| {
            if let Some(why) = status {
                *rejected.borrow_mut() = Some(format!("the server rejected {refname}: {why}"));
            }
            Ok(())
        });
        let mut opts = git2::PushOptions::new();
        opts.remote_callbacks(callbacks);
        opts.follow_redirects(git2::RemoteRedirect::Initial);
        let pushed = remote
            .push(&[format!("{refname}:{refname}")], Some(&mut opts))
            .map_err(|e| RepoError::Push {
                what: what.to_string(),
                url: redact_url(url),
                message: refusal.explain(&e),
            });
        drop(opts);
        match (pushed, rejected.into_inner()) {
            (Ok(()), Some(why)) => Err(RepoError::Push {
                what: what.to_string(),
                url: redact_url(url),
                message: why,
            }),
            (result, _) => result,
        }
    }
}

fn git_err(url: &str) -> impl Fn(git2::Error) -> RepoError + '_ {
    move |e| RepoError::Fetch {
        url: redact_url(url),
        message: e.message().to_string(),
    }
}
