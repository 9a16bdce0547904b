//! The health gate: the decision whether a rollout succeeded, as a pure state machine.
//!
//! Fed one [`Observation`] per poll (the ECS deployment, the tasks it started, the target
//! health of those **new** tasks only, and the time), it answers with the next [`Decision`]:
//! wait a little longer, or the verdict. It never sleeps and never calls AWS, so every rule is a
//! unit test below.
//!
//! Success: the new deployment runs its desired count, every new task's target is healthy,
//! then a bake period passes with no new task exiting and no new target turning unhealthy, and
//! the old tasks are gone. Failure: a new task exits, a new target turns unhealthy, the ECS
//! circuit breaker fails the rollout, ECS cannot make progress, someone else's deployment
//! replaced ours, a watched CloudWatch alarm entered ALARM after the rollout began, or the
//! timeout passes.

use crate::cloud::types::{RolloutState, TargetState};
use serde::Serialize;
use std::time::Duration;

mod alarms;
pub use alarms::{AlarmSignal, alarm_signals};

/// The longest the gate waits between two observations: it decides within one tick of the
/// observation that settles the outcome.
pub const MAX_POLL: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateConfig {
    pub bake: Duration,
    pub timeout: Duration,
    /// Whether the service sits behind a target group (else "healthy" = RUNNING).
    pub load_balanced: bool,
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
    /// None until the task is registered in the target group.
    pub target: Option<TargetState>,
    pub target_reason: Option<String>,
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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// A new task stopped; `reason` is ECS's stoppedReason.
    TaskExited {
        task: String,
        reason: String,
    },
    /// A new task's target turned unhealthy in the target group.
    TargetUnhealthy {
        task: String,
        reason: String,
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
}

impl Gate {
    pub fn new(config: GateConfig) -> Self {
        Gate {
            config,
            healthy_since: None,
        }
    }

    /// Whether the bake has passed at `elapsed` (all that can remain is the old tasks' drain).
    pub fn bake_done(&self, elapsed: Duration) -> bool {
        self.healthy_since
            .is_some_and(|since| elapsed >= since + self.config.bake)
    }

    /// When the bake started, if it has.
    pub fn healthy_since(&self) -> Option<Duration> {
        self.healthy_since
    }

    pub fn observe(&mut self, obs: &Observation) -> Decision {
        let Some(deployment) = obs.deployment.as_ref().filter(|d| d.is_primary) else {
            return Decision::Failed(Failure::Replaced);
        };
        // Failures first: the earliest sign of a bad rollout wins over a timeout.
        if let Some(failure) = new_task_failure(obs)
            .or_else(|| alarms::alarm_failure(&obs.alarms))
            .or_else(|| ecs_failure(obs, deployment))
        {
            return Decision::Failed(failure);
        }
        let desired = deployment.desired_count as usize;
        let healthy = self.healthy_new_tasks(obs);
        let bake_end = self.track_bake(obs.elapsed, healthy >= desired);
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
        Decision::Wait(self.next_poll(obs.elapsed, bake_end))
    }

    /// New tasks that count as healthy: RUNNING, and healthy in the target group if there is one.
    fn healthy_new_tasks(&self, obs: &Observation) -> usize {
        obs.new_tasks
            .iter()
            .filter(|t| {
                t.last_status == "RUNNING"
                    && (!self.config.load_balanced || t.target == Some(TargetState::Healthy))
            })
            .count()
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

    /// Poll again no later than MAX_POLL, at the bake's end, or at the timeout.
    fn next_poll(&self, elapsed: Duration, bake_end: Option<Duration>) -> Duration {
        let mut wait = MAX_POLL;
        if let Some(end) = bake_end
            && end > elapsed
        {
            wait = wait.min(end - elapsed);
        }
        wait = wait.min(self.config.timeout - elapsed);
        wait.max(Duration::from_millis(100))
    }
}

/// A new task that exited (not by a scale-in), or whose target turned unhealthy.
fn new_task_failure(obs: &Observation) -> Option<Failure> {
    if let Some(t) = obs
        .new_tasks
        .iter()
        .find(|t| t.is_stopped() && !t.scaled_in())
    {
        let reason = t
            .stopped_reason
            .clone()
            .unwrap_or_else(|| "stopped without a reason".into());
        // ECS stops a task its load balancer found unhealthy: that is the target's failure.
        return Some(if reason.contains("ELB health checks") {
            Failure::TargetUnhealthy {
                task: t.task_arn.clone(),
                reason,
            }
        } else {
            Failure::TaskExited {
                task: t.task_arn.clone(),
                reason,
            }
        });
    }
    let t = obs
        .new_tasks
        .iter()
        .find(|t| t.target == Some(TargetState::Unhealthy))?;
    Some(Failure::TargetUnhealthy {
        task: t.task_arn.clone(),
        reason: t
            .target_reason
            .clone()
            .unwrap_or_else(|| "Target.FailedHealthChecks".into()),
    })
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
