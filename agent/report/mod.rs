//! Reporting runs to people. `comment` renders the Markdown of the one pull-request comment per
//! environment (pure); a [`Reporter`] delivers it: [`github::GitHub`] (PR comments edited in
//! place, commit statuses `amagent/<env>`) or [`console::Console`] (the same Markdown on stdout).
//! Must not know: AWS, the deploy engine's internals. A reporter failing never fails a deploy:
//! callers log the error and go on.

pub mod comment;
pub mod console;
pub mod github;
pub mod pre_deploy;
pub mod preview;
pub mod release_notes;
pub mod rollback;

pub use comment::{marker, render_comment, render_in_progress};

use async_trait::async_trait;

/// A commit status, as GitHub names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Success,
    Failure,
    Error,
}

/// One apply of one environment as GitHub's Deployments API sees it: a deployment of `commit`
/// to the environment named `env`, with the images it deploys as its payload.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Deployment {
    pub env: String,
    pub commit: String,
    /// The agent's run id (also in the payload).
    pub run: String,
    pub production: bool,
    pub transient: bool,
    /// Where the environment is reached (`github.deployment.url`).
    pub environment_url: Option<String>,
    pub description: String,
    /// `{"run", "services": {name: image}}`.
    pub payload: serde_json::Value,
}

/// A deployment status, as GitHub names them (`inactive` is set by GitHub itself on the
/// previous deployment when a newer one succeeds: `auto_inactive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    InProgress,
    Success,
    Failure,
    Error,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// GitHub refused or failed after retries. The message never holds a token.
    #[error("GitHub {operation}: {message}")]
    GitHub { operation: String, message: String },
    #[error("GitHub authentication: {0}")]
    Auth(String),
}

/// Where the agent tells people how a run goes.
#[async_trait]
pub trait Reporter: Send + Sync {
    /// The pull requests that merged commit `sha` belongs to (`message` is its commit message,
    /// the fallback: "Merge pull request #12 …" / "… (#12)"). Empty when none is known.
    async fn pull_requests(&self, sha: &str, message: &str) -> Vec<u64>;
    /// Create, or edit in place, the comment on `pr` whose body contains `marker`. `body` must
    /// contain `marker` (so the next call finds it, also after a restart).
    async fn upsert_comment(&self, pr: u64, marker: &str, body: &str) -> Result<(), ReportError>;
    /// The commit status `amagent/<env>` on `sha`.
    async fn commit_status(
        &self,
        sha: &str,
        env: &str,
        state: Status,
        description: &str,
    ) -> Result<(), ReportError>;
    /// Whether GitHub user `login` may approve a promotion: named in `approvers` (a login, or a
    /// team `org/name` they belong to), or — with no approvers named — with write access to
    /// the repository. Without GitHub only a named login counts.
    async fn is_approver(&self, login: &str, approvers: &[String]) -> Result<bool, ReportError> {
        Ok(crate::state::journal::approvals::listed(login, approvers))
    }
    /// Create a deployment (GitHub Deployments API); its id, for [`Reporter::deployment_status`].
    /// `None`: this reporter keeps no deployments.
    async fn create_deployment(&self, deployment: &Deployment) -> Result<Option<u64>, ReportError> {
        let _ = deployment;
        Ok(None)
    }
    /// A status of deployment `id` (created for `deployment`).
    async fn deployment_status(
        &self,
        id: u64,
        deployment: &Deployment,
        state: DeploymentState,
        description: &str,
    ) -> Result<(), ReportError> {
        let _ = (id, deployment, state, description);
        Ok(())
    }
    /// Open a pull request from branch `head` into `base`; its number. A reporter that
    /// cannot (the console) says so.
    async fn open_pull_request(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<u64, ReportError> {
        let _ = (head, base, title, body);
        Err(ReportError::GitHub {
            operation: "open a pull request".into(),
            message: "no GitHub is configured (AMAGENT_REPO with GITHUB_TOKEN or a GitHub App)"
                .into(),
        })
    }
}
