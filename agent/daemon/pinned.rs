//! The agent loop's side of pins (`journal::pins`): before applying a plan, services pinned by
//! `amagent rollback` whose spec did not change in Git since the pinned commit are held back
//! (said on the console and in the log, and journalled as `pinned`). Kept apart from `mod.rs`:
//! `apply()` calls [`Agent::hold_pinned`] once.

use super::Agent;
use crate::config::Model;
use crate::plan::EnvironmentPlan;
use crate::state::journal::pins::{HELD, Holding, hold, pins, resume_record};
use crate::state::journal::{Phase, Record};

impl Agent {
    /// `plan` without the pinned services whose spec is unchanged since the pin; `from` is the
    /// commit compared with when a pin knows no commit.
    pub(super) async fn hold_pinned(
        &self,
        model: &Model,
        plan: EnvironmentPlan,
        from: &str,
        head: &str,
        run: &str,
    ) -> EnvironmentPlan {
        let env = plan.name.clone();
        let records = match self.journal.read(Some(&env)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, env, "cannot read the journal for pins; applying the plan as is");
                return plan;
            }
        };
        let pinned = pins(&records);
        if pinned.is_empty() {
            return plan;
        }
        let Some(repo) = self.repo.as_ref() else {
            return plan;
        };
        let head_env = model.environments.get(&env);
        let Holding {
            plan: kept,
            held,
            released,
        } = hold(
            &plan,
            &pinned,
            |name| head_env?.service(name).cloned(),
            |commit, name| {
                repo.model_at(commit)
                    .ok()?
                    .environments
                    .get(&env)?
                    .service(name)
                    .cloned()
            },
            from,
        );
        for h in held {
            tracing::warn!(env, service = %h.service, "{}", h.message);
            self.progress.done(&env, &h.service, true, &h.message);
            let record = Record {
                at: self.clock.now(),
                run: run.to_string(),
                env: env.clone(),
                service: Some(h.service.clone()),
                step: HELD.into(),
                phase: Phase::Finished,
                outcome: Some("skipped".into()),
                detail: serde_json::json!({ "commit": head, "message": h.message, "pin_run": h.pin.run }),
            };
            if let Err(e) = self.journal.append(&record).await {
                tracing::error!(error = %e, "cannot write the journal");
            }
        }
        for pin in released {
            self.release(&env, &pin, head, run).await;
        }
        kept
    }

    /// Git says again what runs (a revert merged): lift the pin, deploy nothing.
    async fn release(
        &self,
        env: &str,
        pin: &crate::state::journal::pins::Pin,
        head: &str,
        run: &str,
    ) {
        let message = format!(
            "Git at {} says again what runs ({}): pin released, nothing deployed",
            &head[..head.len().min(7)],
            crate::stages::deploy::rollout::short_td(&pin.to)
        );
        tracing::info!(env, service = %pin.service, "{message}");
        self.progress.done(env, &pin.service, true, &message);
        let mut record = resume_record(env, &pin.service, "git", self.clock.now(), run);
        record.detail = serde_json::json!({ "by": "git", "commit": head, "pin_run": pin.run, "message": message });
        if let Err(e) = self.journal.append(&record).await {
            tracing::error!(error = %e, "cannot write the journal");
        }
    }
}
