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
use crate::config::{Environment, Service};
use crate::stages::deploy::rollout::{short_td, spec_fingerprint};
use crate::stages::deploy::{DeployResult, FailureKind, Outcome, Progress, Rollout, Target};
use crate::state::journal::pins::Pin;
use crate::state::journal::{Journal, JournalError, Phase, Record};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// The service-level journal step around one manual rollback.
pub const STEP: &str = "manual-rollback";

mod choice;
pub mod tell;
use choice::running_spec;
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
    let specs: Vec<&Service> = if request.services.is_empty() {
        env.services.iter().collect()
    } else {
        let mut specs = Vec::new();
        for name in &request.services {
            let spec = env.service(name).ok_or_else(|| RollbackError::NoService {
                env: env.name.clone(),
                service: name.clone(),
                known: env
                    .services
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            specs.push(spec);
        }
        specs
    };
    let records = ctx.journal.read(Some(&env.name)).await?;
    let cloud_err = |spec: &Service| {
        let service = spec.name.clone();
        move |source| RollbackError::Cloud { service, source }
    };

    struct Planned<'s> {
        spec: &'s Service,
        running: String,
        target: Verified,
        image: String,
    }
    let mut planned = Vec::new();
    for &spec in &specs {
        let running = ctx
            .retry
            .run("DescribeServices", || {
                ctx.cloud
                    .ecs
                    .describe_services(&env.ecs.cluster, std::slice::from_ref(&spec.ecs.service))
            })
            .await
            .map_err(cloud_err(spec))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                cloud_err(spec)(CloudError::not_found(
                    crate::cloud::ResourceKind::Service,
                    &spec.ecs.service,
                ))
            })?
            .task_definition;
        let target = choose(
            &records,
            &env.name,
            &spec.name,
            Some(&running),
            &request.selector,
        )?;
        // The revision must still be there (a deregistered one cannot be deployed).
        let definition = ctx
            .retry
            .run("DescribeTaskDefinition", || {
                ctx.cloud
                    .ecs
                    .describe_task_definition(&target.task_definition)
            })
            .await
            .map_err(cloud_err(spec))?;
        let image = crate::stages::deploy::render::image_of(&definition, &spec.ecs.container)
            .or(target.image.clone())
            .unwrap_or_default();
        planned.push(Planned {
            spec,
            running,
            target,
            image,
        });
    }

    let run = run_id(&env.name, ctx.clock);
    let record = |service: Option<&str>,
                  step: &str,
                  phase: Phase,
                  outcome: Option<&str>,
                  detail: serde_json::Value| Record {
        at: ctx.clock.now(),
        run: run.clone(),
        env: env.name.clone(),
        service: service.map(String::from),
        step: step.into(),
        phase,
        outcome: outcome.map(String::from),
        detail,
    };
    let append = |r: Record| async move {
        ctx.journal.append(&r).await.inspect_err(|e| {
            tracing::error!(error = %e, "cannot write the journal");
        })
    };
    // Write-ahead: nothing is rolled back unless the journal took its start.
    append(record(
        None,
        "run",
        Phase::Started,
        None,
        serde_json::json!({ "kind": "rollback", "actor": request.actor, "reason": request.reason }),
    ))
    .await?;

    let mut report = RollbackReport {
        env: env.name.clone(),
        run: run.clone(),
        actor: request.actor.clone(),
        reason: request.reason.clone(),
        outcome: Outcome::Succeeded,
        services: Vec::new(),
    };
    let mut targets = Vec::new();
    for p in &planned {
        let detail = serde_json::json!({
            "from": p.running,
            "to": p.target.task_definition,
            "image": p.image,
            "actor": request.actor,
            "reason": request.reason,
        });
        if p.running == p.target.task_definition {
            ctx.progress.done(
                &env.name,
                &p.spec.name,
                true,
                &format!("already running {}", short_td(&p.running)),
            );
            report.services.push(ServiceRollback {
                service: p.spec.name.clone(),
                outcome: Outcome::Succeeded,
                unchanged: true,
                from: Some(p.running.clone()),
                to: p.target.task_definition.clone(),
                image: p.image.clone(),
                running: Some(p.running.clone()),
                reason: Some("already running the target".into()),
                failure_kind: None,
                pin: None,
                seconds: 0.0,
            });
            continue;
        }
        append(record(
            Some(&p.spec.name),
            STEP,
            Phase::Started,
            None,
            detail,
        ))
        .await?;
        ctx.progress.step(
            &env.name,
            &p.spec.name,
            &format!(
                "rolling back {} → {}",
                short_td(&p.running),
                short_td(&p.target.task_definition)
            ),
        );
        targets.push(Target {
            env: env.name.clone(),
            cluster: env.ecs.cluster.clone(),
            spec: p.spec.clone(),
            image: p.image.clone(),
            revision: Some(p.target.task_definition.clone()),
        });
    }

    let rollout = Rollout {
        cloud: ctx.cloud,
        clock: ctx.clock,
        journal: ctx.journal,
        progress: ctx.progress,
        run_id: &run,
        retry: ctx.retry,
        concurrency: 4,
    };
    let results: Vec<DeployResult> = rollout.run(targets).await;
    for result in results {
        let p = planned
            .iter()
            .find(|p| p.spec.name == result.service)
            .expect("a result per target");
        let verified = result.outcome == Outcome::Succeeded;
        let running = result.task_definition.clone();
        let reason = (!verified).then(|| {
            format!(
                "the rollback to {} failed: {}; running now: {}",
                short_td(&p.target.task_definition),
                result.reason.clone().unwrap_or_default(),
                running.as_deref().map(short_td).unwrap_or("unknown")
            )
        });
        append(record(
            Some(&p.spec.name),
            STEP,
            Phase::Finished,
            Some(if verified { "succeeded" } else { "failed" }),
            serde_json::json!({
                "from": p.running,
                "to": p.target.task_definition,
                "running": running,
                "actor": request.actor,
                "reason": request.reason,
                "failure": reason,
            }),
        ))
        .await
        .ok();
        let pin = verified.then(|| Pin {
            env: env.name.clone(),
            service: p.spec.name.clone(),
            by: request.actor.clone(),
            at: ctx.clock.now(),
            reason: request.reason.clone(),
            commit: running_commit(&records, &env.name, &p.spec.name, &p.running),
            spec: running_spec(&records, &env.name, &p.spec.name, &p.running)
                .or_else(|| Some(spec_fingerprint(p.spec))),
            from: Some(p.running.clone()),
            to: p.target.task_definition.clone(),
            run: run.clone(),
        });
        if let Some(pin) = &pin {
            append(pin.record()).await.ok();
        } else {
            report.outcome = Outcome::Failed;
        }
        report.services.push(ServiceRollback {
            service: p.spec.name.clone(),
            outcome: result.outcome,
            unchanged: false,
            from: Some(p.running.clone()),
            to: p.target.task_definition.clone(),
            image: p.image.clone(),
            running,
            reason,
            failure_kind: result.failure_kind,
            pin,
            seconds: result.seconds,
        });
    }
    append(record(
        None,
        "run",
        Phase::Finished,
        Some(match report.outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        }),
        serde_json::json!({ "kind": "rollback", "services": report.services.len() }),
    ))
    .await
    .ok();
    Ok(report)
}
