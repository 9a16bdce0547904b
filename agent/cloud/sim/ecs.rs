//! ECS: task definitions, services with rolling deployments and the circuit breaker, tasks
//! with their lifecycle, and the ALB targets they register (health checks live here too:
//! ECS stops a task whose target turns unhealthy, so the two move together).

use super::Simulator;
use super::world::*;
use crate::cloud::ports::{CloudResult, DESCRIBE_SERVICES_BATCH, DESCRIBE_TASKS_BATCH, Ecs};
use crate::cloud::types::*;
use crate::cloud::{CloudError, ResourceKind};
use async_trait::async_trait;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

pub(super) const CIRCUIT_BREAKER_REASON: &str =
    "ECS deployment circuit breaker: tasks failed to start.";
pub(super) const CRASH_REASON: &str = "Essential container in task exited";

/// Circuit breaker threshold: half the desired count rounded up, clamped to [minimum, 200].
pub(super) fn circuit_breaker_threshold(desired: u32, minimum: u32) -> u32 {
    desired.div_ceil(2).max(minimum).min(200.max(minimum))
}

/// The last path segment of an ARN (or the name itself).
pub(super) fn short(name_or_arn: &str) -> &str {
    if name_or_arn.starts_with("arn:") {
        name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
    } else {
        name_or_arn
    }
}

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

/// What happened to a task during a step, applied to its service afterwards.
enum Outcome {
    Failed,
    Healthy,
}

impl World {
    // ------------------------------------------------------------ task definitions

    pub fn find_task_definition(&self, reference: &str) -> Option<&TaskDefinition> {
        let reference = match reference.split_once(":task-definition/") {
            Some((_, rest)) if reference.starts_with("arn:") => rest,
            _ => reference,
        };
        match reference.rsplit_once(':') {
            Some((family, rev)) => {
                let rev: u32 = rev.parse().ok()?;
                self.task_defs.get(family)?.get(&rev)
            }
            None => self.task_defs.get(reference)?.values().next_back(),
        }
    }

    /// Store a task definition as `revision` (0: the next one) and return it as registered.
    pub fn store_task_definition(&mut self, td: &TaskDefinition, revision: u32) -> TaskDefinition {
        let next = self
            .task_defs
            .get(&td.family)
            .and_then(|revs| revs.keys().next_back().copied())
            .unwrap_or(0)
            + 1;
        let revision = if revision > 0 { revision } else { next };
        let mut stored = td.clone();
        super::registration::fill_defaults(&mut stored);
        stored.revision = revision;
        stored.arn = self.task_definition_arn(&td.family, revision);
        stored
            .extra
            .insert("status".into(), serde_json::Value::String("ACTIVE".into()));
        stored.extra.insert(
            "registeredAt".into(),
            serde_json::Value::String(self.now().to_rfc3339()),
        );
        self.task_defs
            .entry(td.family.clone())
            .or_default()
            .insert(revision, stored.clone());
        stored
    }

    fn images_of(&self, task_definition: &str) -> Vec<String> {
        self.find_task_definition(task_definition)
            .map(|td| {
                td.container_definitions
                    .iter()
                    .map(|c| c.image.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How a task of these images behaves, and its start latency (with seeded jitter).
    fn behaviour_for(&mut self, images: &[String]) -> (Behaviour, u64) {
        // Rules see each image also as `repository:tag` for every tag ECR holds for its
        // digest, so a script can make a release misbehave by its version (`:v2.1.0`).
        let mut aliases = Vec::new();
        for image in images {
            let Some((path, digest)) = image.split_once('@') else {
                continue;
            };
            let repository = path.split_once('/').map(|(_, r)| r).unwrap_or(path);
            if let Some(repo) = self.repositories.get(repository) {
                for i in repo.images.iter().filter(|i| i.digest == digest) {
                    aliases.extend(i.tags.iter().map(|t| format!("{path}:{t}")));
                }
            }
        }
        let setup = &self.setup_images;
        let rule = self
            .faults
            .images
            .iter()
            .find(|r| {
                r.matches(images, |i| !setup.contains(i))
                    || (r.pattern != "new" && r.matches(&aliases, |_| false))
            })
            .cloned();
        let base = rule
            .as_ref()
            .and_then(|r| r.start_seconds)
            .unwrap_or(self.faults.task_start_seconds);
        let span = base * u64::from(self.faults.start_jitter_percent.min(100)) / 100;
        let start = if span > 0 {
            let jitter = self.rng.random_range(0..=2 * span);
            base + jitter - span
        } else {
            base
        };
        let behaviour = match rule {
            Some(r) => Behaviour {
                crash_after: r.crash_after_seconds,
                healthy: r.healthy,
                unhealthy_after: r.unhealthy_after_seconds,
                stopped_reason: r.stopped_reason,
            },
            None => Behaviour {
                healthy: true,
                ..Behaviour::default()
            },
        };
        (behaviour, start)
    }

    pub fn deployment_id(&mut self) -> String {
        let n: u64 = self
            .rng
            .random_range(1_000_000_000_000_000_000..10_000_000_000_000_000_000);
        format!("ecs-svc/{n}")
    }

    // ------------------------------------------------------------ tasks

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
        let arn = format!(
            "arn:aws:ecs:{}:{}:task/{cluster}/{hex:032x}",
            self.region, self.account
        );
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
    pub(super) fn step_tasks(&mut self) -> BTreeSet<(String, String)> {
        let mut touched = BTreeSet::new();
        let t = self.t;
        let tgs = &self.target_groups;
        let mut outcomes: Vec<(String, String, String, Outcome)> = Vec::new();
        let mut events: Vec<(String, String, String)> = Vec::new();
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

/// One task at time `t`: start, crash, health check, end of draining.
fn step_task(
    task: &mut SimTask,
    t: u64,
    tgs: &BTreeMap<String, SimTargetGroup>,
    outcomes: &mut Vec<(String, String, String, Outcome)>,
    events: &mut Vec<(String, String, String)>,
) {
    match task.status {
        TaskStatus::Pending if task.live && task.running_at <= t => {
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
        TaskStatus::Running if task.live => {
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
                    target.description =
                        Some("Health checks failed with these codes: [503]".into());
                } else if before == TargetState::Initial {
                    target.reason = Some("Elb.InitialHealthChecking".into());
                    target.description = Some("Initial health checks in progress".into());
                }
            }
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
                    let reason =
                        format!("Task failed ELB health checks in (target-group {})", tg.arn);
                    stop_task(task, t, reason, tgs);
                }
                _ => {}
            }
        }
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

impl World {
    /// A task of `deployment` failed: count it, and trip the circuit breaker at its threshold.
    fn task_failed(&mut self, cluster: &str, service: &str, deployment: &str) {
        let t = self.t;
        let minimum = self.faults.circuit_breaker_minimum;
        let Some(svc) = self
            .clusters
            .get_mut(cluster)
            .and_then(|s| s.get_mut(service))
        else {
            return;
        };
        let threshold = circuit_breaker_threshold(svc.desired, minimum);
        let is_primary = svc.primary().id == deployment;
        let breaker = svc.circuit_breaker.filter(|cb| cb.enable);
        let last_completed = svc.last_completed.clone();
        let Some(d) = svc.deployment_mut(deployment) else {
            return;
        };
        d.failed_tasks += 1;
        d.updated = t;
        let Some(breaker) = breaker else { return };
        if !is_primary || d.rollout != RolloutState::InProgress || d.failed_tasks < threshold {
            return;
        }
        d.rollout = RolloutState::Failed;
        d.reason = Some(CIRCUIT_BREAKER_REASON.into());
        let may_roll_back = breaker.rollback && !d.is_rollback;
        let failed_td = d.task_definition.clone();
        self.push_event(
            cluster,
            service,
            format!(
                "(service {service}) (deployment {deployment}) deployment failed: tasks failed to start."
            ),
        );
        // With no COMPLETED deployment to go back to, the rollback stalls (AWS does the same).
        if let Some(td) = last_completed.filter(|td| may_roll_back && *td != failed_td) {
            let rollback_id = self.deployment_id();
            self.push_event(
                cluster,
                service,
                format!(
                    "(service {service}) rolling back to task definition {td} (deployment {rollback_id})."
                ),
            );
            let svc = self
                .clusters
                .get_mut(cluster)
                .and_then(|s| s.get_mut(service))
                .expect("service exists");
            svc.deployments.insert(
                0,
                SimDeployment {
                    id: rollback_id,
                    task_definition: td,
                    failed_tasks: 0,
                    rollout: RolloutState::InProgress,
                    reason: None,
                    created: t,
                    updated: t,
                    is_rollback: true,
                    stalled_reported: false,
                },
            );
        }
    }

    // ------------------------------------------------------------ the service scheduler

    /// What ECS does for one service at this moment: stop old tasks down to the healthy
    /// minimum, start new ones up to the maximum, notice a stall or a completed rollout.
    pub(super) fn schedule(&mut self, cluster: &str, service: &str) {
        let t = self.t;
        let Some(svc) = self.clusters.get(cluster).and_then(|s| s.get(service)) else {
            return;
        };
        let desired = u64::from(svc.desired);
        let max_tasks = desired * u64::from(svc.max_pct) / 100;
        let min_healthy = (desired * u64::from(svc.min_pct)).div_ceil(100);
        let primary = svc.primary().id.clone();
        let primary_failed = svc.primary().rollout == RolloutState::Failed;
        let primary_in_progress = svc.primary().rollout == RolloutState::InProgress;
        let stalled_reported = svc.primary().stalled_reported;

        let mine: Vec<TaskKey> = self
            .service_tasks(cluster, service)
            .filter(|(_, x)| x.live)
            .map(|(k, _)| k.clone())
            .collect();
        let (new, old): (Vec<TaskKey>, Vec<TaskKey>) = mine
            .iter()
            .cloned()
            .partition(|k| self.tasks[k].deployment == primary);
        let healthy = |k: &TaskKey| self.tasks[k].healthy();
        let mut healthy_count = mine.iter().filter(|k| healthy(k)).count() as u64;
        let mut to_stop: Vec<TaskKey> = Vec::new();

        if !primary_failed {
            // Old tasks that are not (yet) healthy go first: they count for nothing.
            to_stop.extend(old.iter().filter(|k| !healthy(k)).cloned());
            for k in old.iter().filter(|k| healthy(k)) {
                if healthy_count > min_healthy {
                    to_stop.push(k.clone());
                    healthy_count -= 1;
                }
            }
        }
        // Scale in: more new tasks than desired (the desired count went down).
        let excess = (new.len() as u64).saturating_sub(desired) as usize;
        if excess > 0 {
            let mut by_preference: Vec<TaskKey> = new.clone();
            by_preference.sort_by_key(|k| (healthy(k), std::cmp::Reverse(k.2)));
            to_stop.extend(by_preference.into_iter().take(excess));
        }

        let reason = format!("Scaling activity initiated by (deployment {primary})");
        let tgs = &self.target_groups;
        for k in &to_stop {
            if let Some(task) = self.tasks.get_mut(k) {
                stop_task(task, t, reason.clone(), tgs);
            }
        }
        let stopped_ids: Vec<String> = to_stop.iter().map(|k| self.tasks[k].id().into()).collect();

        let mut live = mine.len() as u64 - to_stop.len() as u64;
        let mut new_live = new.len() as u64 - excess as u64;
        let mut started_ids: Vec<String> = Vec::new();
        if !primary_failed {
            while live < max_tasks && new_live < desired {
                let k = self.start_task(cluster, service, false);
                started_ids.push(self.tasks[&k].id().into());
                live += 1;
                new_live += 1;
            }
        }

        if !stopped_ids.is_empty() {
            self.push_event(
                cluster,
                service,
                format!(
                    "(service {service}) has stopped {} running tasks: {}.",
                    stopped_ids.len(),
                    tasks_list(&stopped_ids)
                ),
            );
        }
        if !started_ids.is_empty() {
            self.push_event(
                cluster,
                service,
                format!(
                    "(service {service}) has started {} tasks: {}.",
                    started_ids.len(),
                    tasks_list(&started_ids)
                ),
            );
        }

        let old_live = (old.len() as u64) > (to_stop.len() as u64 - excess as u64);
        let no_room = max_tasks <= desired && min_healthy >= desired;
        if !primary_failed
            && old_live
            && no_room
            && to_stop.is_empty()
            && started_ids.is_empty()
            && !stalled_reported
        {
            self.push_event(
                cluster,
                service,
                format!(
                    "(service {service}) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
                ),
            );
            if let Some(svc) = self
                .clusters
                .get_mut(cluster)
                .and_then(|s| s.get_mut(service))
            {
                svc.primary_mut().stalled_reported = true;
            }
        }

        if primary_in_progress {
            let old_remaining = self
                .service_tasks(cluster, service)
                .any(|(_, x)| x.deployment != primary && x.status != TaskStatus::Stopped);
            let new_tasks: Vec<&SimTask> = self
                .service_tasks(cluster, service)
                .map(|(_, x)| x)
                .filter(|x| x.deployment == primary && x.live)
                .collect();
            let complete = !old_remaining
                && new_tasks.len() as u64 == desired
                && new_tasks.iter().all(|x| x.healthy());
            if complete {
                let svc = self
                    .clusters
                    .get_mut(cluster)
                    .and_then(|s| s.get_mut(service))
                    .expect("service exists");
                let d = svc.primary_mut();
                d.rollout = RolloutState::Completed;
                d.reason = Some("ECS deployment completed.".into());
                d.updated = t;
                svc.last_completed = Some(d.task_definition.clone());
                svc.deployments.truncate(1);
                self.push_event(
                    cluster,
                    service,
                    format!("(service {service}) has reached a steady state."),
                );
            }
        }
    }

    // ------------------------------------------------------------ views

    pub fn service_view(&self, svc: &Service) -> EcsService {
        let count = |d: &str, status: TaskStatus| {
            self.service_tasks(&svc.cluster, &svc.name)
                .filter(|(_, x)| x.deployment == d && x.live && x.status == status)
                .count() as u32
        };
        let deployments: Vec<Deployment> = svc
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let running = count(&d.id, TaskStatus::Running);
                let pending = count(&d.id, TaskStatus::Pending);
                Deployment {
                    id: d.id.clone(),
                    status: if i == 0 { "PRIMARY" } else { "ACTIVE" }.into(),
                    task_definition: d.task_definition.clone(),
                    desired_count: if i == 0 {
                        svc.desired
                    } else {
                        running + pending
                    },
                    pending_count: pending,
                    running_count: running,
                    failed_tasks: d.failed_tasks,
                    rollout_state: d.rollout,
                    rollout_state_reason: d.reason.clone(),
                    created_at: self.time(d.created),
                    updated_at: self.time(d.updated),
                }
            })
            .collect();
        EcsService {
            service_name: svc.name.clone(),
            cluster: svc.cluster.clone(),
            status: "ACTIVE".into(),
            desired_count: svc.desired,
            running_count: deployments.iter().map(|d| d.running_count).sum(),
            pending_count: deployments.iter().map(|d| d.pending_count).sum(),
            task_definition: svc.primary().task_definition.clone(),
            deployments,
            deployment_configuration: DeploymentConfiguration {
                minimum_healthy_percent: svc.min_pct,
                maximum_percent: svc.max_pct,
                circuit_breaker: svc.circuit_breaker,
            },
            load_balancers: svc
                .target_group_arn
                .iter()
                .map(|arn| ServiceLoadBalancer {
                    target_group_arn: arn.clone(),
                    container_name: svc.container_name.clone(),
                    container_port: svc.container_port,
                })
                .collect(),
            events: svc.events.clone(),
        }
    }

    pub fn task_view(&self, task: &SimTask) -> Task {
        Task {
            task_arn: task.arn.clone(),
            task_definition_arn: task.task_definition.clone(),
            started_by: task.deployment.clone(),
            last_status: task.status.as_str().into(),
            desired_status: if task.live { "RUNNING" } else { "STOPPED" }.into(),
            created_at: self.time(task.created),
            started_at: task.started.map(|s| self.time(s)),
            stopped_at: task.stopped.map(|s| self.time(s)),
            stopped_reason: task.stopped_reason.clone(),
            private_ip: task.ip.clone(),
        }
    }

    fn service_ref(&self, cluster: &str, service: &str) -> CloudResult<&Service> {
        let services = self
            .clusters
            .get(cluster)
            .ok_or_else(|| CloudError::not_found(ResourceKind::Cluster, cluster))?;
        services
            .get(service)
            .ok_or_else(|| CloudError::not_found(ResourceKind::Service, service))
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

fn tasks_list(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("(task {id})"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn validate_task_definition(td: &TaskDefinition) -> Result<(), String> {
    if td.family.is_empty() {
        return Err("family must not be empty".into());
    }
    if td.container_definitions.is_empty() {
        return Err("containerDefinitions must not be empty".into());
    }
    let fargate = td.requires_compatibilities.iter().any(|c| c == "FARGATE");
    if fargate && (td.cpu.is_none() || td.memory.is_none()) {
        return Err("Fargate requires task definition to have memory and cpu values set".into());
    }
    if td.memory.is_none() {
        for c in &td.container_definitions {
            if !c.extra.contains_key("memory") && !c.extra.contains_key("memoryReservation") {
                return Err(format!(
                    "Invalid setting for container '{}'. At least one of 'memory' or 'memoryReservation' must be specified.",
                    c.name
                ));
            }
        }
    }
    if let Some(c) = td.container_definitions.iter().find(|c| c.image.is_empty()) {
        return Err(format!("container '{}' has no image", c.name));
    }
    Ok(())
}

/// The ECS port of the simulator.
pub struct SimEcs(pub(super) Simulator);

#[async_trait]
impl Ecs for SimEcs {
    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> CloudResult<Vec<EcsService>> {
        let cluster = short(cluster);
        self.0.call(
            "DescribeServices",
            |w| match services {
                [one] => w.service_arn(cluster, short(one)),
                _ => w.cluster_arn(cluster),
            },
            |w| {
                if services.len() > DESCRIBE_SERVICES_BATCH {
                    return Err(CloudError::invalid(
                        "DescribeServices",
                        format!(
                            "at most {DESCRIBE_SERVICES_BATCH} services per call, got {}",
                            services.len()
                        ),
                    ));
                }
                let known = w
                    .clusters
                    .get(cluster)
                    .ok_or_else(|| CloudError::not_found(ResourceKind::Cluster, cluster))?;
                let found: Vec<EcsService> = services
                    .iter()
                    .filter_map(|s| known.get(short(s)))
                    .map(|s| w.service_view(s))
                    .collect();
                match services.first() {
                    Some(first) if found.is_empty() => {
                        Err(CloudError::not_found(ResourceKind::Service, short(first)))
                    }
                    _ => Ok(found),
                }
            },
        )
    }

    async fn describe_task_definition(&self, task_definition: &str) -> CloudResult<TaskDefinition> {
        self.0.call(
            "DescribeTaskDefinition",
            |_| "*".into(),
            |w| {
                w.find_task_definition(task_definition)
                    .cloned()
                    .ok_or_else(|| {
                        CloudError::not_found(ResourceKind::TaskDefinition, task_definition)
                    })
            },
        )
    }

    async fn register_task_definition(&self, td: &TaskDefinition) -> CloudResult<TaskDefinition> {
        self.0.call(
            "RegisterTaskDefinition",
            |_| "*".into(),
            |w| {
                validate_task_definition(td)
                    .map_err(|m| CloudError::invalid("RegisterTaskDefinition", m))?;
                Ok(w.store_task_definition(td, 0))
            },
        )
    }

    async fn update_service(&self, request: &UpdateService) -> CloudResult<EcsService> {
        let cluster = short(&request.cluster);
        let service = short(&request.service);
        self.0.call(
            "UpdateService",
            |w| w.service_arn(cluster, service),
            |w| {
                let current = w
                    .service_ref(cluster, service)?
                    .primary()
                    .task_definition
                    .clone();
                let td = if request.task_definition.is_empty() {
                    current.clone()
                } else {
                    w.find_task_definition(&request.task_definition)
                        .map(|td| td.arn.clone())
                        .ok_or_else(|| {
                            CloudError::not_found(
                                ResourceKind::TaskDefinition,
                                &request.task_definition,
                            )
                        })?
                };
                if let Some(c) = &request.deployment_configuration
                    && c.minimum_healthy_percent > 100
                {
                    return Err(CloudError::invalid(
                        "UpdateService",
                        "minimumHealthyPercent must be at most 100",
                    ));
                }
                let id = (td != current).then(|| w.deployment_id());
                let t = w.t;
                let svc = w
                    .clusters
                    .get_mut(cluster)
                    .and_then(|s| s.get_mut(service))
                    .expect("checked above");
                if let Some(n) = request.desired_count {
                    svc.desired = n;
                }
                if let Some(c) = &request.deployment_configuration {
                    svc.min_pct = c.minimum_healthy_percent;
                    svc.max_pct = c.maximum_percent;
                    svc.circuit_breaker = c.circuit_breaker;
                }
                if let Some(id) = id {
                    svc.deployments.insert(
                        0,
                        SimDeployment {
                            id,
                            task_definition: td,
                            failed_tasks: 0,
                            rollout: RolloutState::InProgress,
                            reason: Some("ECS deployment in progress.".into()),
                            created: t,
                            updated: t,
                            is_rollback: false,
                            stalled_reported: false,
                        },
                    );
                }
                w.schedule(cluster, service);
                Ok(w.service_view(w.service_ref(cluster, service)?))
            },
        )
    }

    async fn list_tasks(
        &self,
        cluster: &str,
        service: &str,
        desired: DesiredStatus,
    ) -> CloudResult<Vec<String>> {
        let cluster = short(cluster);
        let service = short(service);
        self.0.call(
            "ListTasks",
            |w| w.cluster_arn(cluster),
            |w| {
                w.service_ref(cluster, service)?;
                let want_live = desired == DesiredStatus::Running;
                Ok(w.service_tasks(cluster, service)
                    .filter(|(_, x)| x.live == want_live)
                    .map(|(_, x)| x.arn.clone())
                    .collect())
            },
        )
    }

    async fn describe_tasks(&self, cluster: &str, tasks: &[String]) -> CloudResult<Vec<Task>> {
        let cluster = short(cluster);
        self.0.call(
            "DescribeTasks",
            |w| w.cluster_arn(cluster),
            |w| {
                if tasks.len() > DESCRIBE_TASKS_BATCH {
                    return Err(CloudError::invalid(
                        "DescribeTasks",
                        format!(
                            "at most {DESCRIBE_TASKS_BATCH} tasks per call, got {}",
                            tasks.len()
                        ),
                    ));
                }
                if !w.clusters.contains_key(cluster) {
                    return Err(CloudError::not_found(ResourceKind::Cluster, cluster));
                }
                let by_id: std::collections::HashMap<&str, &SimTask> = w
                    .tasks
                    .values()
                    .filter(|x| x.cluster == cluster)
                    .map(|x| (x.id(), x))
                    .collect();
                Ok(tasks
                    .iter()
                    .filter_map(|wanted| by_id.get(wanted.rsplit('/').next().unwrap_or(wanted)))
                    .map(|x| w.task_view(x))
                    .collect())
            },
        )
    }
}
