//! One environment's run in progress: its id, the journal writes every stage makes, and which
//! services the plan gives each stage. The stage modules take an [`EnvRunner`] so that none of
//! them repeats how a record is made.

use super::{Context, EnvReport, EnvRun};
use crate::config::{Environment, Service, StageKind};
use crate::stages::deploy::Outcome;
use crate::state::journal::{JournalError, Phase, Record};

pub(super) struct EnvRunner<'a> {
    pub ctx: &'a Context<'a>,
    pub run: &'a EnvRun<'a>,
    pub env: &'a Environment,
    pub id: String,
}

impl<'a> EnvRunner<'a> {
    pub fn new(ctx: &'a Context<'a>, run: &'a EnvRun<'a>) -> Self {
        let id = super::run_id(&run.env.name, ctx.clock, run.commit.as_deref());
        EnvRunner {
            ctx,
            run,
            env: run.env,
            id,
        }
    }

    /// Appends a run-level record stamped with the clock's time of the call; a failure is
    /// logged and returned (callers decide whether it stops the stage).
    pub async fn journal(
        &self,
        step: &str,
        phase: Phase,
        outcome: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), JournalError> {
        let record = Record {
            at: self.ctx.clock.now(),
            run: self.id.clone(),
            env: self.env.name.clone(),
            service: None,
            step: step.into(),
            phase,
            outcome: outcome.map(String::from),
            detail,
        };
        self.ctx.journal.append(&record).await.inspect_err(|e| {
            tracing::error!(error = %e, step = %record.step, "cannot write the journal");
        })
    }

    /// The services whose plan includes `stage`, in plan order.
    pub fn wants(&self, stage: StageKind) -> Vec<&'a Service> {
        self.run
            .plan
            .services
            .iter()
            .filter(|s| s.stages.iter().any(|st| st.stage == stage))
            .filter_map(|s| self.env.service(&s.name))
            .collect()
    }

    pub fn empty_report(&self) -> EnvReport {
        EnvReport {
            env: self.env.name.clone(),
            run: self.id.clone(),
            outcome: Outcome::Succeeded,
            snapshot: None,
            snapshot_error: None,
            deploys: Vec::new(),
            lifecycle: Vec::new(),
            journal_error: None,
        }
    }

    /// Write-ahead: an unreadable journal, or one that will not take the run's start, stops
    /// the run before it changes anything.
    /// Returns the environment's records as read before the start (for decisions such as
    /// known-bad images).
    pub async fn start(&self) -> Result<Vec<Record>, JournalError> {
        let records = self.ctx.journal.read(Some(&self.env.name)).await?;
        let plan = serde_json::json!({ "commit": self.run.commit, "plan": self.run.plan });
        self.journal("run", Phase::Started, None, plan).await?;
        Ok(records)
    }

    /// The run's outcome: failed when any deploy, the snapshot or the journal failed.
    pub async fn finish(&self, report: &mut EnvReport) {
        if report.deploys.iter().any(|d| d.outcome == Outcome::Failed)
            || report.snapshot_error.is_some()
            || report.journal_error.is_some()
        {
            report.outcome = Outcome::Failed;
        }
        let outcome = match report.outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        };
        let detail = serde_json::json!({ "deploys": report.deploys.len() });
        let _ = self
            .journal("run", Phase::Finished, Some(outcome), detail)
            .await;
    }
}
