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
use crate::stages::snapshot::{self, SnapshotReport, SnapshotRequest};
use crate::state::journal::{Journal, Phase, Record, recently_verified};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

mod lifecycle_stage;
pub mod preflight;
pub use lifecycle_stage::run_lifecycle;

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

pub async fn execute(ctx: &Context<'_>, run: EnvRun<'_>) -> EnvReport {
    let env = run.env;
    let id = run_id(&env.name, ctx.clock, run.commit.as_deref());
    // Builds the record now (the clock's time of the call), writes it when awaited.
    let journal = |step: &str, phase: Phase, outcome: Option<&str>, detail: serde_json::Value| {
        let record = Record {
            at: ctx.clock.now(),
            run: id.clone(),
            env: env.name.clone(),
            service: None,
            step: step.into(),
            phase,
            outcome: outcome.map(String::from),
            detail,
        };
        let journal = ctx.journal;
        async move {
            journal.append(&record).await.inspect_err(|e| {
                tracing::error!(error = %e, step = %record.step, "cannot write the journal");
            })
        }
    };

    let wants = |stage: StageKind| -> Vec<&Service> {
        run.plan
            .services
            .iter()
            .filter(|s| s.stages.iter().any(|st| st.stage == stage))
            .filter_map(|s| env.service(&s.name))
            .collect()
    };
    let deploying = wants(StageKind::Deploy);
    let mut report = EnvReport {
        env: env.name.clone(),
        run: id.clone(),
        outcome: Outcome::Succeeded,
        snapshot: None,
        snapshot_error: None,
        deploys: Vec::new(),
        lifecycle: Vec::new(),
        journal_error: None,
    };
    // Write-ahead: an unreadable journal, or one that will not take the run's start, stops
    // the run before it changes anything.
    let usable = match ctx.journal.read(Some(&env.name)).await {
        Ok(_) => {
            let plan = serde_json::json!({ "commit": run.commit, "plan": run.plan });
            journal("run", Phase::Started, None, plan).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = usable {
        return stopped_by_journal(report, &deploying, &e);
    }

    // Preflight: every secret the new task definitions reference must exist (SSM parameters,
    // Secrets Manager secrets), or that service's deploy does not start.
    let mut targets = Vec::new();
    // Deploys that end here, before rolling (the rollout journals its own).
    let mut early: Vec<DeployResult> = Vec::new();
    for spec in &deploying {
        match preflight::missing_secrets(ctx.cloud, &ctx.retry, &spec.secrets).await {
            Err(e) => {
                early.push(refused(env, spec, &e));
                continue;
            }
            Ok(missing) if !missing.is_empty() => {
                early.push(failed(
                    env,
                    spec,
                    FailureKind::Config,
                    format!(
                        "{} — create them, or fix `secrets` in environments/{}.yaml",
                        missing.describe(),
                        env.name
                    ),
                ));
                continue;
            }
            Ok(_) => {}
        }
        match image_for(ctx, env, spec, &run.images).await {
            Ok(image) => targets.push(Target {
                env: env.name.clone(),
                cluster: env.ecs.cluster.clone(),
                spec: (*spec).clone(),
                image,
                revision: None,
            }),
            Err(e) => early.push(refused(env, spec, &e)),
        }
    }

    // One snapshot protects every deploy of this run that the policy asks one for.
    let snapshotting: Vec<String> = wants(StageKind::Snapshot)
        .iter()
        .filter(|s| targets.iter().any(|t| t.spec.name == s.name))
        .map(|s| s.name.clone())
        .collect();
    if let (false, Some(db)) = (snapshotting.is_empty(), &env.database) {
        let request = SnapshotRequest {
            env: env.name.clone(),
            instance_id: db.instance_id.clone(),
            services: snapshotting.clone(),
            commit: run.commit.clone(),
            run_id: id.clone(),
            retain: db.snapshots.retain,
            timeout: ctx.snapshot_timeout,
            resume_since: run.resume_since,
        };
        for s in &snapshotting {
            ctx.progress.step(
                &env.name,
                s,
                &format!("snapshotting RDS {}", db.instance_id),
            );
        }
        let started = journal(
            "snapshot",
            Phase::Started,
            None,
            serde_json::json!({ "instance": db.instance_id, "services": snapshotting }),
        )
        .await;
        let taken = match started {
            Ok(()) => snapshot::take_snapshot(ctx.cloud, ctx.clock, ctx.retry, &request)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => {
                report.journal_error = Some(e.to_string());
                Err(format!("not taken: cannot write the journal ({e})"))
            }
        };
        match taken {
            Ok(snap) => {
                let _ = journal(
                    "snapshot",
                    Phase::Finished,
                    Some("succeeded"),
                    serde_json::to_value(&snap).unwrap_or_default(),
                )
                .await;
                report.snapshot = Some(snap);
            }
            Err(why) => {
                let _ = journal(
                    "snapshot",
                    Phase::Finished,
                    Some("failed"),
                    serde_json::json!({ "error": why }),
                )
                .await;
                // No deploy without the snapshot the policy requires: nothing was changed.
                for t in targets.drain(..) {
                    let mut result = failed(
                        env,
                        &t.spec,
                        FailureKind::Rollout,
                        format!("not deployed: {why}"),
                    );
                    result.image = t.image.clone();
                    result.task_definition = running_task_definitions(ctx, env, &t.spec)
                        .await
                        .ok()
                        .map(|(td, _)| td);
                    ctx.progress.done(
                        &env.name,
                        &t.spec.name,
                        false,
                        result.reason.as_deref().unwrap_or_default(),
                    );
                    early.push(result);
                }
                report.snapshot_error = Some(why);
            }
        }
    }

    for result in &early {
        let record = Record {
            at: ctx.clock.now(),
            run: id.clone(),
            env: env.name.clone(),
            service: Some(result.service.clone()),
            step: "deploy".into(),
            phase: Phase::Finished,
            outcome: Some("failed".into()),
            detail: serde_json::to_value(result).unwrap_or_default(),
        };
        if let Err(e) = ctx.journal.append(&record).await {
            tracing::error!(error = %e, "cannot write the journal");
        }
    }
    report.deploys.append(&mut early);

    let rollout = Rollout {
        cloud: ctx.cloud,
        clock: ctx.clock,
        journal: ctx.journal,
        progress: ctx.progress,
        run_id: &id,
        retry: ctx.retry,
        concurrency: ctx.concurrency,
    };
    report.deploys.extend(rollout.run(targets).await);

    // Lifecycle after the deploys, for services whose deploy (if any) did not fail.
    let failed_services: BTreeSet<&str> = report
        .deploys
        .iter()
        .filter(|d| d.outcome == Outcome::Failed)
        .map(|d| d.service.as_str())
        .collect();
    let lifecycle_services: Vec<&Service> = wants(StageKind::Lifecycle)
        .into_iter()
        .filter(|s| !failed_services.contains(s.name.as_str()))
        .collect();
    let lifecycle_started = match lifecycle_services.is_empty() {
        true => None,
        false => Some(journal(
            "lifecycle",
            Phase::Started,
            None,
            serde_json::json!({ "services": lifecycle_services.iter().map(|s| &s.name).collect::<Vec<_>>() }),
        ).await),
    };
    if let Some(Err(e)) = lifecycle_started {
        // Deletions nobody recorded are not made.
        report.journal_error = Some(e.to_string());
    } else if lifecycle_started.is_some() {
        report.lifecycle =
            run_lifecycle(ctx, env, &lifecycle_services, run.lifecycle_dry_run).await;
        let ok = report.lifecycle.iter().all(|l| l.error.is_none());
        let _ = journal(
            "lifecycle",
            Phase::Finished,
            Some(if ok { "succeeded" } else { "failed" }),
            serde_json::to_value(&report.lifecycle).unwrap_or_default(),
        )
        .await;
    }

    if report.deploys.iter().any(|d| d.outcome == Outcome::Failed)
        || report.snapshot_error.is_some()
        || report.journal_error.is_some()
    {
        report.outcome = Outcome::Failed;
    }
    let _ = journal(
        "run",
        Phase::Finished,
        Some(match report.outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        }),
        serde_json::json!({ "deploys": report.deploys.len() }),
    )
    .await;
    report
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
