//! Looking at every in-flight rollout at once: DescribeServices batched by cluster, task lists
//! re-read only when ECS's counts change, target health of the new tasks.

use super::*;
use crate::cloud::types::{AlarmState, RolloutState};
use crate::stages::deploy::gate::alarm_signals;
use crate::stages::deploy::progress::RolloutView;
use std::time::Duration;

impl Rollout<'_> {
    /// Observe every due rollout (batched per cluster) and act on the gates' decisions.
    pub(super) async fn poll(&self, due: Vec<InFlight>) -> Vec<(InFlight, Verdict)> {
        let look = Instant::now();
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
            let alarms = self.read_alarms(&flights).await;
            for mut flight in flights {
                let observation = match (&error, described.get(&flight.target.spec.ecs.service)) {
                    (_, Some(service)) => match &alarms {
                        Ok(states) => self.observe(&mut flight, service, states).await,
                        Err(e) => Err(e.clone()),
                    },
                    (Some(e), None) => Err(e.clone()),
                    (None, None) => Err(CloudError::not_found(
                        crate::cloud::ResourceKind::Service,
                        &flight.target.spec.ecs.service,
                    )),
                };
                let service = described.get(&flight.target.spec.ecs.service);
                let (decision, view) = match observation {
                    Ok(obs) => {
                        let seen = obs.clone();
                        let decision = self.confirmed(&mut flight, service, obs, look).await;
                        let rolling_back = flight.stage == Stage::RollingBack;
                        let view = RolloutView::of(rolling_back, &seen, &flight.gate);
                        (decision, Some(view))
                    }
                    // Unable to watch is unable to verify: decide, never leave it hanging.
                    Err(e) => (
                        Decision::Failed(Failure::Timeout {
                            waiting_for: format!("an observation of the rollout ({e})"),
                        }),
                        None,
                    ),
                };
                // The numbers go out with what they mean: after the step a wait says, before
                // the verdict that ends the rollout.
                let waiting = matches!(decision, Decision::Wait(_));
                let (env, name) = (flight.target.env.clone(), flight.target.spec.name.clone());
                if let Some(view) = view.as_ref().filter(|_| !waiting) {
                    self.progress.rollout(&env, &name, view);
                }
                let verdict = self.decide(&mut flight, decision).await;
                if let Some(view) = view.as_ref().filter(|_| waiting) {
                    self.progress.rollout(&env, &name, view);
                }
                out.push((flight, verdict));
            }
        }
        out
    }

    /// Read what the gate needs about `flight` (task lists and target health only when they
    /// may have changed) and describe it as an [`Observation`].
    pub(super) async fn observe(
        &self,
        flight: &mut InFlight,
        service: &EcsService,
        alarms: &[AlarmState],
    ) -> Result<Observation, CloudError> {
        // Re-read tasks only when ECS's counts moved: a task started, stopped or failed. While
        // a new task's container check has yet to report HEALTHY (which moves no count when ECS
        // keeps the deployment it had), the same tasks are described again: one call.
        let key = deployment_counts(service, &flight.deployment_id, flight.task_key.is_some());
        // Once read and baked, a COMPLETED deployment of ours needs no new list: the old tasks
        // are gone (ECS says so); the new ones are described once more before the verdict.
        let completed = service
            .deployments
            .iter()
            .any(|d| d.id == flight.deployment_id && d.rollout_state == RolloutState::Completed);
        let baked = flight.gate.bake_done(flight.rollout_started.elapsed());
        let settled = completed && baked && flight.task_key.is_some();
        if let Some(key) = key.filter(|_| !settled)
            && flight.task_key.as_deref() != Some(key.as_str())
        {
            flight.tasks = self.read_tasks(&flight.target).await?;
            flight.task_key = Some(key);
            flight.tasks_read_at = Some(Instant::now());
        } else if awaiting_container_health(flight)
            && flight
                .tasks_read_at
                .is_none_or(|at| at.elapsed() >= CONTAINER_HEALTH_REREAD)
        {
            flight.tasks = self.describe_again(&flight.target, &flight.tasks).await?;
            flight.tasks_read_at = Some(Instant::now());
        }
        // After the bake only the old tasks' drain is awaited: a new task failing then still
        // shows in ECS's counts (ECS stops it), so target health need not be re-read.
        // Nor before a new task runs: until then no target of ours can say anything.
        let running = flight
            .tasks
            .iter()
            .any(|t| t.started_by == flight.deployment_id && t.last_status == "RUNNING");
        for arn in flight.target_groups.iter().filter(|_| running && !baked) {
            let health = self
                .call("DescribeTargetHealth", || {
                    self.cloud.elb.describe_target_health(arn)
                })
                .await?
                .into_iter()
                .map(|t| (t.target_id, (t.state, t.reason)))
                .collect();
            flight.health.insert(arn.clone(), health);
        }
        let mut obs = observation(flight, service);
        // A rollback is gated on health alone: the alarm that failed the deploy may still be
        // firing while the old revision takes over again.
        if flight.stage == Stage::Rolling {
            obs.alarms = alarm_signals(alarms, &flight.alarms, flight.updated_at);
        }
        Ok(obs)
    }

    /// The gate's decision on `obs` — a success only once the new tasks were described at this
    /// look: a task that exited and was replaced between two looks can leave ECS's counts as
    /// they were, but DescribeTasks still shows it STOPPED.
    async fn confirmed(
        &self,
        flight: &mut InFlight,
        service: Option<&EcsService>,
        obs: Observation,
        look: Instant,
    ) -> Decision {
        let decision = flight.gate.observe(&obs);
        let fresh = flight.tasks_read_at.is_some_and(|at| at >= look);
        let (Decision::Succeeded, false, Some(service)) = (&decision, fresh, service) else {
            return decision;
        };
        match self.describe_again(&flight.target, &flight.tasks).await {
            Ok(tasks) => {
                flight.tasks = tasks;
                flight.tasks_read_at = Some(Instant::now());
            }
            Err(e) => {
                return Decision::Failed(Failure::Timeout {
                    waiting_for: format!("an observation of the rollout ({e})"),
                });
            }
        }
        let mut again = observation(flight, service);
        again.alarms = obs.alarms;
        flight.gate.observe(&again)
    }

    /// DescribeAlarms of every alarm the rolling flights watch, in one call per 100 names.
    async fn read_alarms(&self, flights: &[InFlight]) -> Result<Vec<AlarmState>, CloudError> {
        let mut names: Vec<String> = flights
            .iter()
            .filter(|f| f.stage == Stage::Rolling)
            .flat_map(|f| f.alarms.iter().cloned())
            .collect();
        names.sort();
        names.dedup();
        let mut states = Vec::new();
        for chunk in names.chunks(crate::cloud::DESCRIBE_ALARMS_BATCH) {
            states.extend(
                self.call("DescribeAlarms", || {
                    self.cloud.alarms.describe_alarms(chunk)
                })
                .await?,
            );
        }
        Ok(states)
    }

    /// `tasks` as DescribeTasks shows them now.
    async fn describe_again(
        &self,
        target: &Target,
        tasks: &[Task],
    ) -> Result<Vec<Task>, CloudError> {
        let arns: Vec<String> = tasks.iter().map(|t| t.task_arn.clone()).collect();
        let mut fresh = Vec::new();
        for chunk in arns.chunks(DESCRIBE_TASKS_BATCH) {
            fresh.extend(
                self.call("DescribeTasks", || {
                    self.cloud.ecs.describe_tasks(&target.cluster, chunk)
                })
                .await?,
            );
        }
        Ok(fresh)
    }

    /// Every task of the service, running and stopped.
    async fn read_tasks(&self, target: &Target) -> Result<Vec<Task>, CloudError> {
        let (cluster, name) = (&target.cluster, &target.spec.ecs.service);
        let mut arns = self
            .call("ListTasks", || {
                self.cloud
                    .ecs
                    .list_tasks(cluster, name, DesiredStatus::Running)
            })
            .await?;
        arns.extend(
            self.call("ListTasks", || {
                self.cloud
                    .ecs
                    .list_tasks(cluster, name, DesiredStatus::Stopped)
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
                    self.cloud.ecs.describe_tasks(cluster, chunk)
                })
                .await?,
            );
        }
        Ok(tasks)
    }
}

/// How often tasks are described again while a container check has yet to report HEALTHY
/// (ECS's checks run every 30 s by default).
const CONTAINER_HEALTH_REREAD: Duration = Duration::from_secs(6);

/// Whether a new RUNNING task has yet to report HEALTHY while the gate needs it to.
fn awaiting_container_health(flight: &InFlight) -> bool {
    flight.gate.healthy_since().is_none()
        && flight.gate_config.container_health_check
        && flight.tasks.iter().any(|t| {
            t.started_by == flight.deployment_id
                && t.desired_status == "RUNNING"
                && t.health_status.as_deref() != Some("HEALTHY")
        })
}

/// What the task list is re-read on: our deployment's counts (running, pending, failed,
/// desired), and which other deployments there are. None before the first read while none of
/// our tasks has run or failed: until then the list holds nothing the gate acts on. Other
/// deployments' counts are left out: their tasks only drain away, which ends in their
/// deployment going. The rollout state is the gate's straight from DescribeServices. A task
/// that exits and is replaced between two looks can leave these counts as they were: the new
/// tasks are described again before any verdict of success (`confirm`).
fn deployment_counts(service: &EcsService, ours: &str, read_before: bool) -> Option<String> {
    let our = service.deployments.iter().find(|d| d.id == ours);
    let nothing_yet =
        our.is_some_and(|d| d.running_count == 0 && d.failed_tasks == 0 && d.desired_count > 0);
    if nothing_yet && !read_before {
        return None;
    }
    let mut key = our
        .map(|d| {
            let (r, p, f, n) = (
                d.running_count,
                d.pending_count,
                d.failed_tasks,
                d.desired_count,
            );
            format!("{r}:{p}:{f}:{n}")
        })
        .unwrap_or_default();
    for d in service.deployments.iter().filter(|d| d.id != ours) {
        key.push('|');
        key.push_str(&d.id);
    }
    Some(key)
}

/// The gate's view of `flight` from what was last read of its service, tasks and targets.
fn observation(flight: &InFlight, service: &EcsService) -> Observation {
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
    let old_tasks_remaining = flight
        .tasks
        .iter()
        .filter(|t| t.started_by != flight.deployment_id && t.last_status != "STOPPED")
        .count() as u32;
    Observation {
        elapsed: flight.rollout_started.elapsed(),
        deployment,
        old_tasks_remaining,
        new_tasks: new_tasks(flight),
        stuck_event: stuck_event(flight, service),
        alarms: Vec::new(),
    }
}

/// The tasks this deploy started, with their targets' health.
fn new_tasks(flight: &InFlight) -> Vec<NewTask> {
    let health = &flight.health;
    flight
        .tasks
        .iter()
        .filter(|t| t.started_by == flight.deployment_id)
        // A kept deployment's older tasks (e.g. stopped by a scale-in) are not this deploy's.
        .filter(|t| {
            !flight.reused_deployment
                || t.desired_status == "RUNNING"
                || t.created_at >= flight.updated_at
        })
        .map(|t| NewTask {
            task_arn: t.task_arn.clone(),
            last_status: t.last_status.clone(),
            stopped_reason: t.stopped_reason.clone(),
            targets: flight
                .target_groups
                .iter()
                .map(|arn| {
                    let h = health.get(arn).and_then(|by_ip| by_ip.get(&t.private_ip));
                    TargetView {
                        target_group: target_group_name(arn).to_string(),
                        state: h.map(|(s, _)| *s),
                        reason: h.and_then(|(_, r)| r.clone()),
                    }
                })
                .collect(),
            health_status: t.health_status.clone(),
            unhealthy_containers: t
                .containers
                .iter()
                .filter(|c| c.health_status.as_deref() == Some("UNHEALTHY"))
                .map(|c| c.name.clone())
                .collect(),
        })
        .collect()
}

/// `name` from `arn:…:targetgroup/name/hash` (or the text itself).
fn target_group_name(arn: &str) -> &str {
    arn.split_once(":targetgroup/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(arn)
}

/// ECS's event saying the deployment cannot place or stop tasks, if this deployment has one.
fn stuck_event(flight: &InFlight, service: &EcsService) -> Option<String> {
    // Events of our deployment: from its own creation time (AWS's clock), unless ECS kept an
    // older deployment.
    let since = service
        .deployments
        .iter()
        .find(|d| d.id == flight.deployment_id && !flight.reused_deployment)
        .map(|d| d.created_at)
        .unwrap_or(flight.updated_at);
    service
        .events
        .iter()
        .find(|e| e.created_at >= since && e.message.contains("unable to stop or start tasks"))
        .map(|e| e.message.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `api` with our deployment `ours` at (running, pending, failed) of 1 and the old one.
    fn service(running: u32, pending: u32, failed: u32, old: bool) -> EcsService {
        let deployment = |id: &str, running: u32, pending: u32, failed: u32| {
            serde_json::json!({
                "id": id, "status": "PRIMARY", "taskDefinition": "td", "desiredCount": 1,
                "pendingCount": pending, "runningCount": running, "failedTasks": failed,
                "rolloutState": "IN_PROGRESS", "rolloutStateReason": null,
                "createdAt": "2026-12-02T00:00:00Z", "updatedAt": "2026-12-02T00:00:00Z",
            })
        };
        let mut deployments = vec![deployment("ours", running, pending, failed)];
        if old {
            deployments.push(deployment("old", 1, 0, 0));
        }
        serde_json::from_value(serde_json::json!({
            "serviceName": "api", "cluster": "c", "status": "ACTIVE", "desiredCount": 1,
            "runningCount": 1, "pendingCount": 0, "taskDefinition": "td",
            "deployments": deployments,
            "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                "circuitBreaker": null},
            "loadBalancers": [], "events": [], "deploymentController": "ECS",
            "healthCheckGracePeriodSeconds": null,
        }))
        .unwrap()
    }

    #[test]
    fn nothing_is_read_before_a_task_of_ours_runs_or_fails() {
        assert_eq!(
            deployment_counts(&service(0, 1, 0, true), "ours", false),
            None
        );
        assert!(deployment_counts(&service(1, 0, 0, true), "ours", false).is_some());
        assert!(deployment_counts(&service(0, 0, 1, true), "ours", false).is_some());
    }

    #[test]
    fn a_task_that_stops_after_the_first_read_moves_the_key() {
        let read = deployment_counts(&service(1, 0, 0, true), "ours", false).unwrap();
        // Crashed: running 0, a replacement placed; AWS's failedTasks need not move.
        let crashed = deployment_counts(&service(0, 1, 0, true), "ours", true).unwrap();
        assert_ne!(read, crashed);
    }

    #[test]
    fn the_old_deployment_going_moves_the_key_its_counts_do_not() {
        let with_old = deployment_counts(&service(1, 0, 0, true), "ours", true);
        let mut draining = service(1, 0, 0, true);
        draining.deployments[1].running_count = 0;
        assert_eq!(deployment_counts(&draining, "ours", true), with_old);
        assert_ne!(
            deployment_counts(&service(1, 0, 0, false), "ours", true),
            with_old
        );
    }
}
