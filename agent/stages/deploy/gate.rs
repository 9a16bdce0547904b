//! The health gate: the decision whether a rollout succeeded, as a pure state machine.
//!
//! Fed one [`Observation`] per poll (the ECS deployment, the tasks it started, the target
//! health of those **new** tasks only, and the time), it answers with the next [`Decision`]:
//! wait a little longer, or the verdict. It never sleeps and never calls AWS, so every rule is a
//! unit test below.
//!
//! Success: the new deployment runs its desired count, every new task is healthy — in every
//! target group, and HEALTHY by its container health check when the revision defines one —
//! then a bake period passes with no new task exiting and no new target turning unhealthy, and
//! the old tasks are gone. Failure: a new task exits, a new target turns unhealthy or a new
//! task's essential container UNHEALTHY (both only after the health check grace period, as
//! ECS ignores them until then), the ECS circuit breaker fails the rollout, ECS cannot make
//! progress, someone else's deployment replaced ours, a watched CloudWatch alarm entered ALARM
//! after the rollout began, or the timeout passes.

use crate::cloud::types::{RolloutState, TargetState};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

mod alarms;
mod cadence;
pub use alarms::{AlarmSignal, alarm_signals};
pub use cadence::{PollTiming, first_look};

/// The longest the gate waits between two observations: it decides within one tick of the
/// observation that settles the outcome.
pub const MAX_POLL: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateConfig {
    pub bake: Duration,
    pub timeout: Duration,
    /// The target groups the service registers its tasks in: a new task is healthy only when
    /// every one reports it healthy (none: RUNNING, and the container check, suffice).
    pub target_groups: usize,
    /// healthCheckGracePeriodSeconds: an unhealthy target or container is not a failure this
    /// long after the task was first seen RUNNING (ECS ignores them as long).
    pub grace: Duration,
    /// The revision's essential container defines a health check: a task must report HEALTHY
    /// (else RUNNING is enough; UNHEALTHY fails either way).
    pub container_health_check: bool,
    /// When the target groups let things change (None: look every [`MAX_POLL`]).
    pub timing: Option<PollTiming>,
}

/// What one poll saw. Times are measured from the gate's start (the UpdateService call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub elapsed: Duration,
    /// Our deployment, if ECS still lists it.
    pub deployment: Option<DeploymentView>,
    /// Tasks of other deployments that have not stopped yet (old ones draining).
    pub old_tasks_remaining: u32,
    /// Tasks started by our deployment, with their target's health.
    pub new_tasks: Vec<NewTask>,
    /// ECS's "unable to stop or start tasks … because of the service deployment configuration"
    /// event, if it appeared after our deployment started.
    pub stuck_event: Option<String>,
    /// The watched CloudWatch alarms (`deploy.alarms` and ECS's deployment alarms), as read.
    pub alarms: Vec<AlarmSignal>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentView {
    pub is_primary: bool,
    pub rollout_state: RolloutState,
    pub rollout_state_reason: Option<String>,
    pub desired_count: u32,
    pub failed_tasks: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    pub task_arn: String,
    /// ECS lastStatus: PENDING, RUNNING, STOPPED, …
    pub last_status: String,
    pub stopped_reason: Option<String>,
    /// Its target in each of the service's target groups, in the same order every poll.
    pub targets: Vec<TargetView>,
    /// ECS healthStatus of the task (its essential containers): HEALTHY, UNHEALTHY, UNKNOWN.
    pub health_status: Option<String>,
    /// Containers reporting UNHEALTHY, to name them.
    pub unhealthy_containers: Vec<String>,
}

/// A new task's target in one target group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetView {
    /// The group's name (or ARN), to name it.
    pub target_group: String,
    /// None until the task is registered there.
    pub state: Option<TargetState>,
    pub reason: Option<String>,
}

impl NewTask {
    fn is_stopped(&self) -> bool {
        matches!(
            self.last_status.as_str(),
            "DEACTIVATING" | "STOPPING" | "DEPROVISIONING" | "STOPPED"
        )
    }

    /// ECS stopped it to reach a lower desired count: a scale-in, not a failure.
    fn scaled_in(&self) -> bool {
        self.stopped_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("Scaling activity initiated by"))
    }

    fn unhealthy_target(&self) -> Option<&TargetView> {
        self.targets
            .iter()
            .find(|t| t.state == Some(TargetState::Unhealthy))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// A new task stopped; `reason` is ECS's stoppedReason.
    TaskExited {
        task: String,
        reason: String,
    },
    /// A new task's target turned unhealthy in a target group.
    TargetUnhealthy {
        task: String,
        reason: String,
    },
    /// A new task's essential container reported UNHEALTHY by its own health check.
    ContainerUnhealthy {
        task: String,
        containers: String,
    },
    /// The ECS deployment circuit breaker failed the rollout.
    CircuitBreaker {
        reason: String,
    },
    /// ECS cannot start or stop tasks within minimumHealthyPercent/maximumPercent.
    NoRoom {
        event: String,
    },
    /// Our deployment is no longer the PRIMARY one (ECS rolled back, or another deploy began).
    Replaced,
    /// A watched CloudWatch alarm entered ALARM during the rollout or the bake.
    Alarm {
        alarm: String,
        reason: String,
    },
    Timeout {
        waiting_for: String,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::TaskExited { task, reason } => {
                write!(f, "new task {} stopped: {reason}", short_task(task))
            }
            Failure::TargetUnhealthy { task, reason } => write!(
                f,
                "new task {} failed its load balancer health checks ({reason})",
                short_task(task)
            ),
            Failure::ContainerUnhealthy { task, containers } => write!(
                f,
                "new task {}: essential container {containers} failed its container health check (UNHEALTHY)",
                short_task(task)
            ),
            Failure::CircuitBreaker { reason } => write!(f, "{reason}"),
            Failure::NoRoom { event } => write!(f, "ECS cannot roll: {event}"),
            Failure::Replaced => write!(
                f,
                "the deployment was replaced (ECS rolled it back, or another deploy started)"
            ),
            Failure::Alarm { alarm, reason } => {
                write!(f, "CloudWatch alarm `{alarm}` went into ALARM: {reason}")
            }
            Failure::Timeout { waiting_for } => write!(f, "timed out waiting for {waiting_for}"),
        }
    }
}

fn short_task(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Observe again after this long.
    Wait(Duration),
    Succeeded,
    Failed(Failure),
}

#[derive(Clone, Debug)]
pub struct Gate {
    config: GateConfig,
    /// When every new task was first seen healthy (the bake started).
    healthy_since: Option<Duration>,
    /// When each new task was first seen RUNNING: its grace period runs from then.
    running_since: HashMap<String, Duration>,
    /// The last look at which not every new task was healthy.
    not_yet_healthy_at: Option<Duration>,
}

impl Gate {
    pub fn new(config: GateConfig) -> Self {
        Gate {
            config,
            healthy_since: None,
            running_since: HashMap::new(),
            not_yet_healthy_at: None,
        }
    }

    /// Whether the bake has passed at `elapsed` (all that can remain is the old tasks' drain).
    pub fn bake_done(&self, elapsed: Duration) -> bool {
        self.healthy_since
            .is_some_and(|since| elapsed >= since + self.config.bake)
    }

    /// The bake still to run at `elapsed`: None before every new task is healthy, zero after.
    pub fn bake_left(&self, elapsed: Duration) -> Option<Duration> {
        self.healthy_since
            .map(|since| (since + self.config.bake).saturating_sub(elapsed))
    }

    /// When the bake started, if it has.
    pub fn healthy_since(&self) -> Option<Duration> {
        self.healthy_since
    }

    pub fn observe(&mut self, obs: &Observation) -> Decision {
        let Some(deployment) = obs.deployment.as_ref().filter(|d| d.is_primary) else {
            return Decision::Failed(Failure::Replaced);
        };
        for t in obs.new_tasks.iter().filter(|t| t.last_status == "RUNNING") {
            self.running_since
                .entry(t.task_arn.clone())
                .or_insert(obs.elapsed);
        }
        // Failures first: the earliest sign of a bad rollout wins over a timeout.
        if let Some(failure) = self
            .new_task_failure(obs)
            .or_else(|| alarms::alarm_failure(&obs.alarms))
            .or_else(|| ecs_failure(obs, deployment))
        {
            return Decision::Failed(failure);
        }
        let desired = deployment.desired_count as usize;
        let healthy = self.healthy_new_tasks(obs);
        let bake_end = self.track_bake(obs.elapsed, healthy >= desired);
        if bake_end.is_none() {
            self.not_yet_healthy_at = Some(obs.elapsed);
        }
        let old_gone =
            obs.old_tasks_remaining == 0 || deployment.rollout_state == RolloutState::Completed;
        if let Some(end) = bake_end
            && obs.elapsed >= end
            && old_gone
        {
            return Decision::Succeeded;
        }
        if obs.elapsed >= self.config.timeout {
            let waiting_for = match bake_end {
                None => format!(
                    "{} of {desired} new task(s) to be healthy ({healthy} are)",
                    desired
                ),
                Some(end) if obs.elapsed < end => "the bake period to pass".to_string(),
                Some(_) => format!("{} old task(s) to drain", obs.old_tasks_remaining),
            };
            return Decision::Failed(Failure::Timeout { waiting_for });
        }
        Decision::Wait(self.next_poll(obs, deployment, bake_end, old_gone))
    }

    /// New tasks that count as healthy: RUNNING, healthy in every target group, and HEALTHY
    /// when the revision has a container health check (never UNHEALTHY).
    fn healthy_new_tasks(&self, obs: &Observation) -> usize {
        obs.new_tasks.iter().filter(|t| self.is_healthy(t)).count()
    }

    fn is_healthy(&self, t: &NewTask) -> bool {
        let health = t.health_status.as_deref();
        t.last_status == "RUNNING"
            && t.targets.len() >= self.config.target_groups
            && t.targets
                .iter()
                .all(|x| x.state == Some(TargetState::Healthy))
            && match self.config.container_health_check {
                true => health == Some("HEALTHY"),
                false => health != Some("UNHEALTHY"),
            }
    }

    /// Whether ECS still ignores `task`'s failing health checks: inside the grace period
    /// from when the task was first seen RUNNING.
    fn in_grace(&self, task: &NewTask, elapsed: Duration) -> bool {
        self.running_since
            .get(&task.task_arn)
            .is_some_and(|since| elapsed < *since + self.config.grace)
    }

    /// A new task that exited (not by a scale-in), or — past its grace period — whose target
    /// turned unhealthy or whose essential container reports UNHEALTHY.
    fn new_task_failure(&self, obs: &Observation) -> Option<Failure> {
        if let Some(t) = obs
            .new_tasks
            .iter()
            .find(|t| t.is_stopped() && !t.scaled_in())
        {
            return Some(stopped_failure(t));
        }
        let checked = || {
            obs.new_tasks
                .iter()
                .filter(|t| !self.in_grace(t, obs.elapsed))
        };
        if let Some((t, target)) = checked().find_map(|t| t.unhealthy_target().map(|x| (t, x))) {
            let reason = target
                .reason
                .clone()
                .unwrap_or_else(|| "Target.FailedHealthChecks".into());
            return Some(Failure::TargetUnhealthy {
                task: t.task_arn.clone(),
                reason: format!("{reason} in target group {}", target.target_group),
            });
        }
        let t = checked().find(|t| t.health_status.as_deref() == Some("UNHEALTHY"))?;
        Some(Failure::ContainerUnhealthy {
            task: t.task_arn.clone(),
            containers: match t.unhealthy_containers.is_empty() {
                true => "(unnamed)".into(),
                false => t.unhealthy_containers.join(", "),
            },
        })
    }

    /// Start the bake when all new tasks are healthy (restart it when one is no longer); returns
    /// when the bake ends, if it has started.
    fn track_bake(&mut self, elapsed: Duration, all_healthy: bool) -> Option<Duration> {
        if all_healthy {
            self.healthy_since.get_or_insert(elapsed);
        } else {
            // A task replaced or a target back to initial: the bake starts over.
            self.healthy_since = None;
        }
        self.healthy_since.map(|since| since + self.config.bake)
    }

    /// When to look again: densely around the moments the rollout can change, sparsely
    /// between them (`cadence`), never past the bake's end or the timeout.
    fn next_poll(
        &self,
        obs: &Observation,
        deployment: &DeploymentView,
        bake_end: Option<Duration>,
        old_gone: bool,
    ) -> Duration {
        let running: Vec<&NewTask> = obs
            .new_tasks
            .iter()
            .filter(|t| t.last_status == "RUNNING")
            .collect();
        let moments = cadence::Moments {
            elapsed: obs.elapsed,
            pending: running.len() < deployment.desired_count as usize,
            unhealthy_running_since: running
                .iter()
                .filter(|t| !self.is_healthy(t))
                .filter_map(|t| self.running_since.get(&t.task_arn).copied())
                .collect(),
            grace: self.config.grace,
            healthy_since: self.healthy_since,
            not_yet_healthy_at: self.not_yet_healthy_at,
            bake_end,
            old_remaining: !old_gone,
            timeout: self.config.timeout,
        };
        cadence::next_poll(self.config.timing.as_ref(), &moments)
    }
}

/// A new task that stopped: ECS's stoppedReason says whether a health check stopped it.
fn stopped_failure(t: &NewTask) -> Failure {
    let reason = t
        .stopped_reason
        .clone()
        .unwrap_or_else(|| "stopped without a reason".into());
    let task = t.task_arn.clone();
    // ECS stops a task its load balancer found unhealthy: that is the target's failure.
    if reason.contains("ELB health checks") {
        Failure::TargetUnhealthy { task, reason }
    } else if reason.contains("container health checks") {
        let containers = match t.unhealthy_containers.is_empty() {
            true => "(unnamed)".into(),
            false => t.unhealthy_containers.join(", "),
        };
        Failure::ContainerUnhealthy { task, containers }
    } else {
        Failure::TaskExited { task, reason }
    }
}

/// ECS's own verdicts: the circuit breaker failed the rollout, or it cannot place or stop tasks.
fn ecs_failure(obs: &Observation, deployment: &DeploymentView) -> Option<Failure> {
    if deployment.rollout_state == RolloutState::Failed {
        return Some(Failure::CircuitBreaker {
            reason: deployment
                .rollout_state_reason
                .clone()
                .unwrap_or_else(|| "ECS deployment circuit breaker: rollout failed".into()),
        });
    }
    obs.stuck_event.as_ref().map(|event| Failure::NoRoom {
        event: event.clone(),
    })
}

#[cfg(test)]
mod tests;
