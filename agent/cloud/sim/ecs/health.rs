//! Health checks of a RUNNING task: its target in each target group (ALB checks) and its
//! essential container's own health check. ECS ignores failures inside the service's
//! healthCheckGracePeriodSeconds, then stops the task.

use super::tasks::Events;
use crate::cloud::sim::world::*;
use crate::cloud::types::*;
use std::collections::BTreeMap;

/// stoppedReason of a task ECS stopped for its container health check.
pub(in crate::cloud::sim) const CONTAINER_UNHEALTHY_REASON: &str =
    "Task failed container health checks";

impl SimTarget {
    /// A target just registered in `tg`: `initial` until its first check.
    pub(in crate::cloud::sim) fn registered(t: u64, tg: &SimTargetGroup) -> SimTarget {
        SimTarget {
            state: TargetState::Initial,
            reason: Some("Elb.RegistrationInProgress".into()),
            description: Some("Target registration is in progress".into()),
            next_check: t + u64::from(tg.interval.max(1)),
            passes: 0,
            failures: 0,
            drain_end: None,
        }
    }
}

impl World {
    /// The container health check of a task definition's essential container, if it has one
    /// (interval and retries as in the definition, Docker's defaults 30 s and 3).
    pub(super) fn container_health_of(&self, task_definition: &str) -> Option<ContainerHealth> {
        let td = self.find_task_definition(task_definition)?;
        td.container_definitions.iter().find_map(|c| {
            let essential = c.extra.get("essential").and_then(|v| v.as_bool()) != Some(false);
            let check = c.extra.get("healthCheck").filter(|_| essential)?;
            let number =
                |k: &str, default: u64| check.get(k).and_then(|v| v.as_u64()).unwrap_or(default);
            Some(ContainerHealth {
                container: c.name.clone(),
                status: "UNKNOWN",
                interval: number("interval", 30).max(1),
                retries: number("retries", 3).max(1) as u32,
                failures: 0,
                next_check: u64::MAX,
            })
        })
    }
}

/// Check every target that is due; the stoppedReason when one is unhealthy past the grace
/// period (ECS then stops the task).
pub(super) fn check_targets(
    task: &mut SimTask,
    t: u64,
    tgs: &BTreeMap<String, SimTargetGroup>,
    events: &mut Events,
) -> Option<String> {
    let since_running = t - task.started.unwrap_or(t);
    let in_grace = task.in_grace(t);
    let mut failed = None;
    for x in &mut task.targets {
        let (Some(tg), Some(target)) = (tgs.get(&x.group), x.target.as_mut()) else {
            continue;
        };
        if target.drain_end.is_some() || target.next_check > t {
            continue;
        }
        target.next_check = t + u64::from(tg.interval.max(1));
        let before = target.state;
        health_check(target, task.behaviour.passes(since_running, &tg.name), tg);
        if target.state != TargetState::Unhealthy {
            continue;
        }
        if before != TargetState::Unhealthy {
            events.push((
                task.cluster.clone(),
                task.service.clone(),
                format!(
                    "(service {}) (task {}) (port {}) is unhealthy in (target-group {}) due to (reason Health checks failed with these codes: [503]).",
                    task.service,
                    task.arn.rsplit('/').next().unwrap_or(&task.arn),
                    x.port,
                    tg.arn
                ),
            ));
        }
        if !in_grace && failed.is_none() {
            failed = Some(format!(
                "Task failed ELB health checks in (target-group {})",
                tg.arn
            ));
        }
    }
    failed
}

/// Run the container health check if due; the stoppedReason when it is UNHEALTHY past the
/// grace period.
pub(super) fn check_container(task: &mut SimTask, t: u64) -> Option<String> {
    let since_running = t - task.started.unwrap_or(t);
    let passes = task.behaviour.container_passes(since_running);
    let in_grace = task.in_grace(t);
    let h = task.container_health.as_mut()?;
    if h.next_check <= t {
        h.next_check = t + h.interval;
        if passes {
            h.failures = 0;
            h.status = "HEALTHY";
        } else {
            h.failures += 1;
            if h.failures >= h.retries {
                h.status = "UNHEALTHY";
            }
        }
    }
    (h.status == "UNHEALTHY" && !in_grace).then(|| CONTAINER_UNHEALTHY_REASON.to_string())
}

/// One health check of a target: count passes and failures against the group's thresholds.
fn health_check(target: &mut SimTarget, passes: bool, tg: &SimTargetGroup) {
    let before = target.state;
    if passes {
        target.failures = 0;
        target.passes += 1;
        let enough = match before {
            TargetState::Unhealthy => target.passes >= tg.healthy_threshold,
            _ => true,
        };
        if enough {
            target.state = TargetState::Healthy;
            target.reason = None;
            target.description = None;
        }
    } else {
        target.passes = 0;
        target.failures += 1;
        if target.failures >= tg.unhealthy_threshold.max(1) {
            target.state = TargetState::Unhealthy;
            target.reason = Some("Target.ResponseCodeMismatch".into());
            target.description = Some("Health checks failed with these codes: [503]".into());
        } else if before == TargetState::Initial {
            target.reason = Some("Elb.InitialHealthChecking".into());
            target.description = Some("Initial health checks in progress".into());
        }
    }
}
