//! GitHub Deployments: one deployment per environment apply, so the repository's environments
//! sidebar shows what runs where. As octocrab 0.54.9 sends them:
//! - create: `POST /repos/{o}/{r}/deployments` `{"ref": <sha>, "environment", "description",
//!   "auto_merge": false, "required_contexts": [], "payload", "transient_environment",
//!   "production_environment"}` — no merge of the default branch into the ref, and no required
//!   contexts: our own `amagent/<env>` statuses are pending while it deploys and must not
//!   block it (GitHub answers 409 otherwise).
//! - status: `POST /repos/{o}/{r}/deployments/{id}/statuses` `{"state", "description",
//!   "environment_url"?, "log_url"?, "auto_inactive": true}` — with `auto_inactive` GitHub marks
//!   the environment's previous successful deployment `inactive` itself when this one succeeds.

use super::{DESCRIPTION_LIMIT, GitHub, truncate};
use crate::report::{Deployment, DeploymentState, ReportError};
use octocrab::models::repos::DeploymentStatusState;

impl GitHub {
    pub(super) async fn create(&self, d: &Deployment) -> Result<u64, ReportError> {
        let repos = self.crab.repos(&self.owner, &self.repo);
        let operation = format!("deployment of {} to {}", d.commit, d.env);
        let description = truncate(&d.description, DESCRIPTION_LIMIT);
        let created = self
            .retrying(&operation, || {
                repos
                    .deployments()
                    .create(d.commit.clone())
                    .environment(d.env.clone())
                    .description(description.clone())
                    .auto_merge(false)
                    .required_contexts(Vec::<String>::new())
                    .payload(d.payload.clone())
                    .transient_environment(d.transient)
                    .production_environment(d.production)
                    .send()
            })
            .await
            .map_err(|e| self.error(&operation, &e))?;
        Ok(created.id.0)
    }

    pub(super) async fn set_deployment_status(
        &self,
        id: u64,
        d: &Deployment,
        state: DeploymentState,
        description: &str,
    ) -> Result<(), ReportError> {
        let state = match state {
            DeploymentState::InProgress => DeploymentStatusState::InProgress,
            DeploymentState::Success => DeploymentStatusState::Success,
            DeploymentState::Failure => DeploymentStatusState::Failure,
            DeploymentState::Error => DeploymentStatusState::Error,
        };
        let description = truncate(description, DESCRIPTION_LIMIT);
        let repos = self.crab.repos(&self.owner, &self.repo);
        let operation = format!("deployment {id} status to {}", d.env);
        self.retrying(&operation, || {
            let mut request = repos
                .deployments()
                .statuses(octocrab::models::DeploymentId(id))
                .create(state)
                .description(description.clone())
                .auto_inactive(true);
            if let Some(url) = &d.environment_url {
                request = request.environment_url(url.clone());
            }
            if let Some(url) = &self.target_url {
                request = request.log_url(url.clone());
            }
            request.send()
        })
        .await
        .map_err(|e| self.error(&operation, &e))?;
        Ok(())
    }
}
