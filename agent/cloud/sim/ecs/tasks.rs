//! Tasks: start (PENDING, then RUNNING after their latency), crash, ALB health checks,
//! draining and stop; what happens to a task is reported to its deployment.

use super::{CRASH_REASON, Outcome};
use crate::cloud::sim::world::*;
use crate::cloud::types::*;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// Stop a task: deregister its target (draining for the group's delay) or stop it at once.
pub(super) fn stop_task(
    task: &mut SimTask,
    t: u64,
    reason: String,
    target_groups: &BTreeMap<String, SimTargetGroup>,
) {
    if !task.live {
        return;
    }
    task.live = false;
    task.stopped_reason = Some(reason);
    let delay = task
        .target_group
        .as_ref()
        .and_then(|arn| target_groups.get(arn))
        .map_or(0, |tg| u64::from(tg.deregistration_delay));
    match task.target.as_mut() {
        Some(target) if delay > 0 => {
            target.state = TargetState::Draining;
            target.reason = Some("Target.DeregistrationInProgress".into());
            target.description = Some("Target deregistration is in progress".into());
            target.drain_end = Some(t + delay);
            task.status = TaskStatus::Deactivating;
        }
        _ => {
            task.target = None;
            task.status = TaskStatus::Stopped;
            task.stopped = Some(t);
        }
    }
}

impl World {
    /// Start a task for a deployment: PENDING now, RUNNING after its start latency; or, with
    /// `steady`, RUNNING and healthy already (world set-up).
    pub fn start_task(&mut self, cluster: &str, service: &str, steady: bool) -> TaskKey {
        let svc = &self.clusters[cluster][service];
        let deployment = svc.primary().id.clone();
        let task_definition = svc.primary().task_definition.clone();
        let target_group = svc.target_group_arn.clone();
        let port = svc.container_port;
        let images = self.images_of(&task_definition);
        let (behaviour, latency) = self.behaviour_for(&images);
        let seq = self.seq();
        let hex: u128 = self.rng.random();
        let arn = self.task_arn(cluster, &format!("{hex:032x}"));
        let ip = format!("10.0.{}.{}", (seq / 250) % 256, seq % 250 + 4);
        let t = self.t;
        let mut task = SimTask {
            arn,
            cluster: cluster.into(),
            service: service.into(),
            deployment,
            task_definition,
            status: TaskStatus::Pending,
            live: true,
            created: t,
            running_at: t + latency,
            started: None,
            stopped: None,
            stopped_reason: None,
            ip,
            behaviour,
            target_group,
            port,
            target: None,
        };
        if steady {
            task.status = TaskStatus::Running;
            task.running_at = t;
            task.started = Some(t);
            if let Some(tg) = task
                .target_group
                .as_ref()
                .and_then(|a| self.target_groups.get(a))
            {
                task.target = Some(SimTarget {
                    state: TargetState::Healthy,
                    reason: None,
                    description: None,
                    next_check: t + u64::from(tg.interval.max(1)),
                    passes: 0,
                    failures: 0,
                    drain_end: None,
                });
            }
        }
        let key = (cluster.to_string(), service.to_string(), seq);
        self.tasks.insert(key.clone(), task);
        key
    }

    /// Tasks and targets move on to `self.t`; failures and recoveries reach their deployments.
    /// Returns the services whose tasks changed.
    pub(in crate::cloud::sim) fn step_tasks(&mut self) -> BTreeSet<(String, String)> {
        let mut touched = BTreeSet::new();
        let t = self.t;
        let tgs = &self.target_groups;
        let mut outcomes: Outcomes = Vec::new();
        let mut events: Events = Vec::new();
        for task in self.tasks.values_mut() {
            let before = (task.status, task.target.as_ref().map(|x| x.state));
            self::step_task(task, t, tgs, &mut outcomes, &mut events);
            if before != (task.status, task.target.as_ref().map(|x| x.state)) {
                touched.insert((task.cluster.clone(), task.service.clone()));
            }
        }
        self.tasks.retain(|_, task| {
            task.status != TaskStatus::Stopped
                || task.stopped.is_none_or(|s| s + STOPPED_TASK_RETENTION > t)
        });
        for (cluster, service, message) in events {
            self.push_event(&cluster, &service, message);
        }
        for (cluster, service, deployment, outcome) in outcomes {
            touched.insert((cluster.clone(), service.clone()));
            match outcome {
                Outcome::Healthy => {
                    if let Some(d) = self
                        .clusters
                        .get_mut(&cluster)
                        .and_then(|s| s.get_mut(&service))
                        .and_then(|s| s.deployment_mut(&deployment))
                        && d.rollout != RolloutState::Failed
                        && d.failed_tasks > 0
                    {
                        d.failed_tasks = 0;
                        d.updated = t;
                    }
                }
                Outcome::Failed => self.task_failed(&cluster, &service, &deployment),
            }
        }
        touched
    }
}

/// Outcomes for deployments and events for services, collected while the tasks step.
type Outcomes = Vec<(String, String, String, Outcome)>;
type Events = Vec<(String, String, String)>;

/// One task at time `t`: start, crash, health check, end of draining.
fn step_task(
    task: &mut SimTask,
    t: u64,
    tgs: &BTreeMap<String, SimTargetGroup>,
    outcomes: &mut Outcomes,
    events: &mut Events,
) {
    match task.status {
        TaskStatus::Pending if task.live && task.running_at <= t => {
            start_running(task, t, tgs, outcomes, events)
        }
        TaskStatus::Running if task.live => step_running(task, t, tgs, outcomes, events),
        TaskStatus::Deactivating
            if task
                .target
                .as_ref()
                .and_then(|x| x.drain_end)
                .is_none_or(|end| end <= t) =>
        {
            task.status = TaskStatus::Stopped;
            task.stopped = Some(t);
            task.target = None;
        }
        _ => {}
    }
}

/// PENDING → RUNNING: register the task's target (a task without one counts as healthy).
fn start_running(
    task: &mut SimTask,
    t: u64,
    tgs: &BTreeMap<String, SimTargetGroup>,
    outcomes: &mut Outcomes,
    events: &mut Events,
) {
    task.status = TaskStatus::Running;
    task.started = Some(t);
    match task.target_group.as_ref().and_then(|a| tgs.get(a)) {
        Some(tg) => {
            task.target = Some(SimTarget {
                state: TargetState::Initial,
                reason: Some("Elb.RegistrationInProgress".into()),
                description: Some("Target registration is in progress".into()),
                next_check: t + u64::from(tg.interval.max(1)),
                passes: 0,
                failures: 0,
                drain_end: None,
            });
            events.push((
                task.cluster.clone(),
                task.service.clone(),
                format!(
                    "(service {}) registered 1 targets in (target-group {})",
                    task.service, tg.arn
                ),
            ));
        }
        None => outcomes.push(key(task, Outcome::Healthy)),
    }
}

/// A RUNNING task: it crashes when its behaviour says so, else its target is health-checked
/// when due, and ECS stops it once the target turns unhealthy.
fn step_running(
    task: &mut SimTask,
    t: u64,
    tgs: &BTreeMap<String, SimTargetGroup>,
    outcomes: &mut Outcomes,
    events: &mut Events,
) {
    let started = task.started.unwrap_or(t);
    if task.crash_at().is_some_and(|c| c <= t) {
        let reason = task
            .behaviour
            .stopped_reason
            .clone()
            .unwrap_or_else(|| CRASH_REASON.into());
        outcomes.push(key(task, Outcome::Failed));
        stop_task(task, t, reason, tgs);
        return;
    }
    let Some(tg) = task.target_group.as_ref().and_then(|a| tgs.get(a)) else {
        return;
    };
    let passes = task.behaviour.passes(t - started);
    let Some(target) = task.target.as_mut() else {
        return;
    };
    if target.drain_end.is_some() || target.next_check > t {
        return;
    }
    target.next_check = t + u64::from(tg.interval.max(1));
    let before = target.state;
    health_check(target, passes, tg);
    match (before, target.state) {
        (TargetState::Healthy, TargetState::Healthy) => {}
        (_, TargetState::Healthy) => outcomes.push(key(task, Outcome::Healthy)),
        (_, TargetState::Unhealthy) => {
            events.push((
                task.cluster.clone(),
                task.service.clone(),
                format!(
                    "(service {}) (task {}) (port {}) is unhealthy in (target-group {}) due to (reason Health checks failed with these codes: [503]).",
                    task.service,
                    task.id(),
                    task.port,
                    tg.arn
                ),
            ));
            outcomes.push(key(task, Outcome::Failed));
            let reason = format!("Task failed ELB health checks in (target-group {})", tg.arn);
            stop_task(task, t, reason, tgs);
        }
        _ => {}
    }
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

fn key(task: &SimTask, outcome: Outcome) -> (String, String, String, Outcome) {
    (
        task.cluster.clone(),
        task.service.clone(),
        task.deployment.clone(),
        outcome,
    )
}
