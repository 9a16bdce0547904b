//! Returning Git to the truth after a rollback (`amagent rollback --revert-pr`): a pull request
//! in the environments repo whose one commit puts each rolled-back service's entry back to the
//! spec that deployed what runs now (its text at that commit, [`edit::restore_service`]), so
//! Git matches the account. Merging it releases the pin and deploys nothing
//! (`journal::pins::hold`); closing it leaves the pin.
//!
//! The commit is made without a work tree on the base branch's tip, checked by loading the
//! whole configuration with the changed file (each service must equal its spec at the commit
//! it returns to, the rest unchanged), pushed as a new branch, then the pull request opened.
//! Must not know: clap, the console.

pub mod edit;
pub mod undo;

pub use undo::{Restore, Undo};

use crate::config::units::FileKind;
use crate::config::{self, Model, SourceFile};
use crate::repo::{EnvRepo, GitCredentials, RepoError};
use crate::report::{ReportError, Reporter};
use crate::rollback::RollbackReport;
use crate::stages::deploy::rollout::short_td;
use std::fmt::Write;

/// Where the revert goes.
pub struct Request<'a> {
    pub repo: &'a EnvRepo,
    /// The environments repo's remote (pushed to).
    pub url: &'a str,
    pub credentials: &'a GitCredentials,
    /// The branch the pull request merges into (the one the agent watches).
    pub base: &'a str,
    pub undo: &'a Undo,
    /// The pull requests whose change the rollback undid (linked from the body).
    pub undone: &'a [u64],
}

/// The pull request opened.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Opened {
    pub number: u64,
    pub branch: String,
    pub commit: String,
    pub services: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RevertError {
    #[error("no revert needed: {0}")]
    NothingToRevert(String),
    #[error("{0}")]
    Edit(#[from] edit::EditError),
    #[error("{0}")]
    Repo(#[from] RepoError),
    #[error("the reverted {file} would not say what runs: {why}; change it by hand")]
    Unfaithful { file: String, why: String },
    #[error("the branch {branch} is pushed, but the pull request was not opened: {source}")]
    PullRequest {
        branch: String,
        #[source]
        source: ReportError,
    },
}

/// The pull requests whose change `report` undid: those the agent's `apply` records of the
/// commits that were running name.
pub fn undone_pull_requests(
    report: &RollbackReport,
    records: &[crate::state::journal::Record],
) -> Vec<u64> {
    use crate::rollback::tell::{journalled_pull_requests, undone_commits};
    let mut undone: Vec<u64> = undone_commits(report, records)
        .iter()
        .flat_map(|c| journalled_pull_requests(records, &report.env, c))
        .collect();
    undone.dedup();
    undone
}

/// The environment file of `env` among `files`: the one whose top-level `name` is `env`.
fn env_file<'f>(files: &'f [SourceFile], env: &str) -> Option<&'f SourceFile> {
    files
        .iter()
        .filter(|f| FileKind::of(&f.path) == Some(FileKind::Environment))
        .find(|f| edit::top_level_name(&f.text) == Some(env))
}

/// Push a branch with the revert and open the pull request.
pub async fn open(req: &Request<'_>, reporter: &dyn Reporter) -> Result<Opened, RevertError> {
    let undo = req.undo;
    let targets: Vec<(&str, &str)> = undo
        .services
        .iter()
        .map(|s| (s.service.as_str(), s.restores.as_str()))
        .collect();
    if targets.is_empty() {
        return Err(RevertError::NothingToRevert(
            "no service was rolled back to a revision a commit of the environments repo deployed"
                .into(),
        ));
    }
    let base = req
        .repo
        .resolve(&format!("refs/remotes/origin/{}", req.base))
        .or_else(|_| req.repo.resolve(&format!("refs/heads/{}", req.base)))?
        .to_string();
    let files = req.repo.sources_at(&base)?;
    let now = env_file(&files, &undo.env).ok_or_else(|| {
        RevertError::NothingToRevert(format!("{} has no environment {}", req.base, undo.env))
    })?;
    let mut text = now.text.clone();
    let mut restored = Vec::new();
    for (service, commit) in &targets {
        let then_files = req.repo.sources_at(commit)?;
        let Some(then) = env_file(&then_files, &undo.env) else {
            continue;
        };
        let next = edit::restore_service(&text, &then.text, &now.path, service)?;
        if next != text {
            restored.push(*service);
            text = next;
        }
    }
    if restored.is_empty() {
        return Err(RevertError::NothingToRevert(format!(
            "{} already says what runs",
            now.path
        )));
    }
    check(req.repo, &files, &now.path, &text, &undo.env, &targets)?;
    let message = commit_message(undo, &restored);
    let who = git2::Signature::now("amagent", "amagent@users.noreply.github.com").map_err(|e| {
        RepoError::Read {
            what: "a signature".into(),
            message: e.message().into(),
        }
    })?;
    let commit = req
        .repo
        .commit_file(&base, &now.path, &text, &message, &who)?;
    let branch = format!("amagent/revert-{}", undo.run);
    crate::clock::real_work_blocking(|| {
        req.repo
            .push_branch(&branch, commit, req.url, req.credentials)
    })?;
    let (title, body) = render(undo, &restored, &now.path, req.undone);
    let number = reporter
        .open_pull_request(&branch, req.base, &title, &body)
        .await
        .map_err(|source| RevertError::PullRequest {
            branch: branch.clone(),
            source,
        })?;
    Ok(Opened {
        number,
        branch,
        commit: commit.to_string(),
        services: restored.iter().map(|s| s.to_string()).collect(),
    })
}

/// The configuration with the changed file must load, and each restored service must equal
/// its spec at the commit it returns to.
fn check(
    repo: &EnvRepo,
    files: &[SourceFile],
    path: &str,
    text: &str,
    env: &str,
    targets: &[(&str, &str)],
) -> Result<(), RevertError> {
    let unfaithful = |why: String| RevertError::Unfaithful {
        file: path.to_string(),
        why,
    };
    let changed: Vec<SourceFile> = files
        .iter()
        .map(|f| SourceFile {
            path: f.path.clone(),
            text: if f.path == path {
                text.to_string()
            } else {
                f.text.clone()
            },
        })
        .collect();
    let model: Model = config::load_sources(&changed).map_err(|d| unfaithful(d.to_string()))?;
    for (service, commit) in targets {
        let then = repo.model_at(commit).ok();
        let want = then
            .as_ref()
            .and_then(|m| m.environments.get(env)?.service(service));
        let got = model.environments.get(env).and_then(|e| e.service(service));
        if want.is_some() && want != got {
            return Err(unfaithful(format!(
                "{service} differs from its spec at {}",
                &commit[..7.min(commit.len())]
            )));
        }
    }
    Ok(())
}

fn commit_message(undo: &Undo, restored: &[&str]) -> String {
    let mut m = format!(
        "Revert {} {} to what runs after rollback by {}\n\n",
        undo.env,
        restored.join(", "),
        undo.actor
    );
    if let Some(reason) = &undo.reason {
        let _ = writeln!(m, "Reason: {reason}");
    }
    let _ = writeln!(m, "Run: {}", undo.run);
    m
}

/// The pull request's title and body.
pub fn render(undo: &Undo, restored: &[&str], path: &str, undone: &[u64]) -> (String, String) {
    let title = format!(
        "Revert {} {} to what runs (rolled back by {})",
        undo.env,
        restored.join(", "),
        undo.actor
    );
    let who = if undo.actor == undo::GATE {
        "The health gate".to_string()
    } else {
        format!("`amagent rollback` by **{}**", undo.actor)
    };
    let names: Vec<String> = restored.iter().map(|s| format!("`{s}`")).collect();
    let mut b = String::new();
    let _ = writeln!(
        b,
        "{who} returned {} in **{}** to revisions verified before{}.\n\nThis puts their entries in `{path}` back to the spec that deployed what runs now, so Git matches the account.\n",
        names.join(", "),
        undo.env,
        undo.reason
            .as_deref()
            .map(|r| format!(" — reason: {r}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        b,
        "| service | rolled back from | runs now | spec of |\n|---|---|---|---|"
    );
    for s in undo
        .services
        .iter()
        .filter(|s| restored.contains(&s.service.as_str()))
    {
        let _ = writeln!(
            b,
            "| {} | {} | {} | `{}` |",
            s.service,
            s.from.as_deref().map(short_td).unwrap_or("?"),
            short_td(&s.to),
            &s.restores[..s.restores.len().min(7)]
        );
    }
    if !undone.is_empty() {
        let prs: Vec<String> = undone.iter().map(|n| format!("#{n}")).collect();
        let _ = writeln!(b, "\nUndoes the change of {}.", prs.join(", "));
    }
    let _ = writeln!(
        b,
        "\nMerging this returns Git to what runs (a pinned service is released without a deploy). Closing it leaves things as they are; `amagent resume --env {}` releases a pin. Run: `{}`.",
        undo.env, undo.run
    );
    (title, b)
}
