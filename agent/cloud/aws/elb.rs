//! Elastic Load Balancing v2 through aws-sdk-elasticloadbalancingv2.

use super::error::{Subject, map};
use crate::cloud::types::{TargetGroup, TargetHealth, TargetState};
use crate::cloud::{CloudResult, LoadBalancing, ResourceKind};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum as S;

pub struct AwsElb {
    pub(super) client: aws_sdk_elasticloadbalancingv2::Client,
}

impl AwsElb {
    /// One DescribeTargetGroups, by ARNs or by names.
    async fn target_groups(
        &self,
        arns: Option<Vec<String>>,
        names: Option<Vec<String>>,
    ) -> CloudResult<Vec<TargetGroup>> {
        let asked = arns.iter().chain(names.iter()).flatten().cloned();
        let asked: Vec<String> = asked.collect();
        let out = self
            .client
            .describe_target_groups()
            .set_target_group_arns(arns)
            .set_names(names)
            .send()
            .await
            .map_err(|e| {
                map(
                    "DescribeTargetGroups",
                    Subject {
                        kind: ResourceKind::TargetGroup,
                        name: &asked.join(", "),
                    },
                    e,
                )
            })?;
        Ok(out
            .target_groups()
            .iter()
            .map(|g| TargetGroup {
                arn: g.target_group_arn().unwrap_or_default().to_string(),
                name: g.target_group_name().unwrap_or_default().to_string(),
                port: g.port().unwrap_or_default() as u16,
                health_check_path: g.health_check_path().unwrap_or_default().to_string(),
                health_check_interval_seconds: g.health_check_interval_seconds().unwrap_or(30)
                    as u32,
                healthy_threshold_count: g.healthy_threshold_count().unwrap_or(5) as u32,
                unhealthy_threshold_count: g.unhealthy_threshold_count().unwrap_or(2) as u32,
            })
            .collect())
    }
}

#[async_trait]
impl LoadBalancing for AwsElb {
    async fn describe_target_groups(&self, names: &[String]) -> CloudResult<Vec<TargetGroup>> {
        // The rollout knows its groups by ARN (the service's loadBalancers), init by name, and
        // a spec's `targetGroup` may be either. One request takes names or ARNs, not both.
        let (arns, plain): (Vec<String>, Vec<String>) =
            names.iter().cloned().partition(|n| n.starts_with("arn:"));
        let mut groups = Vec::new();
        if !arns.is_empty() {
            groups.extend(self.target_groups(Some(arns), None).await?);
        }
        if !plain.is_empty() {
            groups.extend(self.target_groups(None, Some(plain)).await?);
        }
        Ok(groups)
    }

    async fn describe_target_health(
        &self,
        target_group_arn: &str,
    ) -> CloudResult<Vec<TargetHealth>> {
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .send()
            .await
            .map_err(|e| {
                map(
                    "DescribeTargetHealth",
                    Subject {
                        kind: ResourceKind::TargetGroup,
                        name: target_group_arn,
                    },
                    e,
                )
            })?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let health = d.target_health();
                TargetHealth {
                    target_id: d
                        .target()
                        .and_then(|t| t.id())
                        .unwrap_or_default()
                        .to_string(),
                    port: d.target().and_then(|t| t.port()).unwrap_or_default() as u16,
                    state: match health.and_then(|h| h.state()) {
                        Some(S::Healthy) => TargetState::Healthy,
                        Some(S::Unhealthy) | Some(S::UnhealthyDraining) => TargetState::Unhealthy,
                        Some(S::Draining) => TargetState::Draining,
                        Some(S::Unused) => TargetState::Unused,
                        Some(S::Unavailable) => TargetState::Unavailable,
                        _ => TargetState::Initial,
                    },
                    reason: health
                        .and_then(|h| h.reason())
                        .map(|r| r.as_str().to_string()),
                    description: health.and_then(|h| h.description()).map(String::from),
                }
            })
            .collect())
    }

    async fn deregistration_delay(&self, target_group_arn: &str) -> CloudResult<u32> {
        let out = self
            .client
            .describe_target_group_attributes()
            .target_group_arn(target_group_arn)
            .send()
            .await
            .map_err(|e| {
                map(
                    "DescribeTargetGroupAttributes",
                    Subject {
                        kind: ResourceKind::TargetGroup,
                        name: target_group_arn,
                    },
                    e,
                )
            })?;
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value())
            .and_then(|v| v.parse().ok())
            // ELB's default when the attribute is absent (e.g. a Lambda target group).
            .unwrap_or(300))
    }
}
