//! Rolling services and deciding: render → register → UpdateService → poll → [`Gate`] →
//! verdict, and on failure UpdateService back to the last verified revision, gated the same
//! way. Several services roll at once (bounded); one loop polls them all so that ECS calls are
//! batched (DescribeServices by 10) and task lists are re-read only when ECS's counts change.
//! Every step is journalled before it acts and after it finishes.

use super::gate::{
    Decision, DeploymentView, Failure, Gate, GateConfig, NewTask, Observation, TargetView,
    first_look,
};
use super::pre_deploy::PreDeployReport;
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
use crate::state::journal::{Journal, JournalError, Phase, Record, last_verified};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

mod decide;
mod observe;
mod pre_deploy;
mod shape;
mod start;
mod timing;
mod watch_alarms;

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
    /// The pre-deploy task did not exit 0: the service was not updated.
    PreDeploy,
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
    /// The pre-deploy task, when the spec has one and it ran (or was refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_deploy: Option<PreDeployReport>,
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
            pre_deploy: None,
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
            pre_deploy: None,
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
    /// The pace of its reads (many services poll in step).
    pub pacer: crate::cloud::pace::Pacer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Rolling,
    RollingBack,
}

/// The service settings an UpdateService sets.
#[derive(Clone, Debug)]
struct Settings {
    /// None: leave ECS's count (an autoscaler owns it).
    desired_count: Option<u32>,
    minimum_healthy_percent: u32,
    maximum_percent: u32,
    /// ECS's deployment alarms: not the spec's to change, so handed back as the service had them.
    alarms: Option<crate::cloud::types::DeploymentAlarms>,
    /// Sent only when set: None leaves the service's own grace period as it is.
    health_check_grace_period_seconds: Option<u32>,
}

impl Settings {
    fn of(spec: &Service, live: &EcsService) -> Self {
        Settings {
            desired_count: spec.desired_count.fixed(),
            minimum_healthy_percent: spec.deploy.minimum_healthy_percent,
            maximum_percent: spec.deploy.maximum_percent,
            alarms: live.deployment_configuration.alarms.clone(),
            health_check_grace_period_seconds: spec.deploy.health_check_grace_period_seconds,
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
    /// What the gate was set up with (the rollback's gate starts from it).
    gate_config: GateConfig,
    deployment_id: String,
    updated_at: chrono::DateTime<chrono::Utc>,
    started: Instant,
    rollout_started: Instant,
    next_poll: Instant,
    new_td: String,
    previous_td: Option<String>,
    rollback_to: Option<String>,
    first_failure: Option<String>,
    /// ARNs of the target groups the service registers its tasks in (every one is read).
    target_groups: Vec<String>,
    /// ECS counts the task list was read at; re-read when they change.
    task_key: Option<String>,
    tasks: Vec<Task>,
    /// When the tasks were last read (listed or described again).
    tasks_read_at: Option<Instant>,
    /// The last progress status shown.
    last_status: &'static str,
    /// Target health per target group ARN, by target id (task IP), as last read.
    health: HashMap<String, HashMap<String, (TargetState, Option<String>)>>,
    /// CloudWatch alarms the gate watches while rolling (`deploy.alarms` and ECS's own).
    alarms: Vec<String>,
    /// The pre-deploy task that ran before UpdateService, if any.
    pre_deploy: Option<PreDeployReport>,
}

enum Verdict {
    Continue,
    Done(Box<DeployResult>),
}

/// How early a look may come to share a batch with the looks due now.
const BATCH_SLACK: Duration = Duration::from_secs(1);

/// A target's start: rolling, or already ended.
type Started = Result<InFlight, Box<DeployResult>>;

impl Rollout<'_> {
    /// Roll every target and return one result each, in completion order.
    ///
    /// Targets start one at a time; a start that waits (a pre-deploy task runs for minutes)
    /// does not stop the in-flight rollouts from being polled meanwhile.
    pub async fn run(&self, targets: Vec<Target>) -> Vec<DeployResult> {
        let mut pending: VecDeque<Target> = targets.into();
        let mut active: Vec<InFlight> = Vec::new();
        let mut results = Vec::new();
        let mut starting: Option<Pin<Box<dyn Future<Output = Started> + Send + '_>>> = None;
        loop {
            if starting.is_none() && active.len() < self.concurrency.max(1) {
                starting = pending
                    .pop_front()
                    .map(|target| Box::pin(self.start(target)) as Pin<Box<_>>);
            }
            let next = active.iter().map(|f| f.next_poll).min();
            if starting.is_none() && next.is_none() {
                break;
            }
            let start_done = async {
                match starting.as_mut() {
                    Some(start) => start.await,
                    None => std::future::pending().await,
                }
            };
            let poll_due = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                started = start_done => {
                    starting = None;
                    match started {
                        Ok(flight) => active.push(flight),
                        Err(result) => results.push(*result),
                    }
                    continue;
                }
                () = poll_due => {}
            }
            // Flights due within BATCH_SLACK are looked at now too: one DescribeServices per 10
            // services holds only while their looks stay in step (paced reads drift apart).
            let soon = Instant::now() + BATCH_SLACK;
            let (due, waiting): (Vec<InFlight>, Vec<InFlight>) =
                active.into_iter().partition(|f| f.next_poll <= soon);
            active = waiting;
            for (flight, verdict) in self.poll(due).await {
                match verdict {
                    Verdict::Continue => active.push(flight),
                    Verdict::Done(result) => results.push(*result),
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
        let mut call = call;
        self.retry
            .run(operation, || {
                let answer = call();
                async move {
                    self.pacer.ready(operation).await;
                    answer.await
                }
            })
            .await
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
            pre_deploy: flight.pre_deploy.clone(),
        }
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
