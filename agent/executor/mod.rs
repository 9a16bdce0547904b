//! The pipeline executor: runs one environment's part of a [`Plan`] — preflight, snapshot,
//! deploys (several services at once, bounded), lifecycle — journalling each step. One
//! environment at a time: the caller loops over environments in plan order.
//!
//! A deploy here takes an image already in the registry (a digest, or the running one when only
//! configuration changed); building and pushing arrive with the images stage.

use crate::clock::Clock;
use crate::cloud::retry::RetryPolicy;
use crate::cloud::{Cloud, CloudError};
use crate::config::{Environment, Service, StageKind};
use crate::plan::EnvironmentPlan;
use crate::stages::deploy::{DeployResult, FailureKind, Outcome, Progress, Rollout, Target};
use crate::stages::lifecycle::{self, ImageVerdict, Rules};
use crate::stages::snapshot::SnapshotReport;
use crate::state::journal::{Journal, Phase, Record, recently_verified};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

mod lifecycle_stage;
mod preflight;
mod runner;
pub mod secrets;
mod snapshot_stage;

pub use lifecycle_stage::run_lifecycle;
use runner::EnvRunner;

/// What the executor needs from the outside world.
pub struct Context<'a> {
    pub cloud: &'a Cloud,
    pub clock: &'a Clock,
    pub journal: &'a dyn Journal,
    pub progress: &'a dyn Progress,
    pub retry: RetryPolicy,
    /// Services rolling at once within an environment.
    pub concurrency: usize,
    pub snapshot_timeout: Duration,
    /// Deploy images known to be bad (they failed the gate or were rolled back with a
    /// reason) all the same.
    pub allow_bad: bool,
}

impl<'a> Context<'a> {
    /// With the defaults: AWS-style retries, 4 services rolling at once, 30 minutes for a
    /// snapshot.
    pub fn new(
        cloud: &'a Cloud,
        clock: &'a Clock,
        journal: &'a dyn Journal,
        progress: &'a dyn Progress,
    ) -> Self {
        Context {
            cloud,
            clock,
            journal,
            progress,
            retry: RetryPolicy::default(),
            concurrency: 4,
            snapshot_timeout: Duration::from_secs(1800),
            allow_bad: false,
        }
    }
}

/// One environment's share of a plan.
pub struct EnvRun<'a> {
    pub env: &'a Environment,
    pub plan: &'a EnvironmentPlan,
    /// Image reference per service to deploy; services absent here keep their current image.
    pub images: BTreeMap<String, String>,
    /// The environments-repo commit being applied.
    pub commit: Option<String>,
    /// Show what lifecycle would delete without deleting.
    pub lifecycle_dry_run: bool,
    /// This run resumes an apply of `commit` interrupted after this time: reuse its snapshot.
    pub resume_since: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LifecycleReport {
    pub repository: String,
    pub services: Vec<String>,
    pub expire: Vec<ImageVerdict>,
    pub keep: Vec<ImageVerdict>,
    pub deleted: Vec<String>,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnvReport {
    pub env: String,
    pub run: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_error: Option<String>,
    pub deploys: Vec<DeployResult>,
    pub lifecycle: Vec<LifecycleReport>,
    /// The journal could not be read or would not take a "started" record: what it would
    /// have covered was not done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_error: Option<String>,
}

impl EnvReport {
    /// The deploy failure that matters most for an exit code: a refusal beats a rollout failure.
    pub fn worst_failure(&self) -> Option<FailureKind> {
        let kinds: Vec<FailureKind> = self.deploys.iter().filter_map(|d| d.failure_kind).collect();
        if self.journal_error.is_some() {
            return Some(FailureKind::Journal);
        }
        [
            FailureKind::Journal,
            FailureKind::Config,
            FailureKind::Refused,
            FailureKind::Rollout,
            FailureKind::PreDeploy,
            FailureKind::Build,
        ]
        .into_iter()
        .find(|k| kinds.contains(k))
        .or(self.snapshot_error.as_ref().map(|_| FailureKind::Rollout))
    }
}

fn run_id(env: &str, clock: &Clock, commit: Option<&str>) -> String {
    let commit = commit.map(|c| &c[..c.len().min(7)]).unwrap_or("manual");
    // The random suffix keeps two runs in the same second apart.
    format!(
        "{env}-{}-{commit}-{:06x}",
        clock.now().format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>() & 0xff_ffff
    )
}

/// Applies one environment's plan: preflight, snapshot, deploys, lifecycle — each journalled
/// before it acts — and says how it went.
pub async fn execute(ctx: &Context<'_>, run: EnvRun<'_>) -> EnvReport {
    let r = EnvRunner::new(ctx, &run);
    let deploying = r.wants(StageKind::Deploy);
    let mut report = r.empty_report();
    let records = match r.start().await {
        Ok(records) => records,
        Err(e) => return stopped_by_journal(report, &deploying, &e),
    };
    let (mut targets, mut early) = preflight::check(&r, &deploying, &records).await;
    snapshot_stage::protect(&r, &mut report, &mut targets, &mut early).await;
    record_early(&r, &early).await;
    report.deploys.append(&mut early);
    report.deploys.extend(roll(&r, targets).await);
    lifecycle_stage::after_deploys(&r, &mut report).await;
    r.finish(&mut report).await;
    report
}

/// Journals the deploys that ended before rolling (the rollout journals its own).
async fn record_early(r: &EnvRunner<'_>, early: &[DeployResult]) {
    for result in early {
        let record = Record {
            at: r.ctx.clock.now(),
            run: r.id.clone(),
            env: r.env.name.clone(),
            service: Some(result.service.clone()),
            step: "deploy".into(),
            phase: Phase::Finished,
            outcome: Some("failed".into()),
            detail: serde_json::to_value(result).unwrap_or_default(),
        };
        if let Err(e) = r.ctx.journal.append(&record).await {
            tracing::error!(error = %e, "cannot write the journal");
        }
    }
}

async fn roll(r: &EnvRunner<'_>, targets: Vec<Target>) -> Vec<DeployResult> {
    let ctx = r.ctx;
    let rollout = Rollout {
        cloud: ctx.cloud,
        clock: ctx.clock,
        journal: ctx.journal,
        progress: ctx.progress,
        run_id: &r.id,
        retry: ctx.retry,
        concurrency: ctx.concurrency,
        pacer: Default::default(),
    };
    rollout.run(targets).await
}

/// The run stopped before acting because the journal cannot be read or written: every deploy
/// it would have made failed, nothing changed.
fn stopped_by_journal(
    mut report: EnvReport,
    deploying: &[&Service],
    e: &crate::state::journal::JournalError,
) -> EnvReport {
    let reason = crate::stages::deploy::write_ahead::not_deployed(e);
    report.deploys = deploying
        .iter()
        .map(|spec| failed_for(&report.env, spec, FailureKind::Journal, reason.clone()))
        .collect();
    report.journal_error = Some(e.to_string());
    report.outcome = Outcome::Failed;
    report
}

fn failed(env: &Environment, spec: &Service, kind: FailureKind, reason: String) -> DeployResult {
    failed_for(&env.name, spec, kind, reason)
}

fn failed_for(env: &str, spec: &Service, kind: FailureKind, reason: String) -> DeployResult {
    DeployResult {
        env: env.to_string(),
        service: spec.name.clone(),
        outcome: Outcome::Failed,
        rolled_back: false,
        failure_kind: Some(kind),
        reason: Some(reason),
        task_definition: None,
        image: String::new(),
        previous_task_definition: None,
        new_task_definition: None,
        seconds: 0.0,
        pre_deploy: None,
    }
}

fn refused(env: &Environment, spec: &Service, e: &CloudError) -> DeployResult {
    failed(env, spec, FailureKind::Refused, e.to_string())
}

/// The image to deploy: the one given, or (configuration-only change) the one running now.
async fn image_for(
    ctx: &Context<'_>,
    env: &Environment,
    spec: &Service,
    images: &BTreeMap<String, String>,
) -> Result<String, CloudError> {
    if let Some(image) = images.get(&spec.name) {
        return Ok(image.clone());
    }
    let (td, _) = running_task_definitions(ctx, env, spec).await?;
    let current = ctx
        .retry
        .run("DescribeTaskDefinition", || {
            ctx.cloud.ecs.describe_task_definition(&td)
        })
        .await?;
    Ok(crate::stages::deploy::render::image_of(&current, &spec.ecs.container).unwrap_or_default())
}

/// The PRIMARY task definition, and every task definition the service's deployments run.
async fn running_task_definitions(
    ctx: &Context<'_>,
    env: &Environment,
    spec: &Service,
) -> Result<(String, Vec<String>), CloudError> {
    let services = ctx
        .retry
        .run("DescribeServices", || {
            ctx.cloud
                .ecs
                .describe_services(&env.ecs.cluster, std::slice::from_ref(&spec.ecs.service))
        })
        .await?;
    let service = services.into_iter().next().ok_or_else(|| {
        CloudError::not_found(crate::cloud::ResourceKind::Service, &spec.ecs.service)
    })?;
    let all = service
        .deployments
        .iter()
        .map(|d| d.task_definition.clone())
        .collect();
    Ok((service.task_definition, all))
}

/// How many of a service's most recently verified revisions keep their images.
pub const ROLLBACK_DEPTH: usize = 3;
