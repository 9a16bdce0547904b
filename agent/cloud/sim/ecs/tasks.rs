//! Tasks: start (PENDING, then RUNNING after their latency), crash, ALB health checks,
//! draining and stop; what happens to a task is reported to its deployment.

use super::health::{check_container, check_targets};
use super::{CRASH_REASON, Outcome};
use crate::cloud::sim::world::*;
use crate::cloud::types::*;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// Stop a task: deregister its targets (draining for each group's delay) or stop it at once.
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
    for x in &mut task.targets {
        let delay = target_groups
            .get(&x.group)
            .map_or(0, |tg| u64::from(tg.deregistration_delay));
        match x.target.as_mut() {
            Some(target) if delay > 0 => {
                target.state = TargetState::Draining;
                target.reason = Some("Target.DeregistrationInProgress".into());
                target.description = Some("Target deregistration is in progress".into());
                target.drain_end = Some(t + delay);
            }
            _ => x.target = None,
        }
    }
    if task.targets.iter().any(|x| x.target.is_some()) {
        task.status = TaskStatus::Deactivating;
    } else {
        task.status = TaskStatus::Stopped;
        task.stopped = Some(t);
    }
}

impl World {
    /// Start a task for a deployment: PENDING now, RUNNING after its start latency; or, with
    /// `steady`, RUNNING and healthy already (world set-up).
    pub fn start_task(&mut self, cluster: &str, service: &str, steady: bool) -> TaskKey {
        let svc = &self.clusters[cluster][service];
        let deployment = svc.primary().id.clone();
        let task_definition = svc.primary().task_definition.clone();
        let targets = svc
            .load_balancers
            .iter()
            .map(|lb| SimTaskTarget {
                group: lb.target_group_arn.clone(),
                port: lb.container_port,
                target: None,
            })
            .collect();
        let grace = u64::from(svc.grace.unwrap_or(0));
        let container_health = self.container_health_of(&task_definition);
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
            targets,
            container_health,
            grace,
        };
        if steady {
            task.status = TaskStatus::Running;
            task.running_at = t;
            task.started = Some(t);
            for x in &mut task.targets {
                if let Some(tg) = self.target_groups.get(&x.group) {
                    let mut target = SimTarget::registered(t, tg);
                    target.state = TargetState::Healthy;
                    (target.reason, target.description) = (None, None);
                    x.target = Some(target);
                }
            }
            if let Some(h) = task.container_health.as_mut() {
                h.status = "HEALTHY";
                h.next_check = t + h.interval;
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
            let before = task_state(task);
            self::step_task(task, t, tgs, &mut outcomes, &mut events);
            if before != task_state(task) {
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

/// What the scheduler reacts to: the task's status, its targets' and its container's health.
fn task_state(task: &SimTask) -> (TaskStatus, Vec<Option<TargetState>>, Option<&'static str>) {
    (
        task.status,
        task.targets
            .iter()
            .map(|x| x.target.as_ref().map(|t| t.state))
            .collect(),
        task.container_health.as_ref().map(|h| h.status),
    )
}

/// Outcomes for deployments and events for services, collected while the tasks step.
pub(super) type Outcomes = Vec<(String, String, String, Outcome)>;
pub(super) type Events = Vec<(String, String, String)>;

/// One task at time `t`: start, crash, health checks, end of draining.
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
        TaskStatus::Deactivating => {
            // Each target leaves its group when its draining ends; the task stops after the last.
            for x in &mut task.targets {
                if x.target
                    .as_ref()
                    .and_then(|g| g.drain_end)
                    .is_none_or(|end| end <= t)
                {
                    x.target = None;
                }
            }
            if task.targets.iter().all(|x| x.target.is_none()) {
                task.status = TaskStatus::Stopped;
                task.stopped = Some(t);
            }
        }
        _ => {}
    }
}

/// PENDING → RUNNING: register the task's targets (a task with no target group and no
/// container health check counts as healthy at once).
fn start_running(
    task: &mut SimTask,
    t: u64,
    tgs: &BTreeMap<String, SimTargetGroup>,
    outcomes: &mut Outcomes,
    events: &mut Events,
) {
    task.status = TaskStatus::Running;
    task.started = Some(t);
    for x in &mut task.targets {
        let Some(tg) = tgs.get(&x.group) else {
            continue;
        };
        x.target = Some(SimTarget::registered(t, tg));
        events.push((
            task.cluster.clone(),
            task.service.clone(),
            format!(
                "(service {}) registered 1 targets in (target-group {})",
                task.service, tg.arn
            ),
        ));
    }
    if let Some(h) = task.container_health.as_mut() {
        h.next_check = t + h.interval;
    }
    if task.healthy() {
        outcomes.push(key(task, Outcome::Healthy));
    }
}

/// A RUNNING task: it crashes when its behaviour says so, else its targets and container are
/// health-checked when due, and ECS stops it once one fails past the grace period.
fn step_running(
    task: &mut SimTask,
    t: u64,
    tgs: &BTreeMap<String, SimTargetGroup>,
    outcomes: &mut Outcomes,
    events: &mut Events,
) {
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
    let was_healthy = task.healthy();
    let failed = check_targets(task, t, tgs, events).or_else(|| check_container(task, t));
    if let Some(reason) = failed {
        outcomes.push(key(task, Outcome::Failed));
        stop_task(task, t, reason, tgs);
    } else if !was_healthy && task.healthy() {
        outcomes.push(key(task, Outcome::Healthy));
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
