//! Act 6 of `amagent demo`: production asks a person first. PR #5 gives production
//! `promotion.approval` (approver: ada); tag `v1.2.0` would promote staging's verified release:
//! the agent asks on the pull requests it carries and waits, a comment by someone who is not
//! an approver changes nothing, ada's `/amagent approve` does, and the next look promotes.

use super::{Act, Demo, DemoError, act_failed, only, say, short};
use crate::stages::deploy::Outcome;
use crate::state::journal::approvals::{Decision, decision};

const TAG: &str = "v1.2.0";

impl Demo {
    /// Act 6: approval by pull-request comment before production.
    pub(super) async fn act6(&mut self) -> Result<Act, DemoError> {
        say(&format!(
            "\n━━ Act 6 — PR #5 makes production need a yes: tag {TAG} waits for /amagent approve ━━"
        ));
        let path = "environments/production.yaml";
        let text = std::fs::read_to_string(self.envs.dir.join(path))?;
        let approved = text.replacen(
            "tagPattern: \"v*\"",
            "tagPattern: \"v*\"\n  approval:\n    approvers: [ada]",
            1,
        );
        self.envs.write(path, &approved)?;
        let pr5 = self.envs.commit(
            "Merge pull request #5 from aussie-markets/production-approval\n\nProduction promotions need ada's approval",
        )?;
        self.agent.tick().await?; // staging: nothing changes, the commit is applied
        self.envs.tag(TAG, &pr5)?;
        let tick = self.agent.tick().await?;
        if tick.applied.iter().any(|r| r.env == "production") {
            return Err(act_failed(6, "production promoted without approval", &tick));
        }
        let records = self
            .journal
            .read(Some("production"))
            .await
            .map_err(|e| DemoError::Act {
                act: 6,
                message: format!("cannot read the journal: {e}"),
            })?;
        let Decision::Awaiting { pull_requests } = decision(&records, "production", TAG) else {
            return Err(act_failed(6, "the agent did not ask for approval", &tick));
        };
        let pr = pull_requests.last().copied().unwrap_or(5);
        say(&format!("mallory comments on #{pr}: /amagent approve"));
        self.agent
            .on_command(pr, "mallory", "/amagent approve")
            .await;
        let still_waiting = !self
            .agent
            .tick()
            .await?
            .applied
            .iter()
            .any(|r| r.env == "production");
        say(&format!("ada comments on #{pr}: /amagent approve"));
        self.agent.on_command(pr, "ada", "/amagent approve").await;
        let tick = self.agent.tick().await?;
        let production = only(&tick, "production", 6)?;
        if production.outcome != Outcome::Succeeded || !still_waiting {
            return Err(act_failed(
                6,
                "the approved tag did not promote (only)",
                &tick,
            ));
        }
        let deployed = production
            .deploys
            .first()
            .and_then(|d| d.task_definition.clone());
        Ok(Act {
            act: 6,
            title: "production promotes only after an approver's /amagent approve".into(),
            outcome: format!(
                "{TAG} waited (asked on #{}), mallory's approval was refused, ada's promoted it: production runs {}",
                pull_requests
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", #"),
                short(deployed.as_deref())
            ),
            facts: serde_json::json!({
                "asked_on": pull_requests,
                "waited_for_a_non_approver": still_waiting,
                "task_definition": deployed,
            }),
        })
    }
}
