//! What the ECS API shows of the world: services with their deployments, and tasks.

use crate::cloud::CloudError;
use crate::cloud::ResourceKind;
use crate::cloud::ports::CloudResult;
use crate::cloud::sim::world::*;
use crate::cloud::types::*;

impl World {
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
                alarms: svc.alarms.clone(),
            },
            load_balancers: svc.load_balancers.clone(),
            events: svc.events.clone(),
            // Fargate in two private subnets, as the sandbox's services run.
            placement: TaskPlacement {
                network: Some(AwsVpc {
                    subnets: vec![
                        "subnet-0a1b2c3d4e5f60718".into(),
                        "subnet-0f1e2d3c4b5a69788".into(),
                    ],
                    security_groups: vec!["sg-0123456789abcdef0".into()],
                    assign_public_ip: false,
                }),
                launch_type: Some("FARGATE".into()),
                capacity_provider_strategy: Vec::new(),
                platform_version: Some("LATEST".into()),
            },
            deployment_controller: svc.deployment_controller.clone(),
            health_check_grace_period_seconds: svc.grace,
            capacity_provider_strategy: svc.capacity_provider_strategy.clone(),
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
            // ECS reports UNKNOWN when no essential container defines a health check.
            health_status: Some(
                task.container_health
                    .as_ref()
                    .map_or("UNKNOWN", |h| h.status)
                    .to_string(),
            ),
            containers: task
                .container_health
                .iter()
                .map(|h| TaskContainer {
                    name: h.container.clone(),
                    health_status: Some(h.status.to_string()),
                    ..TaskContainer::default()
                })
                .collect(),
        }
    }

    pub(super) fn service_ref(&self, cluster: &str, service: &str) -> CloudResult<&Service> {
        let services = self
            .clusters
            .get(cluster)
            .ok_or_else(|| CloudError::not_found(ResourceKind::Cluster, cluster))?;
        services
            .get(service)
            .ok_or_else(|| CloudError::not_found(ResourceKind::Service, service))
    }
}
