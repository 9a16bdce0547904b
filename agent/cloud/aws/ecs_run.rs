//! One-off tasks through aws-sdk-ecs: where a service's tasks run (read from DescribeServices,
//! handed to RunTask), RunTask itself, and the containers' exit codes.

use super::ecs::AwsEcs;
use super::error::{Subject, map};
use crate::cloud::types::*;
use crate::cloud::{CloudResult, ResourceKind};
use aws_sdk_ecs::types as ecs;

/// The service's network configuration, capacity provider strategy or launch type.
pub(super) fn placement_from_sdk(s: &ecs::Service) -> TaskPlacement {
    let network = s
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .map(|v| AwsVpc {
            subnets: v.subnets().to_vec(),
            security_groups: v.security_groups().to_vec(),
            assign_public_ip: v.assign_public_ip() == Some(&ecs::AssignPublicIp::Enabled),
        });
    TaskPlacement {
        network,
        launch_type: s.launch_type().map(|l| l.as_str().to_string()),
        capacity_provider_strategy: s
            .capacity_provider_strategy()
            .iter()
            .map(|c| CapacityProviderItem {
                capacity_provider: c.capacity_provider().to_string(),
                weight: c.weight().max(0) as u32,
                base: c.base().max(0) as u32,
            })
            .collect(),
        platform_version: s.platform_version().map(String::from),
    }
}

pub(super) fn containers_from_sdk(t: &ecs::Task) -> Vec<TaskContainer> {
    t.containers()
        .iter()
        .map(|c| TaskContainer {
            name: c.name().unwrap_or_default().to_string(),
            last_status: c.last_status().unwrap_or_default().to_string(),
            exit_code: c.exit_code(),
            reason: c.reason().map(String::from),
            health_status: c.health_status().map(|h| h.as_str().to_string()),
        })
        .collect()
}

pub(super) fn alarms_to_sdk(a: &DeploymentAlarms) -> ecs::DeploymentAlarms {
    ecs::DeploymentAlarms::builder()
        .set_alarm_names(Some(a.alarm_names.clone()))
        .enable(a.enable)
        .rollback(a.rollback)
        .build()
        .expect("every required member is set")
}

fn network_to_sdk(v: &AwsVpc) -> ecs::NetworkConfiguration {
    let awsvpc = ecs::AwsVpcConfiguration::builder()
        .set_subnets(Some(v.subnets.clone()))
        .set_security_groups(Some(v.security_groups.clone()))
        .assign_public_ip(match v.assign_public_ip {
            true => ecs::AssignPublicIp::Enabled,
            false => ecs::AssignPublicIp::Disabled,
        })
        .build()
        .expect("subnets are set");
    ecs::NetworkConfiguration::builder()
        .awsvpc_configuration(awsvpc)
        .build()
}

fn strategy_to_sdk(
    items: &[CapacityProviderItem],
) -> Option<Vec<ecs::CapacityProviderStrategyItem>> {
    if items.is_empty() {
        return None;
    }
    Some(
        items
            .iter()
            .map(|c| {
                ecs::CapacityProviderStrategyItem::builder()
                    .capacity_provider(&c.capacity_provider)
                    .weight(c.weight as i32)
                    .base(c.base as i32)
                    .build()
                    .expect("the capacity provider is set")
            })
            .collect(),
    )
}

impl AwsEcs {
    /// RunTask of one task with the container's command replaced, placed like the service's.
    pub(super) async fn run_one(
        &self,
        request: &RunTask,
    ) -> CloudResult<aws_sdk_ecs::operation::run_task::RunTaskOutput> {
        let placement = &request.placement;
        let overrides = ecs::TaskOverride::builder()
            .container_overrides(
                ecs::ContainerOverride::builder()
                    .name(&request.container)
                    .set_command(Some(request.command.clone()))
                    .build(),
            )
            .build();
        // A capacity provider strategy and a launch type exclude each other (RunTask refuses
        // both); the service has one or the other.
        let strategy = strategy_to_sdk(&placement.capacity_provider_strategy);
        let launch_type = match strategy {
            Some(_) => None,
            None => placement.launch_type.as_deref().map(ecs::LaunchType::from),
        };
        self.client
            .run_task()
            .cluster(&request.cluster)
            .task_definition(&request.task_definition)
            .count(1)
            .started_by(&request.started_by)
            .overrides(overrides)
            .set_capacity_provider_strategy(strategy)
            .set_launch_type(launch_type)
            .set_platform_version(placement.platform_version.clone())
            .set_network_configuration(placement.network.as_ref().map(network_to_sdk))
            .send()
            .await
            .map_err(|e| {
                map(
                    "RunTask",
                    Subject {
                        kind: ResourceKind::TaskDefinition,
                        name: &request.task_definition,
                    },
                    e,
                )
            })
    }
}
