//! An apply whose agent lost the lease mid-way (`fence.rs` refused a change): it is abandoned,
//! not decided — no "finished" verdict, no report to the pull request, since the agent holding
//! the lease now applies the same commit and reports it.

use super::Agent;
use super::applied::{STEP, outcome};
use crate::executor::EnvReport;
use crate::state::journal::{Phase, Record};

impl Agent {
    /// If the fence refused a change during this apply: journal it as abandoned (the journal
    /// is still ours to write: each agent writes its own run's keys) and return true.
    pub(super) async fn abandoned_for_lost_lease(
        &mut self,
        run: &str,
        commit: &str,
        report: &EnvReport,
    ) -> bool {
        if !self.fence.as_ref().is_some_and(|g| g.tripped()) {
            return false;
        }
        tracing::error!(
            env = %report.env,
            commit = %&commit[..7.min(commit.len())],
            "lost the lease mid-apply: abandoned, changing nothing more (no rollback); the agent holding the lease applies this commit"
        );
        let record = Record {
            at: self.clock.now(),
            run: run.to_string(),
            env: report.env.clone(),
            service: None,
            step: STEP.into(),
            phase: Phase::Finished,
            outcome: Some(outcome::LEASE_LOST.into()),
            detail: serde_json::json!({ "commit": commit, "executor_run": report.run }),
        };
        if let Err(e) = self.journal.append(&record).await {
            tracing::error!(error = %e, "cannot write the journal");
        }
        // GitHub is told, not AWS: the deployment does not stay `in_progress` for ever.
        if let Some(f) = self.in_flight.take() {
            let why = "abandoned: this agent lost its lease; the one holding it applies the commit";
            let state = crate::report::DeploymentState::Error;
            self.deployment_status(f.deployment.as_ref(), state, why)
                .await;
        }
        true
    }
}
