//! The steps of one rollback, in order: which services, each one's target (looked up before
//! anything changes), the journalled start of each, and what each ended as (pinned when it
//! verified).

use super::choice::{Verified, choose, running_commit, running_spec};
use super::{Context, Request, RollbackError, RollbackReport, STEP, Selector, ServiceRollback};
use crate::cloud::CloudError;
use crate::config::{Environment, Service};
use crate::stages::deploy::rollout::{short_td, spec_fingerprint};
use crate::stages::deploy::{DeployResult, Outcome, Target};
use crate::state::journal::pins::Pin;
use crate::state::journal::{JournalError, Phase, Record};

/// One service's rollback, decided: what runs, where it goes, with which image.
pub(super) struct Planned<'s> {
    pub spec: &'s Service,
    pub running: String,
    pub target: Verified,
    pub image: String,
}

/// The services the request names (all of the environment's when it names none).
pub(super) fn services<'a>(request: &Request<'a>) -> Result<Vec<&'a Service>, RollbackError> {
    let env = request.env;
    if request.services.is_empty() {
        return Ok(env.services.iter().collect());
    }
    let known = || {
        let names: Vec<&str> = env.services.iter().map(|s| s.name.as_str()).collect();
        names.join(", ")
    };
    request
        .services
        .iter()
        .map(|name| {
            env.service(name).ok_or_else(|| RollbackError::NoService {
                env: env.name.clone(),
                service: name.clone(),
                known: known(),
            })
        })
        .collect()
}

fn cloud_err(spec: &Service) -> impl FnOnce(CloudError) -> RollbackError + use<> {
    let service = spec.name.clone();
    move |source| RollbackError::Cloud { service, source }
}

/// What `spec` runs, the target the selector picks from the journal, and that target's image;
/// the target revision must still exist (a deregistered one cannot be deployed).
pub(super) async fn plan<'s>(
    ctx: &Context<'_>,
    env: &Environment,
    records: &[Record],
    spec: &'s Service,
    selector: &Selector,
) -> Result<Planned<'s>, RollbackError> {
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
    let target = choose(records, &env.name, &spec.name, Some(&running), selector)?;
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
    Ok(Planned {
        spec,
        running,
        target,
        image,
    })
}

/// A rollback run in progress: its id and the records it writes.
pub(super) struct RollbackRun<'a> {
    pub ctx: &'a Context<'a>,
    pub request: &'a Request<'a>,
    pub id: String,
}

impl RollbackRun<'_> {
    pub fn record(
        &self,
        service: Option<&str>,
        step: &str,
        phase: Phase,
        outcome: Option<&str>,
        detail: serde_json::Value,
    ) -> Record {
        Record {
            at: self.ctx.clock.now(),
            run: self.id.clone(),
            env: self.request.env.name.clone(),
            service: service.map(String::from),
            step: step.into(),
            phase,
            outcome: outcome.map(String::from),
            detail,
        }
    }

    pub async fn append(&self, r: Record) -> Result<(), JournalError> {
        self.ctx.journal.append(&r).await.inspect_err(|e| {
            tracing::error!(error = %e, "cannot write the journal");
        })
    }

    /// Journals each service's start (write-ahead) and returns what to roll; a service that
    /// already runs its target is reported unchanged.
    pub async fn start(
        &self,
        planned: &[Planned<'_>],
        report: &mut RollbackReport,
    ) -> Result<Vec<Target>, JournalError> {
        let env = self.request.env;
        let mut targets = Vec::new();
        for p in planned {
            if p.running == p.target.task_definition {
                let done = format!("already running {}", short_td(&p.running));
                self.ctx.progress.done(&env.name, &p.spec.name, true, &done);
                report.services.push(unchanged(p));
                continue;
            }
            let detail = serde_json::json!({
                "from": p.running,
                "to": p.target.task_definition,
                "image": p.image,
                "actor": self.request.actor,
                "reason": self.request.reason,
            });
            let started = self.record(Some(&p.spec.name), STEP, Phase::Started, None, detail);
            self.append(started).await?;
            let step = format!(
                "rolling back {} → {}",
                short_td(&p.running),
                short_td(&p.target.task_definition)
            );
            self.ctx.progress.step(&env.name, &p.spec.name, &step);
            targets.push(Target {
                env: env.name.clone(),
                cluster: env.ecs.cluster.clone(),
                spec: p.spec.clone(),
                image: p.image.clone(),
                revision: Some(p.target.task_definition.clone()),
            });
        }
        Ok(targets)
    }

    /// Journals how one service's rollback ended and pins it when it verified.
    pub async fn settle(
        &self,
        records: &[Record],
        p: &Planned<'_>,
        result: DeployResult,
    ) -> ServiceRollback {
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
        let detail = serde_json::json!({
            "from": p.running,
            "to": p.target.task_definition,
            "running": running,
            "actor": self.request.actor,
            "reason": self.request.reason,
            "failure": reason,
        });
        let outcome = if verified { "succeeded" } else { "failed" };
        let finished = self.record(
            Some(&p.spec.name),
            STEP,
            Phase::Finished,
            Some(outcome),
            detail,
        );
        self.append(finished).await.ok();
        let pin = verified.then(|| self.pin(records, p));
        if let Some(pin) = &pin {
            self.append(pin.record()).await.ok();
        }
        ServiceRollback {
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
        }
    }

    fn pin(&self, records: &[Record], p: &Planned<'_>) -> Pin {
        let env = &self.request.env.name;
        Pin {
            env: env.clone(),
            service: p.spec.name.clone(),
            by: self.request.actor.clone(),
            at: self.ctx.clock.now(),
            reason: self.request.reason.clone(),
            commit: running_commit(records, env, &p.spec.name, &p.running),
            spec: running_spec(records, env, &p.spec.name, &p.running)
                .or_else(|| Some(spec_fingerprint(p.spec))),
            from: Some(p.running.clone()),
            to: p.target.task_definition.clone(),
            restores: p.target.commit.clone(),
            run: self.id.clone(),
        }
    }

    pub async fn finish(&self, report: &RollbackReport) {
        let outcome = match report.outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        };
        let detail = serde_json::json!({ "kind": "rollback", "services": report.services.len() });
        let finished = self.record(None, "run", Phase::Finished, Some(outcome), detail);
        self.append(finished).await.ok();
    }
}

fn unchanged(p: &Planned<'_>) -> ServiceRollback {
    ServiceRollback {
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
    }
}
