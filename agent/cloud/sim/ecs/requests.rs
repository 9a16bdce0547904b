//! The ECS port: request validation and the calls the agent makes.

use super::short;
use super::task_definitions::validate_task_definition;
use crate::cloud::ports::{CloudResult, DESCRIBE_SERVICES_BATCH, DESCRIBE_TASKS_BATCH, Ecs};
use crate::cloud::sim::Simulator;
use crate::cloud::sim::world::*;
use crate::cloud::types::*;
use crate::cloud::{CloudError, ResourceKind};
use async_trait::async_trait;

/// The ECS port of the simulator.
pub struct SimEcs(pub(in crate::cloud::sim) Simulator);

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
                let controller = &w.service_ref(cluster, service)?.deployment_controller;
                if td != current && controller != "ECS" {
                    return Err(CloudError::invalid(
                        "UpdateService",
                        format!(
                            "Unable to update task definition on services with a {controller} deployment controller."
                        ),
                    ));
                }
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
                if let Some(g) = request.health_check_grace_period_seconds {
                    svc.grace = Some(g);
                }
                if let Some(c) = &request.deployment_configuration {
                    svc.min_pct = c.minimum_healthy_percent;
                    svc.max_pct = c.maximum_percent;
                    svc.circuit_breaker = c.circuit_breaker;
                    svc.alarms = c.alarms.clone();
                }
                w.gates.first_update.entry(service.to_string()).or_insert(t);
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
                    .filter_map(|wanted| {
                        let id = wanted.rsplit('/').next().unwrap_or(wanted);
                        match by_id.get(id) {
                            Some(x) => Some(w.task_view(x)),
                            None => w.one_off_view(cluster, id),
                        }
                    })
                    .collect())
            },
        )
    }

    async fn run_task(&self, request: &RunTask) -> CloudResult<Task> {
        self.0.call(
            "RunTask",
            |_| request.task_definition.clone(),
            |w| w.run_one_off(request),
        )
    }

    async fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> CloudResult<()> {
        let cluster = short(cluster);
        self.0.call(
            "StopTask",
            |w| w.task_arn(cluster, task.rsplit('/').next().unwrap_or(task)),
            |w| match w.stop_one_off(cluster, task, reason) {
                true => Ok(()),
                false => Err(CloudError::invalid(
                    "StopTask",
                    "The referenced task was not found.",
                )),
            },
        )
    }
}
