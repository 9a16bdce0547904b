//! ECS through aws-sdk-ecs.

use super::error::{Subject, map};
use super::raw_body::{ReadBody, SendBody};
use super::taskdef::{from_response, register_body, time};
use crate::cloud::types::*;
use crate::cloud::{
    CloudError, CloudResult, DESCRIBE_SERVICES_BATCH, DESCRIBE_TASKS_BATCH, Ecs, ResourceKind,
};
use async_trait::async_trait;
use aws_sdk_ecs::types as ecs;

pub struct AwsEcs {
    pub(super) client: aws_sdk_ecs::Client,
}

fn service(name: &str) -> Subject<'_> {
    Subject {
        kind: ResourceKind::Service,
        name,
    }
}

fn deployment_from_sdk(d: &ecs::Deployment) -> Deployment {
    let epoch = chrono::DateTime::UNIX_EPOCH;
    Deployment {
        id: d.id().unwrap_or_default().to_string(),
        status: d.status().unwrap_or_default().to_string(),
        task_definition: d.task_definition().unwrap_or_default().to_string(),
        desired_count: d.desired_count().max(0) as u32,
        pending_count: d.pending_count().max(0) as u32,
        running_count: d.running_count().max(0) as u32,
        failed_tasks: d.failed_tasks().max(0) as u32,
        rollout_state: match d.rollout_state() {
            Some(ecs::DeploymentRolloutState::Completed) => RolloutState::Completed,
            Some(ecs::DeploymentRolloutState::Failed) => RolloutState::Failed,
            _ => RolloutState::InProgress,
        },
        rollout_state_reason: d.rollout_state_reason().map(String::from),
        created_at: time(d.created_at()).unwrap_or(epoch),
        updated_at: time(d.updated_at()).unwrap_or(epoch),
    }
}

fn service_from_sdk(s: &ecs::Service) -> EcsService {
    let config = s.deployment_configuration();
    EcsService {
        service_name: s.service_name().unwrap_or_default().to_string(),
        cluster: s
            .cluster_arn()
            .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
            .unwrap_or_default(),
        status: s.status().unwrap_or_default().to_string(),
        desired_count: s.desired_count().max(0) as u32,
        running_count: s.running_count().max(0) as u32,
        pending_count: s.pending_count().max(0) as u32,
        task_definition: s.task_definition().unwrap_or_default().to_string(),
        deployments: s.deployments().iter().map(deployment_from_sdk).collect(),
        deployment_configuration: DeploymentConfiguration {
            minimum_healthy_percent: config
                .and_then(|c| c.minimum_healthy_percent())
                .unwrap_or(100) as u32,
            maximum_percent: config.and_then(|c| c.maximum_percent()).unwrap_or(200) as u32,
            circuit_breaker: config
                .and_then(|c| c.deployment_circuit_breaker())
                .map(|b| CircuitBreaker {
                    enable: b.enable(),
                    rollback: b.rollback(),
                }),
            alarms: config.and_then(|c| c.alarms()).map(|a| DeploymentAlarms {
                alarm_names: a.alarm_names().to_vec(),
                enable: a.enable(),
                rollback: a.rollback(),
            }),
        },
        load_balancers: s
            .load_balancers()
            .iter()
            .map(|lb| ServiceLoadBalancer {
                target_group_arn: lb.target_group_arn().unwrap_or_default().to_string(),
                container_name: lb.container_name().unwrap_or_default().to_string(),
                container_port: lb.container_port().unwrap_or_default() as u16,
            })
            .collect(),
        events: s
            .events()
            .iter()
            .map(|e| ServiceEvent {
                created_at: time(e.created_at()).unwrap_or(chrono::DateTime::UNIX_EPOCH),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect(),
        placement: super::ecs_run::placement_from_sdk(s),
        deployment_controller: s
            .deployment_controller()
            .map_or("ECS", |c| c.r#type().as_str())
            .to_string(),
        health_check_grace_period_seconds: s
            .health_check_grace_period_seconds()
            .map(|g| g.max(0) as u32),
        capacity_provider_strategy: s
            .capacity_provider_strategy()
            .iter()
            .map(|c| CapacityProviderStrategyItem {
                capacity_provider: c.capacity_provider().to_string(),
                weight: c.weight().max(0) as u32,
                base: c.base().max(0) as u32,
            })
            .collect(),
    }
}

fn task_from_sdk(t: &ecs::Task) -> Task {
    // The ENI's private address is the target id in an `ip` target group.
    let private_ip = t
        .attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value())
        .unwrap_or_default()
        .to_string();
    Task {
        task_arn: t.task_arn().unwrap_or_default().to_string(),
        task_definition_arn: t.task_definition_arn().unwrap_or_default().to_string(),
        started_by: t.started_by().unwrap_or_default().to_string(),
        last_status: t.last_status().unwrap_or_default().to_string(),
        desired_status: t.desired_status().unwrap_or_default().to_string(),
        created_at: time(t.created_at()).unwrap_or(chrono::DateTime::UNIX_EPOCH),
        started_at: time(t.started_at()),
        stopped_at: time(t.stopped_at()),
        stopped_reason: t.stopped_reason().map(String::from),
        private_ip,
        health_status: t.health_status().map(|h| h.as_str().to_string()),
        containers: super::ecs_run::containers_from_sdk(t),
    }
}

#[async_trait]
impl Ecs for AwsEcs {
    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> CloudResult<Vec<EcsService>> {
        Ok(self
            .sdk_services(cluster, services)
            .await?
            .iter()
            .map(service_from_sdk)
            .collect())
    }

    async fn describe_task_definition(&self, task_definition: &str) -> CloudResult<TaskDefinition> {
        let body = ReadBody::default();
        self.client
            .describe_task_definition()
            .task_definition(task_definition)
            .include(ecs::TaskDefinitionField::Tags)
            .customize()
            .interceptor(body.clone())
            .send()
            .await
            .map_err(|e| {
                map(
                    "DescribeTaskDefinition",
                    Subject {
                        kind: ResourceKind::TaskDefinition,
                        name: task_definition,
                    },
                    e,
                )
            })?;
        let body = body
            .take()
            .ok_or_else(|| CloudError::not_found(ResourceKind::TaskDefinition, task_definition))?;
        from_response("DescribeTaskDefinition", &body)
    }

    /// The definition's own JSON is the request body, so every member reaches ECS as it is.
    async fn register_task_definition(&self, td: &TaskDefinition) -> CloudResult<TaskDefinition> {
        let body = ReadBody::default();
        self.client
            .register_task_definition()
            .family(&td.family)
            .customize()
            .interceptor(SendBody(register_body(td)?))
            .interceptor(body.clone())
            .send()
            .await
            .map_err(|e| {
                map(
                    "RegisterTaskDefinition",
                    Subject {
                        kind: ResourceKind::TaskDefinition,
                        name: &td.family,
                    },
                    e,
                )
            })?;
        let body = body
            .take()
            .ok_or_else(|| CloudError::invalid("RegisterTaskDefinition", "no response body"))?;
        from_response("RegisterTaskDefinition", &body)
    }

    async fn update_service(&self, request: &UpdateService) -> CloudResult<EcsService> {
        let mut req = self
            .client
            .update_service()
            .cluster(&request.cluster)
            .service(&request.service)
            .task_definition(&request.task_definition)
            .set_desired_count(request.desired_count.map(|n| n as i32))
            .set_health_check_grace_period_seconds(
                request
                    .health_check_grace_period_seconds
                    .map(|g| g.min(i32::MAX as u32) as i32),
            );
        if let Some(c) = &request.deployment_configuration {
            req = req.deployment_configuration(
                ecs::DeploymentConfiguration::builder()
                    .minimum_healthy_percent(c.minimum_healthy_percent as i32)
                    .maximum_percent(c.maximum_percent as i32)
                    .set_deployment_circuit_breaker(c.circuit_breaker.map(|b| {
                        ecs::DeploymentCircuitBreaker::builder()
                            .enable(b.enable)
                            .rollback(b.rollback)
                            .build()
                    }))
                    .set_alarms(c.alarms.as_ref().map(super::ecs_run::alarms_to_sdk))
                    .build(),
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| map("UpdateService", service(&request.service), e))?;
        out.service()
            .map(service_from_sdk)
            .ok_or_else(|| CloudError::not_found(ResourceKind::Service, &request.service))
    }

    async fn list_tasks(
        &self,
        cluster: &str,
        service_name: &str,
        desired: DesiredStatus,
    ) -> CloudResult<Vec<String>> {
        let status = match desired {
            DesiredStatus::Running => ecs::DesiredStatus::Running,
            DesiredStatus::Stopped => ecs::DesiredStatus::Stopped,
        };
        let mut arns = Vec::new();
        let mut pages = self
            .client
            .list_tasks()
            .cluster(cluster)
            .service_name(service_name)
            .desired_status(status)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map("ListTasks", service(service_name), e))?;
            arns.extend(page.task_arns().iter().cloned());
        }
        Ok(arns)
    }

    async fn describe_tasks(&self, cluster: &str, tasks: &[String]) -> CloudResult<Vec<Task>> {
        if tasks.len() > DESCRIBE_TASKS_BATCH {
            return Err(CloudError::invalid(
                "DescribeTasks",
                "at most 100 tasks per call",
            ));
        }
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(tasks.to_vec()))
            .send()
            .await
            .map_err(|e| {
                map(
                    "DescribeTasks",
                    Subject {
                        kind: ResourceKind::Cluster,
                        name: cluster,
                    },
                    e,
                )
            })?;
        Ok(out.tasks().iter().map(task_from_sdk).collect())
    }

    async fn run_task(&self, request: &RunTask) -> CloudResult<Task> {
        let out = self.run_one(request).await?;
        if let Some(failure) = out.failures().first() {
            return Err(CloudError::invalid(
                "RunTask",
                format!(
                    "{} ({})",
                    failure.reason().unwrap_or("no reason given"),
                    failure.detail().or(failure.arn()).unwrap_or_default()
                ),
            ));
        }
        out.tasks()
            .first()
            .map(task_from_sdk)
            .ok_or_else(|| CloudError::invalid("RunTask", "ECS started no task"))
    }

    async fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> CloudResult<()> {
        self.client
            .stop_task()
            .cluster(cluster)
            .task(task)
            .reason(reason)
            .send()
            .await
            .map_err(|e| {
                map(
                    "StopTask",
                    Subject {
                        kind: ResourceKind::Task,
                        name: task,
                    },
                    e,
                )
            })?;
        Ok(())
    }
}

impl AwsEcs {
    /// DescribeServices as the SDK returns them; none found is `NotFound`.
    async fn sdk_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> CloudResult<Vec<ecs::Service>> {
        if services.len() > DESCRIBE_SERVICES_BATCH {
            return Err(CloudError::invalid(
                "DescribeServices",
                "at most 10 services per call",
            ));
        }
        let out = self
            .client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.to_vec()))
            .send()
            .await
            .map_err(|e| {
                map(
                    "DescribeServices",
                    Subject {
                        kind: ResourceKind::Cluster,
                        name: cluster,
                    },
                    e,
                )
            })?;
        if out.services().is_empty() && !services.is_empty() {
            return Err(CloudError::not_found(
                ResourceKind::Service,
                services.join(", "),
            ));
        }
        Ok(out.services().to_vec())
    }
}
