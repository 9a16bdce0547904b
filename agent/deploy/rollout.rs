//! Rolling services and deciding: render → register → UpdateService → poll → [`Gate`] →
//! verdict, and on failure UpdateService back to the last verified revision, gated the same
//! way. Several services roll at once (bounded); one loop polls them all so that ECS calls are
//! batched (DescribeServices by 10) and task lists are re-read only when ECS's counts change.
//! Every step is journalled before it acts and after it finishes.

use super::gate::{Decision, DeploymentView, Failure, Gate, GateConfig, NewTask, Observation};
use super::progress::Progress;
use super::render::{RenderError, render};
use super::write_ahead::{StepError, not_deployed};
use crate::clock::Clock;
use crate::cloud::retry::RetryPolicy;
use crate::cloud::types::{
    CircuitBreaker, DeploymentConfiguration, DesiredStatus, EcsService, TargetState, Task,
    UpdateService,
};
use crate::cloud::{Cloud, CloudError, DESCRIBE_SERVICES_BATCH, DESCRIBE_TASKS_BATCH};
use crate::config::Service;
use crate::journal::{Journal, JournalError, Phase, Record, last_verified};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// One service to roll to `image`.
#[derive(Clone, Debug)]
pub struct Target {
    pub env: String,
    pub cluster: String,
    pub spec: Service,
    /// Full image reference, pinned by digest: `host/repo@sha256:…`.
    pub image: String,
    /// An already registered task definition (ARN) to deploy as it is — `amagent rollback`:
    /// nothing is rendered or registered, and `image` is the one it runs. None: render the
    /// spec with `image` onto the running revision (registering one if anything changed).
    pub revision: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// Why a failed deploy failed, for exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The new revision did not pass the gate.
    Rollout,
    /// AWS refused (access denied, not found): nothing was changed by the refused call.
    Refused,
    /// The spec does not fit the running task definition (no such container, port).
    Config,
    /// The image could not be built or pushed: nothing was deployed.
    Build,
    /// The journal could not be read, or would not take a step's "started" record: the step
    /// did not act.
    Journal,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeployResult {
    pub env: String,
    pub service: String,
    pub outcome: Outcome,
    pub rolled_back: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<FailureKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The task definition the service runs at the end.
    pub task_definition: Option<String>,
    /// The image deployed (or attempted).
    pub image: String,
    /// The revision running before the deploy.
    pub previous_task_definition: Option<String>,
    /// The revision this deploy registered (or reused).
    pub new_task_definition: Option<String>,
    /// Seconds from UpdateService to the verdict (virtual under the simulator).
    pub seconds: f64,
}

impl DeployResult {
    /// A service whose image could not be built: nothing was deployed, nothing changed.
    pub fn build_failed(env: &str, service: &str, reason: String) -> Self {
        DeployResult {
            env: env.to_string(),
            service: service.to_string(),
            outcome: Outcome::Failed,
            rolled_back: false,
            failure_kind: Some(FailureKind::Build),
            reason: Some(reason),
            task_definition: None,
            image: String::new(),
            previous_task_definition: None,
            new_task_definition: None,
            seconds: 0.0,
        }
    }

    fn failed(target: &Target, kind: FailureKind, reason: String) -> Self {
        DeployResult {
            env: target.env.clone(),
            service: target.spec.name.clone(),
            outcome: Outcome::Failed,
            rolled_back: false,
            failure_kind: Some(kind),
            reason: Some(reason),
            task_definition: None,
            image: target.image.clone(),
            previous_task_definition: None,
            new_task_definition: None,
            seconds: 0.0,
        }
    }
}

/// Runs rollouts. Borrowed parts: the engine owns no I/O of its own.
pub struct Rollout<'a> {
    pub cloud: &'a Cloud,
    pub clock: &'a Clock,
    pub journal: &'a dyn Journal,
    pub progress: &'a dyn Progress,
    pub run_id: &'a str,
    pub retry: RetryPolicy,
    /// Services rolling at the same time.
    pub concurrency: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Rolling,
    RollingBack,
}

/// The service settings an UpdateService sets.
#[derive(Clone, Copy, Debug)]
struct Settings {
    desired_count: u32,
    minimum_healthy_percent: u32,
    maximum_percent: u32,
}

impl Settings {
    fn of(spec: &Service) -> Self {
        Settings {
            desired_count: spec.desired_count,
            minimum_healthy_percent: spec.deploy.minimum_healthy_percent,
            maximum_percent: spec.deploy.maximum_percent,
        }
    }
}

struct InFlight {
    target: Target,
    /// UpdateService kept the existing deployment (same task definition).
    reused_deployment: bool,
    /// What the service ran with before: a rollback restores it, not the failed spec's.
    previous_settings: Settings,
    stage: Stage,
    gate: Gate,
    deployment_id: String,
    updated_at: chrono::DateTime<chrono::Utc>,
    started: Instant,
    rollout_started: Instant,
    next_poll: Instant,
    new_td: String,
    previous_td: Option<String>,
    rollback_to: Option<String>,
    first_failure: Option<String>,
    target_group: Option<String>,
    /// ECS counts the task list was read at; re-read when they change.
    task_key: Option<String>,
    tasks: Vec<Task>,
    /// The last progress status shown.
    last_status: &'static str,
    /// Target health by target id (task IP), as last read.
    health: HashMap<String, (TargetState, Option<String>)>,
}

enum Verdict {
    Continue,
    Done(DeployResult),
}

impl Rollout<'_> {
    /// Roll every target and return one result each, in completion order.
    pub async fn run(&self, targets: Vec<Target>) -> Vec<DeployResult> {
        let mut pending: VecDeque<Target> = targets.into();
        let mut active: Vec<InFlight> = Vec::new();
        let mut results = Vec::new();
        loop {
            while active.len() < self.concurrency.max(1) {
                let Some(target) = pending.pop_front() else {
                    break;
                };
                match self.start(target).await {
                    Ok(flight) => active.push(flight),
                    Err(result) => results.push(*result),
                }
            }
            let Some(next) = active.iter().map(|f| f.next_poll).min() else {
                break;
            };
            tokio::time::sleep_until(next).await;
            let now = Instant::now();
            let (due, waiting): (Vec<InFlight>, Vec<InFlight>) =
                active.into_iter().partition(|f| f.next_poll <= now);
            active = waiting;
            for (flight, verdict) in self.poll(due).await {
                match verdict {
                    Verdict::Continue => active.push(flight),
                    Verdict::Done(result) => results.push(result),
                }
            }
        }
        results
    }

    /// Record a step that already happened: a journal failure is logged (the step cannot be
    /// undone by not recording it), and the next write-ahead will stop what follows.
    async fn record(
        &self,
        target: &Target,
        step: &str,
        phase: Phase,
        outcome: Option<&str>,
        detail: serde_json::Value,
    ) {
        let _ = self.write_ahead(target, step, phase, outcome, detail).await;
    }

    /// Record a step before it acts: Err means it must not act.
    async fn write_ahead(
        &self,
        target: &Target,
        step: &str,
        phase: Phase,
        outcome: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), JournalError> {
        let record = Record {
            at: self.clock.now(),
            run: self.run_id.to_string(),
            env: target.env.clone(),
            service: Some(target.spec.name.clone()),
            step: step.to_string(),
            phase,
            outcome: outcome.map(String::from),
            detail,
        };
        self.journal.append(&record).await.inspect_err(|e| {
            tracing::error!(error = %e, step, phase = phase.as_str(), "cannot write the journal");
        })
    }

    async fn call<T, F, Fut>(&self, operation: &str, call: F) -> Result<T, CloudError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CloudError>>,
    {
        self.retry.run(operation, call).await
    }

    /// Render, register and UpdateService. Err: the deploy ended before rolling.
    async fn start(&self, target: Target) -> Result<InFlight, Box<DeployResult>> {
        let (env, name) = (target.env.as_str(), target.spec.name.as_str());
        self.progress.step(
            env,
            name,
            &format!("deploying {}", short_image(&target.image)),
        );
        if let Err(e) = self
            .write_ahead(
                &target,
                "deploy",
                Phase::Started,
                None,
                serde_json::json!({
                    "image": target.image,
                    "spec": spec_fingerprint(&target.spec),
                    "revision": target.revision,
                }),
            )
            .await
        {
            let result = DeployResult::failed(&target, FailureKind::Journal, not_deployed(&e));
            self.finish_failed(&target, &result).await;
            return Err(Box::new(result));
        }
        let refused = |e: CloudError| {
            let result = DeployResult::failed(&target, FailureKind::Refused, e.to_string());
            let target = &target;
            async move {
                self.finish_failed(target, &result).await;
                Box::new(result)
            }
        };
        let services = match self
            .call("DescribeServices", || {
                self.cloud.ecs.describe_services(
                    &target.cluster,
                    std::slice::from_ref(&target.spec.ecs.service),
                )
            })
            .await
        {
            Ok(s) => s,
            Err(e) => return Err(refused(e).await),
        };
        let Some(current_service) = services.into_iter().next() else {
            return Err(refused(CloudError::not_found(
                crate::cloud::ResourceKind::Service,
                &target.spec.ecs.service,
            ))
            .await);
        };
        let current = match self
            .call("DescribeTaskDefinition", || {
                self.cloud
                    .ecs
                    .describe_task_definition(&current_service.task_definition)
            })
            .await
        {
            Ok(td) => td,
            Err(e) => return Err(refused(e).await),
        };
        let stable = current_service
            .primary()
            .filter(|d| d.rollout_state == crate::cloud::types::RolloutState::Completed)
            .map(|d| d.task_definition.clone());
        // Without the journal the rollback target is unknown: do not start what may need one.
        let verified = match self.journal.read(Some(env)).await {
            Ok(records) => last_verified(&records, env, name),
            Err(e) => {
                let result = DeployResult::failed(&target, FailureKind::Journal, not_deployed(&e));
                self.finish_failed(&target, &result).await;
                return Err(Box::new(result));
            }
        };
        // A verified revision someone has since deregistered cannot be rolled back to.
        let verified = match verified {
            Some(td) => match self
                .call("DescribeTaskDefinition", || {
                    self.cloud.ecs.describe_task_definition(&td)
                })
                .await
            {
                // Only an ACTIVE revision of the same family can be rolled back to (a deregistered
                // one is INACTIVE and UpdateService refuses it).
                Ok(found)
                    if found.family == current.family
                        && found
                            .extra
                            .get("status")
                            .and_then(|v| v.as_str())
                            .unwrap_or("ACTIVE")
                            == "ACTIVE" =>
                {
                    Some(found.arn)
                }
                _ => {
                    tracing::warn!(task_definition = %td, "the last verified revision is gone; falling back to the running one");
                    None
                }
            },
            None => None,
        };
        // The last revision this agent verified; failing that, the one ECS ran stably.
        let rollback_to = verified.or(stable.clone());

        let ssm = self.cloud.ssm.clone();
        let rendered = match &target.revision {
            // An existing revision: deployed as is (None = nothing to register).
            Some(_) => Ok(None),
            None => render(&current, &target.spec, &target.image, |p| ssm.arn(p)),
        };
        let rendered = match rendered {
            Ok(r) => r,
            Err(e) => {
                let e: RenderError = e;
                let result = DeployResult::failed(&target, FailureKind::Config, e.to_string());
                self.finish_failed(&target, &result).await;
                return Err(Box::new(result));
            }
        };
        let config_unchanged = current_service.desired_count == target.spec.desired_count
            && current_service
                .deployment_configuration
                .minimum_healthy_percent
                == target.spec.deploy.minimum_healthy_percent
            && current_service.deployment_configuration.maximum_percent
                == target.spec.deploy.maximum_percent;
        let unchanged_revision = target.revision.as_deref().is_none_or(|r| r == current.arn);
        let new_td = match rendered {
            None if unchanged_revision
                && config_unchanged
                && stable.as_deref() == Some(current.arn.as_str()) =>
            {
                // Already running exactly this, and stable: nothing to roll.
                let result = DeployResult {
                    env: env.to_string(),
                    service: name.to_string(),
                    outcome: Outcome::Succeeded,
                    rolled_back: false,
                    failure_kind: None,
                    reason: Some("already running this image and configuration".into()),
                    task_definition: Some(current.arn.clone()),
                    image: target.image.clone(),
                    previous_task_definition: Some(current.arn.clone()),
                    new_task_definition: None,
                    seconds: 0.0,
                };
                self.record(&target, "deploy", Phase::Finished, Some("succeeded"),
                    serde_json::json!({ "task_definition": current.arn, "image": target.image, "unchanged": true })).await;
                self.progress.done(env, name, true, "already up to date");
                return Err(Box::new(result));
            }
            None => target
                .revision
                .clone()
                .unwrap_or_else(|| current.arn.clone()),
            Some(td) => {
                // A run interrupted after registering (agent killed) left the revision behind:
                // the family's newest revision, identical to what we would register. Reuse it.
                let latest = self
                    .call("DescribeTaskDefinition", || {
                        self.cloud.ecs.describe_task_definition(&td.family)
                    })
                    .await
                    .ok()
                    .filter(|latest| {
                        latest.arn != current.arn
                            && crate::deploy::render::same_definition(latest, &td)
                    });
                if let Some(latest) = latest {
                    self.record(
                        &target,
                        "register",
                        Phase::Finished,
                        Some("succeeded"),
                        serde_json::json!({ "task_definition": latest.arn, "reused": true }),
                    )
                    .await;
                    self.progress.step(
                        env,
                        name,
                        &format!(
                            "reusing {} (registered by an interrupted run)",
                            latest.family_revision()
                        ),
                    );
                    latest.arn
                } else {
                    if let Err(e) = self
                        .write_ahead(
                            &target,
                            "register",
                            Phase::Started,
                            None,
                            serde_json::json!({ "family": td.family }),
                        )
                        .await
                    {
                        let kind = FailureKind::Journal;
                        let result = DeployResult::failed(&target, kind, not_deployed(&e));
                        self.finish_failed(&target, &result).await;
                        return Err(Box::new(result));
                    }
                    let registered = match self
                        .call("RegisterTaskDefinition", || {
                            self.cloud.ecs.register_task_definition(&td)
                        })
                        .await
                    {
                        Ok(r) => r,
                        Err(e) => return Err(refused(e).await),
                    };
                    self.record(
                        &target,
                        "register",
                        Phase::Finished,
                        Some("succeeded"),
                        serde_json::json!({ "task_definition": registered.arn }),
                    )
                    .await;
                    self.progress.step(
                        env,
                        name,
                        &format!("registered {}", registered.family_revision()),
                    );
                    registered.arn
                }
            }
        };
        let pre_primary = current_service.primary().map(|d| d.id.clone());
        let previous_settings = Settings {
            desired_count: current_service.desired_count,
            minimum_healthy_percent: current_service
                .deployment_configuration
                .minimum_healthy_percent,
            maximum_percent: current_service.deployment_configuration.maximum_percent,
        };
        let (deployment_id, updated_at) = match self
            .update_service(
                &target,
                &new_td,
                "update-service",
                Settings::of(&target.spec),
            )
            .await
        {
            Ok(x) => x,
            Err(e) => {
                // Refused before anything rolled: the service still runs what it ran.
                let mut result = DeployResult::failed(&target, e.kind(), e.to_string());
                result.task_definition = Some(current.arn.clone());
                result.previous_task_definition = Some(current.arn.clone());
                result.new_task_definition = Some(new_td.clone());
                self.finish_failed(&target, &result).await;
                return Err(Box::new(result));
            }
        };

        let now = Instant::now();
        // The same task definition (only the count or settings changed): ECS keeps the
        // deployment, whose older tasks (e.g. stopped by a scale-in) are not this deploy's.
        let reused_deployment = pre_primary.as_deref() == Some(deployment_id.as_str());
        Ok(InFlight {
            reused_deployment,
            previous_settings,
            gate: Gate::new(gate_config(&target.spec)),
            stage: Stage::Rolling,
            deployment_id,
            updated_at,
            started: now,
            rollout_started: now,
            next_poll: now,
            target_group: current_service
                .load_balancers
                .iter()
                .find(|lb| lb.container_name == target.spec.ecs.container)
                .map(|lb| lb.target_group_arn.clone()),
            previous_td: Some(current.arn.clone()),
            new_td,
            rollback_to,
            first_failure: None,
            task_key: None,
            tasks: Vec::new(),
            health: HashMap::new(),
            last_status: "",
            target,
        })
    }

    /// UpdateService to `task_definition` with the spec's deployment settings; returns the new
    /// PRIMARY deployment's id.
    async fn update_service(
        &self,
        target: &Target,
        task_definition: &str,
        step: &str,
        settings: Settings,
    ) -> Result<(String, chrono::DateTime<chrono::Utc>), StepError> {
        let request = UpdateService {
            cluster: target.cluster.clone(),
            service: target.spec.ecs.service.clone(),
            task_definition: task_definition.to_string(),
            desired_count: Some(settings.desired_count),
            deployment_configuration: Some(DeploymentConfiguration {
                minimum_healthy_percent: settings.minimum_healthy_percent,
                maximum_percent: settings.maximum_percent,
                // ECS stops launching a crash-looping revision; the agent owns the rollback.
                circuit_breaker: Some(CircuitBreaker {
                    enable: true,
                    rollback: false,
                }),
            }),
        };
        self.write_ahead(
            target,
            step,
            Phase::Started,
            None,
            serde_json::json!({ "task_definition": task_definition }),
        )
        .await
        .map_err(StepError::Journal)?;
        let updated_at = self.clock.now();
        let result = self
            .call("UpdateService", || self.cloud.ecs.update_service(&request))
            .await;
        match result {
            Ok(service) => {
                let id = service.primary().map(|d| d.id.clone()).unwrap_or_default();
                self.record(
                    target,
                    step,
                    Phase::Finished,
                    Some("succeeded"),
                    serde_json::json!({ "task_definition": task_definition, "deployment": id }),
                )
                .await;
                Ok((id, updated_at))
            }
            Err(e) => {
                self.record(
                    target,
                    step,
                    Phase::Finished,
                    Some("failed"),
                    serde_json::json!({ "error": e.to_string() }),
                )
                .await;
                Err(StepError::Cloud(e))
            }
        }
    }

    async fn finish_failed(&self, target: &Target, result: &DeployResult) {
        self.record(
            target,
            "deploy",
            Phase::Finished,
            Some("failed"),
            serde_json::to_value(result).unwrap_or_default(),
        )
        .await;
        self.progress.done(
            &target.env,
            &target.spec.name,
            false,
            result.reason.as_deref().unwrap_or("failed"),
        );
    }

    /// Observe every due rollout (batched per cluster) and act on the gates' decisions.
    async fn poll(&self, due: Vec<InFlight>) -> Vec<(InFlight, Verdict)> {
        let mut by_cluster: BTreeMap<String, Vec<InFlight>> = BTreeMap::new();
        for f in due {
            by_cluster
                .entry(f.target.cluster.clone())
                .or_default()
                .push(f);
        }
        let mut out = Vec::new();
        for (cluster, flights) in by_cluster {
            let names: Vec<String> = flights
                .iter()
                .map(|f| f.target.spec.ecs.service.clone())
                .collect();
            let mut described: HashMap<String, EcsService> = HashMap::new();
            let mut error = None;
            for chunk in names.chunks(DESCRIBE_SERVICES_BATCH) {
                match self
                    .call("DescribeServices", || {
                        self.cloud.ecs.describe_services(&cluster, chunk)
                    })
                    .await
                {
                    Ok(services) => {
                        described.extend(services.into_iter().map(|s| (s.service_name.clone(), s)))
                    }
                    Err(e) => error = Some(e),
                }
            }
            for mut flight in flights {
                let observation = match (&error, described.get(&flight.target.spec.ecs.service)) {
                    (_, Some(service)) => self.observe(&mut flight, service).await,
                    (Some(e), None) => Err(e.clone()),
                    (None, None) => Err(CloudError::not_found(
                        crate::cloud::ResourceKind::Service,
                        &flight.target.spec.ecs.service,
                    )),
                };
                let decision = match observation {
                    Ok(obs) => flight.gate.observe(&obs),
                    // Unable to watch is unable to verify: decide, never leave it hanging.
                    Err(e) => Decision::Failed(Failure::Timeout {
                        waiting_for: format!("an observation of the rollout ({e})"),
                    }),
                };
                let verdict = self.decide(&mut flight, decision).await;
                out.push((flight, verdict));
            }
        }
        out
    }

    async fn observe(
        &self,
        flight: &mut InFlight,
        service: &EcsService,
    ) -> Result<Observation, CloudError> {
        let cluster = flight.target.cluster.clone();
        let name = flight.target.spec.ecs.service.clone();
        // Re-read tasks only when ECS's counts moved: a task started, stopped or failed.
        let key = service
            .deployments
            .iter()
            .map(|d| {
                format!(
                    "{}:{}:{}:{}:{:?}",
                    d.id, d.running_count, d.pending_count, d.failed_tasks, d.rollout_state
                )
            })
            .collect::<Vec<_>>()
            .join("|");
        if flight.task_key.as_deref() != Some(key.as_str()) {
            let mut arns = self
                .call("ListTasks", || {
                    self.cloud
                        .ecs
                        .list_tasks(&cluster, &name, DesiredStatus::Running)
                })
                .await?;
            arns.extend(
                self.call("ListTasks", || {
                    self.cloud
                        .ecs
                        .list_tasks(&cluster, &name, DesiredStatus::Stopped)
                })
                .await?,
            );
            // A task whose desired status flipped between the two calls is listed twice.
            arns.sort();
            arns.dedup();
            let mut tasks = Vec::new();
            for chunk in arns.chunks(DESCRIBE_TASKS_BATCH) {
                tasks.extend(
                    self.call("DescribeTasks", || {
                        self.cloud.ecs.describe_tasks(&cluster, chunk)
                    })
                    .await?,
                );
            }
            flight.tasks = tasks;
            flight.task_key = Some(key);
        }
        // After the bake only the old tasks' drain is awaited: a new task failing then still
        // shows in ECS's counts (ECS stops it), so target health need not be re-read.
        let baked = flight.gate.bake_done(flight.rollout_started.elapsed());
        if let (Some(arn), false) = (&flight.target_group, baked) {
            flight.health = self
                .call("DescribeTargetHealth", || {
                    self.cloud.elb.describe_target_health(arn)
                })
                .await?
                .into_iter()
                .map(|t| (t.target_id, (t.state, t.reason)))
                .collect();
        }
        let health = &flight.health;
        let deployment = service
            .deployments
            .iter()
            .find(|d| d.id == flight.deployment_id)
            .map(|d| DeploymentView {
                is_primary: d.status == "PRIMARY",
                rollout_state: d.rollout_state,
                rollout_state_reason: d.rollout_state_reason.clone(),
                desired_count: d.desired_count,
                failed_tasks: d.failed_tasks,
            });
        let new_tasks = flight
            .tasks
            .iter()
            .filter(|t| t.started_by == flight.deployment_id)
            .filter(|t| {
                !flight.reused_deployment
                    || t.desired_status == "RUNNING"
                    || t.created_at >= flight.updated_at
            })
            .map(|t| {
                let h = health.get(&t.private_ip);
                NewTask {
                    task_arn: t.task_arn.clone(),
                    last_status: t.last_status.clone(),
                    stopped_reason: t.stopped_reason.clone(),
                    target: h.map(|(s, _)| *s),
                    target_reason: h.and_then(|(_, r)| r.clone()),
                }
            })
            .collect();
        let old_tasks_remaining = flight
            .tasks
            .iter()
            .filter(|t| t.started_by != flight.deployment_id && t.last_status != "STOPPED")
            .count() as u32;
        // Events of our deployment: from its own creation time (AWS's clock), unless ECS kept an
        // older deployment.
        let since = service
            .deployments
            .iter()
            .find(|d| d.id == flight.deployment_id && !flight.reused_deployment)
            .map(|d| d.created_at)
            .unwrap_or(flight.updated_at);
        let stuck_event = service
            .events
            .iter()
            .find(|e| e.created_at >= since && e.message.contains("unable to stop or start tasks"))
            .map(|e| e.message.clone());
        Ok(Observation {
            elapsed: flight.rollout_started.elapsed(),
            deployment,
            old_tasks_remaining,
            new_tasks,
            stuck_event,
        })
    }

    async fn decide(&self, flight: &mut InFlight, decision: Decision) -> Verdict {
        let (env, name) = (flight.target.env.clone(), flight.target.spec.name.clone());
        match (flight.stage, decision) {
            (_, Decision::Wait(d)) => {
                // Say what the rollout waits for, once per change (not once per poll).
                let elapsed = flight.rollout_started.elapsed();
                let status = match (flight.gate.healthy_since(), flight.gate.bake_done(elapsed)) {
                    (None, _) => "waiting for new tasks to pass health checks",
                    (Some(_), false) => "all new tasks healthy; baking",
                    (Some(_), true) => "baked; waiting for the old tasks to drain",
                };
                if flight.last_status != status {
                    flight.last_status = status;
                    self.progress.step(&env, &name, status);
                }
                flight.next_poll = Instant::now() + d;
                Verdict::Continue
            }
            (Stage::Rolling, Decision::Succeeded) => {
                self.record(
                    &flight.target,
                    "gate",
                    Phase::Finished,
                    Some("succeeded"),
                    serde_json::json!({ "task_definition": flight.new_td }),
                )
                .await;
                let result = self.result(
                    flight,
                    Outcome::Succeeded,
                    false,
                    None,
                    Some(flight.new_td.clone()),
                );
                self.record(&flight.target, "deploy", Phase::Finished, Some("succeeded"),
                    serde_json::json!({ "task_definition": flight.new_td, "image": flight.target.image, "seconds": result.seconds })).await;
                self.progress.done(
                    &env,
                    &name,
                    true,
                    &format!("deployed {} and verified healthy", short_td(&flight.new_td)),
                );
                Verdict::Done(result)
            }
            (Stage::Rolling, Decision::Failed(failure)) => {
                let reason = failure.to_string();
                self.record(
                    &flight.target,
                    "gate",
                    Phase::Finished,
                    Some("failed"),
                    serde_json::json!({ "failure": failure, "task_definition": flight.new_td }),
                )
                .await;
                self.progress
                    .step(&env, &name, &format!("failed: {reason}"));
                self.roll_back(flight, reason).await
            }
            (Stage::RollingBack, Decision::Succeeded) => {
                let to = flight.rollback_to.clone().unwrap_or_default();
                self.record(
                    &flight.target,
                    "rollback",
                    Phase::Finished,
                    Some("succeeded"),
                    serde_json::json!({ "task_definition": to }),
                )
                .await;
                self.record(
                    &flight.target,
                    "verified",
                    Phase::Finished,
                    Some("succeeded"),
                    serde_json::json!({ "task_definition": to }),
                )
                .await;
                let reason = flight.first_failure.clone();
                let result = self.result(
                    flight,
                    Outcome::Failed,
                    true,
                    reason.clone(),
                    Some(to.clone()),
                );
                self.finish_failed(&flight.target, &result).await;
                Verdict::Done(result)
            }
            (Stage::RollingBack, Decision::Failed(failure)) => {
                let reason = format!(
                    "{}; the rollback to {} failed too: {failure}",
                    flight.first_failure.clone().unwrap_or_default(),
                    short_td(flight.rollback_to.as_deref().unwrap_or("?"))
                );
                self.record(
                    &flight.target,
                    "rollback",
                    Phase::Finished,
                    Some("failed"),
                    serde_json::json!({ "failure": failure }),
                )
                .await;
                let running = flight.rollback_to.clone();
                let result = self.result(flight, Outcome::Failed, false, Some(reason), running);
                self.finish_failed(&flight.target, &result).await;
                Verdict::Done(result)
            }
        }
    }

    async fn roll_back(&self, flight: &mut InFlight, reason: String) -> Verdict {
        let (env, name) = (flight.target.env.clone(), flight.target.spec.name.clone());
        let target = match (&flight.rollback_to, flight.target.spec.deploy.auto_rollback) {
            (Some(to), true) if *to != flight.new_td => to.clone(),
            (to, auto) => {
                let why = if !auto {
                    "auto-rollback is off: the service stays on the new revision".to_string()
                } else if to.is_none() {
                    "no verified revision to roll back to".to_string()
                } else {
                    "the failed revision is the last verified one: nothing to roll back to"
                        .to_string()
                };
                let result = self.result(
                    flight,
                    Outcome::Failed,
                    false,
                    Some(format!("{reason} ({why})")),
                    Some(flight.new_td.clone()),
                );
                self.finish_failed(&flight.target, &result).await;
                return Verdict::Done(result);
            }
        };
        self.progress.step(
            &env,
            &name,
            &format!("rolling back to {}", short_td(&target)),
        );
        flight.first_failure = Some(reason.clone());
        let started = self
            .write_ahead(
                &flight.target,
                "rollback",
                Phase::Started,
                None,
                serde_json::json!({ "task_definition": target, "reason": reason }),
            )
            .await
            .map_err(StepError::Journal);
        let updated = match started {
            Ok(()) => {
                self.update_service(
                    &flight.target,
                    &target,
                    "rollback-update-service",
                    flight.previous_settings,
                )
                .await
            }
            Err(e) => Err(e),
        };
        match updated {
            Ok((id, at)) => {
                flight.stage = Stage::RollingBack;
                flight.reused_deployment = false;
                flight.deployment_id = id;
                flight.updated_at = at;
                flight.gate = Gate::new(gate_config(&flight.target.spec));
                flight.rollout_started = Instant::now();
                flight.next_poll = Instant::now();
                flight.task_key = None;
                flight.health.clear();
                flight.last_status = "";
                Verdict::Continue
            }
            Err(e) => {
                let result = self.result(
                    flight,
                    Outcome::Failed,
                    false,
                    Some(format!("{reason}; the rollback could not start: {e}")),
                    Some(flight.new_td.clone()),
                );
                self.finish_failed(&flight.target, &result).await;
                Verdict::Done(result)
            }
        }
    }

    fn result(
        &self,
        flight: &InFlight,
        outcome: Outcome,
        rolled_back: bool,
        reason: Option<String>,
        running: Option<String>,
    ) -> DeployResult {
        DeployResult {
            env: flight.target.env.clone(),
            service: flight.target.spec.name.clone(),
            outcome,
            rolled_back,
            failure_kind: (outcome == Outcome::Failed).then_some(FailureKind::Rollout),
            reason,
            task_definition: running,
            image: flight.target.image.clone(),
            previous_task_definition: flight.previous_td.clone(),
            new_task_definition: Some(flight.new_td.clone()),
            seconds: flight.started.elapsed().as_secs_f64(),
        }
    }
}

fn gate_config(spec: &Service) -> GateConfig {
    GateConfig {
        bake: Duration::from_secs(spec.deploy.bake_seconds.into()),
        timeout: Duration::from_secs(spec.deploy.timeout_seconds.into()),
        load_balanced: spec.load_balancer.is_some(),
    }
}

/// A short, stable fingerprint of a service's spec (sha256 of its JSON, 16 hex digits),
/// journalled with each deploy so that a pin can tell a deploy of a different spec.
pub fn spec_fingerprint(spec: &Service) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(spec).expect("a spec serializes");
    Sha256::digest(&json)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `family:revision` from a task definition ARN.
pub fn short_td(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `repo@sha256:abcdef123456` from a full image reference.
pub fn short_image(image: &str) -> String {
    let name = image.rsplit('/').next().unwrap_or(image);
    match name.split_once("@sha256:") {
        Some((repo, digest)) => {
            format!(
                "{repo}@sha256:{}",
                digest.chars().take(12).collect::<String>()
            )
        }
        None => name.to_string(),
    }
}
