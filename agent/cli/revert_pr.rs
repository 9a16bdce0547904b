//! `amagent rollback --revert-pr`: after the rollback, the pull request that returns Git to
//! what runs (`crate::revert`). Everything it needs is checked before the rollback starts, so
//! a missing repository URL or GitHub credential changes nothing.

use crate::repo::{EnvRepo, GitCredentials};
use crate::report::github::GitHub;
use crate::revert::{self, Opened};
use crate::rollback::RollbackReport;
use crate::state::journal::Journal;
use std::path::PathBuf;

/// `--revert-pr` and its settings.
pub struct RevertArgs {
    /// The branch the pull request merges into.
    pub base: String,
    pub cache: Option<PathBuf>,
}

/// What the revert needs, found before the rollback.
pub struct Prepared {
    url: String,
    credentials: GitCredentials,
    github: GitHub,
    mirror: PathBuf,
    base: String,
}

/// The environments repo and GitHub, or why the revert could not be made (a usage error).
pub async fn prepare(args: &RevertArgs) -> Result<Prepared, String> {
    let url = std::env::var("AMAGENT_REPO").map_err(|_| {
        "--revert-pr needs AMAGENT_REPO, the environments repo's URL (as for `amagent run --repo`)"
            .to_string()
    })?;
    let github = match GitHub::from_env(&url).await {
        Ok(Some(g)) => g,
        Ok(None) => {
            return Err(
                "--revert-pr needs GitHub credentials: GITHUB_TOKEN, or AMAGENT_GITHUB_APP_ID with its key"
                    .into(),
            );
        }
        Err(e) => return Err(format!("--revert-pr: {e}")),
    };
    let cache = args
        .cache
        .clone()
        .unwrap_or_else(super::build_cmd::default_cache);
    Ok(Prepared {
        mirror: super::run_cmd::default_mirror(&cache, &url),
        credentials: GitCredentials::from_env().trusting(&url),
        url,
        github,
        base: args.base.clone(),
    })
}

/// Open the pull request for a rollback that verified.
pub async fn open(
    p: &Prepared,
    report: &RollbackReport,
    journal: &dyn Journal,
) -> Result<Opened, String> {
    let repo = EnvRepo::open_or_clone(&p.url, &p.mirror, &p.credentials)
        .and_then(|r| r.fetch(&p.url, &p.credentials).map(|()| r))
        .map_err(|e| e.to_string())?;
    let records = journal.read(Some(&report.env)).await.unwrap_or_default();
    let undone = revert::undone_pull_requests(report, &records);
    let request = revert::Request {
        repo: &repo,
        url: &p.url,
        credentials: &p.credentials,
        base: &p.base,
        undo: &revert::Undo::of_rollback(report),
        undone: &undone,
    };
    revert::open(&request, &p.github)
        .await
        .map_err(|e| e.to_string())
}
