//! Elastic Load Balancing v2: target groups and the health of their targets. The targets
//! themselves belong to ECS tasks (see `ecs.rs`), which register and deregister them.

use super::Simulator;
use super::ecs::short;
use super::world::World;
use crate::cloud::ports::{CloudResult, LoadBalancing};
use crate::cloud::types::*;
use crate::cloud::{CloudError, ResourceKind};
use async_trait::async_trait;

impl World {
    /// Every registered target of a group: draining ones until their delay ends.
    pub fn target_health(&self, target_group_arn: &str) -> Vec<TargetHealth> {
        self.tasks
            .values()
            .flat_map(|task| task.targets.iter().map(move |x| (task, x)))
            .filter(|(_, x)| x.group == target_group_arn)
            .filter_map(|(task, x)| {
                x.target.as_ref().map(|target| TargetHealth {
                    target_id: task.ip.clone(),
                    port: x.port,
                    state: target.state,
                    reason: target.reason.clone(),
                    description: target.description.clone(),
                })
            })
            .collect()
    }
}

/// The load-balancing port of the simulator.
pub struct SimElb(pub(super) Simulator);

#[async_trait]
impl LoadBalancing for SimElb {
    async fn describe_target_groups(&self, names: &[String]) -> CloudResult<Vec<TargetGroup>> {
        self.0.call(
            "DescribeTargetGroups",
            |_| "*".into(),
            |w| {
                names
                    .iter()
                    .map(|name| {
                        w.target_groups
                            .values()
                            .find(|tg| tg.name == *name || tg.arn == *name)
                            .map(|tg| TargetGroup {
                                arn: tg.arn.clone(),
                                name: tg.name.clone(),
                                port: tg.port,
                                health_check_path: tg.health_check_path.clone(),
                                health_check_interval_seconds: tg.interval,
                                healthy_threshold_count: tg.healthy_threshold,
                                unhealthy_threshold_count: tg.unhealthy_threshold,
                            })
                            .ok_or_else(|| CloudError::not_found(ResourceKind::TargetGroup, name))
                    })
                    .collect()
            },
        )
    }

    async fn describe_target_health(
        &self,
        target_group_arn: &str,
    ) -> CloudResult<Vec<TargetHealth>> {
        self.0.call(
            "DescribeTargetHealth",
            |_| target_group_arn.to_string(),
            |w| {
                if !w.target_groups.contains_key(target_group_arn) {
                    return Err(CloudError::not_found(
                        ResourceKind::TargetGroup,
                        short(target_group_arn),
                    ));
                }
                Ok(w.target_health(target_group_arn))
            },
        )
    }

    async fn deregistration_delay(&self, target_group_arn: &str) -> CloudResult<u32> {
        self.0.call(
            "DescribeTargetGroupAttributes",
            |_| target_group_arn.to_string(),
            |w| {
                w.target_groups
                    .get(target_group_arn)
                    .map(|tg| tg.deregistration_delay)
                    .ok_or_else(|| {
                        CloudError::not_found(ResourceKind::TargetGroup, short(target_group_arn))
                    })
            },
        )
    }
}
