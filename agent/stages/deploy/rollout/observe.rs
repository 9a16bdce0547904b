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
                let (decision, view) = match observation {
                    Ok(obs) => {
                        let decision = flight.gate.observe(&obs);
                        let rolling_back = flight.stage == Stage::RollingBack;
                        (
                            decision,
                            Some(RolloutView::of(rolling_back, &obs, &flight.gate)),
                        )
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
        let key = deployment_counts(service, &flight.deployment_id);
        // Once read, a COMPLETED deployment of ours needs no new list: the old tasks are gone
        // (ECS says so), and the gate decides on that.
        let completed = service
            .deployments
            .iter()
            .any(|d| d.id == flight.deployment_id && d.rollout_state == RolloutState::Completed);
        let settled = completed && flight.task_key.is_some();
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
        let baked = flight.gate.bake_done(flight.rollout_started.elapsed());
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

/// What the task list is re-read on: our deployment's running and failed counts, and which
/// other deployments there are. None while none of our tasks has run or failed: until then
/// the list holds nothing the gate acts on (a task being placed moves no count here; one that
/// fails moves `failed`). Other deployments' counts are left out: their tasks only drain away,
/// which ends in their deployment going. The rollout state is the gate's straight from
/// DescribeServices.
fn deployment_counts(service: &EcsService, ours: &str) -> Option<String> {
    let our = service.deployments.iter().find(|d| d.id == ours);
    if our.is_some_and(|d| d.running_count == 0 && d.failed_tasks == 0 && d.desired_count > 0) {
        return None;
    }
    let mut key = our
        .map(|d| format!("{}:{}", d.running_count, d.failed_tasks))
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
