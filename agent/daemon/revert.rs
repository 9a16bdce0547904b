//! After the health gate rolled services back: for each whose spec opts in
//! (`deploy.revertPr: true`), the pull request that returns Git to what runs (`crate::revert`,
//! as `amagent rollback --revert-pr` does). Best effort: the rollback stands either way; the
//! outcome is journalled (`revert-pr`) and said in the pull requests' comment.

use super::Agent;
use crate::config::Environment;
use crate::executor::EnvReport;
use crate::revert::{self, Undo};
use crate::state::journal::{Phase, Record};

/// The journal step of a revert pull request the agent opened (or could not).
pub const STEP: &str = "revert-pr";

impl Agent {
    /// Open the revert pull request for this run's opted-in gate rollbacks; the line to add to
    /// the comment, if any.
    pub(super) async fn revert_gate_rollbacks(
        &self,
        env: &Environment,
        report: &EnvReport,
        run: &str,
        pull_requests: &[u64],
    ) -> Option<String> {
        let opted: Vec<_> = report
            .deploys
            .iter()
            .filter(|r| r.rolled_back)
            .filter(|r| env.service(&r.service).is_some_and(|s| s.deploy.revert_pr))
            .cloned()
            .collect();
        if opted.is_empty() {
            return None;
        }
        let records = self.journal.read(Some(&env.name)).await.ok()?;
        let undo = Undo::of_deploys(&env.name, &report.run, &opted, &records)?;
        let repo = self.repo.as_ref()?;
        let request = revert::Request {
            repo,
            url: &self.settings.url,
            credentials: &self.settings.credentials,
            base: &self.settings.branch,
            undo: &undo,
            undone: pull_requests,
        };
        let opened = revert::open(&request, &*self.reporter).await;
        let (outcome, detail, line) = match &opened {
            Ok(o) => (
                "succeeded",
                serde_json::json!({ "pull_request": o.number, "branch": o.branch, "services": o.services }),
                format!(
                    "\n↩️ Revert pull request #{} opened: merging it returns Git to what runs.\n",
                    o.number
                ),
            ),
            Err(e) => {
                tracing::warn!(env = %env.name, error = %e, "cannot open the revert pull request");
                (
                    "failed",
                    serde_json::json!({ "error": e.to_string() }),
                    format!("\n⚠️ The revert pull request could not be opened: {e}\n"),
                )
            }
        };
        let record = Record {
            at: self.clock.now(),
            run: run.to_string(),
            env: env.name.clone(),
            service: None,
            step: STEP.into(),
            phase: Phase::Finished,
            outcome: Some(outcome.into()),
            detail,
        };
        if let Err(e) = self.journal.append(&record).await {
            tracing::error!(error = %e, "cannot write the journal");
        }
        Some(line)
    }
}
