//! `amagent rollback`: return services to a revision this agent verified before, without
//! rebuilding, through the same health gate as a deploy (the [`Rollout`] engine deploying an
//! existing task definition as it is), then pin them (`journal::pins`).
//!
//! The pure part chooses the target from the journal: [`lineage`] is the stack of verified
//! revisions of a service — each verified deploy goes on top (a revision verified again moves
//! up), and a manual rollback to X drops everything above X (undo, not a ping-pong between
//! the last two). [`choose`] picks from it: N steps back from the one running now, or a
//! revision named by `family:revision`, ARN or image digest that a verified deploy used.
//!
//! Journal: the run is its own (`run` with `kind: rollback`), each service gets a
//! `manual-rollback` step (started/finished, with who and why) around the engine's usual
//! steps, and a `pin` when it verified.

use crate::clock::Clock;
use crate::cloud::retry::RetryPolicy;
use crate::cloud::{Cloud, CloudError};
use crate::config::Environment;
use crate::stages::deploy::rollout::short_td;
use crate::stages::deploy::{FailureKind, Outcome, Progress, Rollout};
use crate::state::journal::pins::Pin;
use crate::state::journal::{Journal, JournalError, Phase, Record};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// The service-level journal step around one manual rollback.
pub const STEP: &str = "manual-rollback";

mod choice;
mod steps;
pub mod tell;
pub use choice::*;

/// What to roll back.
pub struct Request<'a> {
    pub env: &'a Environment,
    /// Empty: every service of the environment.
    pub services: Vec<String>,
    pub selector: Selector,
    pub actor: String,
    pub reason: Option<String>,
}

/// One service's rollback.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceRollback {
    pub service: String,
    /// succeeded: verified on the target; failed: see `running`.
    pub outcome: Outcome,
    /// Already running the target: nothing was done.
    pub unchanged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
    pub image: String,
    /// The task definition the service runs at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<FailureKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<Pin>,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RollbackReport {
    pub env: String,
    pub run: String,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub outcome: Outcome,
    pub services: Vec<ServiceRollback>,
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// Nothing was changed: the command line names nothing to roll back to.
    #[error("{0}")]
    Choice(#[from] ChoiceError),
    #[error("environment {env} has no service `{service}` (services: {known})")]
    NoService {
        env: String,
        service: String,
        known: String,
    },
    /// Nothing was changed: the journal could not be read, or would not take the start.
    #[error("{0}")]
    Journal(#[from] JournalError),
    /// Nothing was changed: AWS refused a look-up.
    #[error("{service}: {source}")]
    Cloud {
        service: String,
        #[source]
        source: CloudError,
    },
}

/// What a rollback needs from the world.
pub struct Context<'a> {
    pub cloud: &'a Cloud,
    pub clock: &'a Clock,
    pub journal: &'a dyn Journal,
    pub progress: &'a dyn Progress,
    pub retry: RetryPolicy,
}

fn run_id(env: &str, clock: &Clock) -> String {
    format!(
        "{env}-{}-rollback-{:06x}",
        clock.now().format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>() & 0xff_ffff
    )
}

/// Choose every target first (any problem: nothing changes), then roll them all through the
/// gate, journal it, and pin each service that verified.
pub async fn rollback(
    ctx: &Context<'_>,
    request: Request<'_>,
) -> Result<RollbackReport, RollbackError> {
    let env = request.env;
    let specs = steps::services(&request)?;
    let records = ctx.journal.read(Some(&env.name)).await?;
    let mut planned = Vec::new();
    for &spec in &specs {
        planned.push(steps::plan(ctx, env, &records, spec, &request.selector).await?);
    }
    let run = steps::RollbackRun {
        ctx,
        request: &request,
        id: run_id(&env.name, ctx.clock),
    };
    // Write-ahead: nothing is rolled back unless the journal took its start.
    run.append(run.record(
        None,
        "run",
        Phase::Started,
        None,
        serde_json::json!({ "kind": "rollback", "actor": request.actor, "reason": request.reason }),
    ))
    .await?;
    let mut report = RollbackReport {
        env: env.name.clone(),
        run: run.id.clone(),
        actor: request.actor.clone(),
        reason: request.reason.clone(),
        outcome: Outcome::Succeeded,
        services: Vec::new(),
    };
    let targets = run.start(&planned, &mut report).await?;
    let rollout = Rollout {
        cloud: ctx.cloud,
        clock: ctx.clock,
        journal: ctx.journal,
        progress: ctx.progress,
        run_id: &run.id,
        retry: ctx.retry,
        concurrency: 4,
        pacer: Default::default(),
    };
    for result in rollout.run(targets).await {
        let p = planned
            .iter()
            .find(|p| p.spec.name == result.service)
            .expect("a result per target");
        let settled = run.settle(&records, p, result).await;
        if settled.pin.is_none() {
            report.outcome = Outcome::Failed;
        }
        report.services.push(settled);
    }
    run.finish(&report).await;
    Ok(report)
}
