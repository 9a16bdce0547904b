//! The service scheduler: rolling deployments, the circuit breaker and its rollback, stalls
//! and completion.

use super::tasks::stop_task;
use super::{CIRCUIT_BREAKER_REASON, circuit_breaker_threshold};
use crate::cloud::sim::world::*;
use crate::cloud::types::*;

impl World {
    /// A task of `deployment` failed: count it, and trip the circuit breaker at its threshold.
    pub(super) fn task_failed(&mut self, cluster: &str, service: &str, deployment: &str) {
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
    pub(in crate::cloud::sim) fn schedule(&mut self, cluster: &str, service: &str) {
        let Some(svc) = self.clusters.get(cluster).and_then(|s| s.get(service)) else {
            return;
        };
        let limits = Limits::of(svc);
        let mine: Vec<TaskKey> = self
            .service_tasks(cluster, service)
            .filter(|(_, x)| x.live)
            .map(|(k, _)| k.clone())
            .collect();
        let (new, old): (Vec<TaskKey>, Vec<TaskKey>) = mine
            .iter()
            .cloned()
            .partition(|k| self.tasks[k].deployment == limits.primary);
        let (to_stop, excess) = self.choose_stops(&limits, &mine, &new, &old);

        let reason = format!(
            "Scaling activity initiated by (deployment {})",
            limits.primary
        );
        let tgs = &self.target_groups;
        for k in &to_stop {
            if let Some(task) = self.tasks.get_mut(k) {
                stop_task(task, self.t, reason.clone(), tgs);
            }
        }
        let stopped_ids: Vec<String> = to_stop.iter().map(|k| self.tasks[k].id().into()).collect();

        let mut live = mine.len() as u64 - to_stop.len() as u64;
        let mut new_live = new.len() as u64 - excess as u64;
        let mut started_ids: Vec<String> = Vec::new();
        if !limits.primary_failed {
            while live < limits.max_tasks && new_live < limits.desired {
                let k = self.start_task(cluster, service, false);
                started_ids.push(self.tasks[&k].id().into());
                live += 1;
                new_live += 1;
            }
        }
        self.report_moves(cluster, service, &stopped_ids, &started_ids);

        let old_live = (old.len() as u64) > (to_stop.len() as u64 - excess as u64);
        let stuck = old_live && to_stop.is_empty() && started_ids.is_empty();
        if stuck && limits.no_room() && !limits.primary_failed && !limits.stalled_reported {
            self.report_stall(cluster, service);
        }
        if limits.primary_in_progress {
            self.complete_if_done(cluster, service, &limits);
        }
    }

    /// The tasks to stop now, and how many of them are new tasks beyond the desired count.
    fn choose_stops(
        &self,
        limits: &Limits,
        mine: &[TaskKey],
        new: &[TaskKey],
        old: &[TaskKey],
    ) -> (Vec<TaskKey>, usize) {
        let healthy = |k: &TaskKey| self.tasks[k].healthy();
        let mut healthy_count = mine.iter().filter(|k| healthy(k)).count() as u64;
        let mut to_stop: Vec<TaskKey> = Vec::new();
        if !limits.primary_failed {
            // Old tasks that are not (yet) healthy go first: they count for nothing.
            to_stop.extend(old.iter().filter(|k| !healthy(k)).cloned());
            for k in old.iter().filter(|k| healthy(k)) {
                if healthy_count > limits.min_healthy {
                    to_stop.push(k.clone());
                    healthy_count -= 1;
                }
            }
        }
        // Scale in: more new tasks than desired (the desired count went down).
        let excess = (new.len() as u64).saturating_sub(limits.desired) as usize;
        if excess > 0 {
            let mut by_preference: Vec<TaskKey> = new.to_vec();
            by_preference.sort_by_key(|k| (healthy(k), std::cmp::Reverse(k.2)));
            to_stop.extend(by_preference.into_iter().take(excess));
        }
        (to_stop, excess)
    }

    fn report_moves(
        &mut self,
        cluster: &str,
        service: &str,
        stopped: &[String],
        started: &[String],
    ) {
        if !stopped.is_empty() {
            self.push_event(
                cluster,
                service,
                format!(
                    "(service {service}) has stopped {} running tasks: {}.",
                    stopped.len(),
                    tasks_list(stopped)
                ),
            );
        }
        if !started.is_empty() {
            self.push_event(
                cluster,
                service,
                format!(
                    "(service {service}) has started {} tasks: {}.",
                    started.len(),
                    tasks_list(started)
                ),
            );
        }
    }

    /// The deployment configuration leaves no room to move: say so once per deployment.
    fn report_stall(&mut self, cluster: &str, service: &str) {
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

    /// The rollout completes when only the primary's tasks are left, all desired and healthy.
    fn complete_if_done(&mut self, cluster: &str, service: &str, limits: &Limits) {
        let primary = &limits.primary;
        let old_remaining = self
            .service_tasks(cluster, service)
            .any(|(_, x)| x.deployment != *primary && x.status != TaskStatus::Stopped);
        let new_tasks: Vec<&SimTask> = self
            .service_tasks(cluster, service)
            .map(|(_, x)| x)
            .filter(|x| x.deployment == *primary && x.live)
            .collect();
        let complete = !old_remaining
            && new_tasks.len() as u64 == limits.desired
            && new_tasks.iter().all(|x| x.healthy());
        if !complete {
            return;
        }
        let t = self.t;
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

/// A service's deployment configuration and primary deployment, as the scheduler reads them.
struct Limits {
    desired: u64,
    max_tasks: u64,
    min_healthy: u64,
    primary: String,
    primary_failed: bool,
    primary_in_progress: bool,
    stalled_reported: bool,
}

impl Limits {
    fn of(svc: &Service) -> Limits {
        let desired = u64::from(svc.desired);
        Limits {
            desired,
            max_tasks: desired * u64::from(svc.max_pct) / 100,
            min_healthy: (desired * u64::from(svc.min_pct)).div_ceil(100),
            primary: svc.primary().id.clone(),
            primary_failed: svc.primary().rollout == RolloutState::Failed,
            primary_in_progress: svc.primary().rollout == RolloutState::InProgress,
            stalled_reported: svc.primary().stalled_reported,
        }
    }

    /// Neither above the desired count nor below it: a rollout cannot move.
    fn no_room(&self) -> bool {
        self.max_tasks <= self.desired && self.min_healthy >= self.desired
    }
}

fn tasks_list(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("(task {id})"))
        .collect::<Vec<_>>()
        .join(" ")
}
