//! The console reporter for local runs and the demo: the same Markdown a pull request would
//! get, printed on stdout, plus one line per commit status. Remembers the last body per comment
//! so callers (the demo, tests) can show the comments as GitHub would hold them.

use super::{Deployment, DeploymentState, ReportError, Reporter, Status};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Console {
    /// Print to stdout (off: only remember).
    pub quiet: bool,
    comments: Mutex<BTreeMap<(u64, String), String>>,
    statuses: Mutex<Vec<(String, String, Status, String)>>,
    /// Deployments created, and every deployment status: (id, env, commit, state, description).
    deployments: Mutex<Vec<DeploymentLine>>,
    deployments_created: std::sync::atomic::AtomicU64,
}

/// One deployment status as the console remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentLine {
    pub id: u64,
    pub env: String,
    pub commit: String,
    pub state: DeploymentState,
    pub description: String,
}

impl Console {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn quiet() -> Self {
        Console {
            quiet: true,
            ..Self::default()
        }
    }

    /// The comments as they stand now: (pull request, marker) → body.
    pub fn comments(&self) -> BTreeMap<(u64, String), String> {
        self.comments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every status set, in order: (sha, context, state, description).
    pub fn statuses(&self) -> Vec<(String, String, Status, String)> {
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every deployment status set, in order.
    pub fn deployments(&self) -> Vec<DeploymentLine> {
        self.deployments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl Reporter for Console {
    async fn pull_requests(&self, _sha: &str, message: &str) -> Vec<u64> {
        crate::repo::pr_number_from_message(message)
            .into_iter()
            .collect()
    }

    async fn upsert_comment(&self, pr: u64, marker: &str, body: &str) -> Result<(), ReportError> {
        let previous = self
            .comments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((pr, marker.to_string()), body.to_string());
        if !self.quiet {
            let verb = if previous.is_some() { "updated" } else { "new" };
            crate::outln!("── PR #{pr} comment ({verb}) ──\n{body}");
        }
        Ok(())
    }

    async fn commit_status(
        &self,
        sha: &str,
        env: &str,
        state: Status,
        description: &str,
    ) -> Result<(), ReportError> {
        let context = format!("amagent/{env}");
        if !self.quiet {
            crate::outln!(
                "── status {context} on {}: {state:?} — {description}",
                &sha[..sha.len().min(7)]
            );
        }
        self.statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((sha.to_string(), context, state, description.to_string()));
        Ok(())
    }

    async fn create_deployment(&self, _: &Deployment) -> Result<Option<u64>, ReportError> {
        use std::sync::atomic::Ordering;
        Ok(Some(
            self.deployments_created.fetch_add(1, Ordering::Relaxed) + 1,
        ))
    }

    async fn deployment_status(
        &self,
        id: u64,
        d: &Deployment,
        state: DeploymentState,
        description: &str,
    ) -> Result<(), ReportError> {
        if !self.quiet {
            crate::outln!(
                "── deployment {id} of {} to {}: {state:?} — {description}",
                &d.commit[..d.commit.len().min(7)],
                d.env
            );
        }
        self.deployments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(DeploymentLine {
                id,
                env: d.env.clone(),
                commit: d.commit.clone(),
                state,
                description: description.to_string(),
            });
        Ok(())
    }
}
