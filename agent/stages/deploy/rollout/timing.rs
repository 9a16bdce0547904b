//! What the service's target groups say about when a rollout can change: their health check
//! interval and thresholds (DescribeTargetGroups) and deregistration delay
//! (DescribeTargetGroupAttributes), read once per rollout so the gate can poll around those
//! moments instead of every two seconds.

use super::*;
use crate::cloud::types::TargetGroup;
use crate::stages::deploy::gate::PollTiming;

impl Rollout<'_> {
    /// The timing of `arns` (None without target groups, or when they cannot be read: the gate
    /// then looks every two seconds, as it always could — a slower decision never a wrong one).
    pub(super) async fn poll_timing(&self, target: &Target, arns: &[String]) -> Option<PollTiming> {
        if arns.is_empty() {
            return None;
        }
        let read = async {
            let groups = self
                .call("DescribeTargetGroups", || {
                    self.cloud.elb.describe_target_groups(arns)
                })
                .await?;
            let mut delays = Vec::new();
            for arn in arns {
                delays.push(
                    self.call("DescribeTargetGroupAttributes", || {
                        self.cloud.elb.deregistration_delay(arn)
                    })
                    .await?,
                );
            }
            Ok::<_, CloudError>(timing_of(&groups, &delays))
        };
        match read.await {
            Ok(timing) => timing,
            Err(e) => {
                tracing::warn!(
                    env = %target.env,
                    service = %target.spec.name,
                    error = %e,
                    "cannot read the target groups' timing; the rollout is watched every 2 s"
                );
                None
            }
        }
    }
}

/// The longest of each: a task is healthy only when every group says so, and the old tasks
/// are gone only when every group has drained them.
pub(super) fn timing_of(groups: &[TargetGroup], delays: &[u32]) -> Option<PollTiming> {
    let secs = |s: u32| Duration::from_secs(s.into());
    let interval = groups
        .iter()
        .map(|g| g.health_check_interval_seconds)
        .max()?;
    let unhealthy = groups
        .iter()
        .map(|g| g.health_check_interval_seconds * g.unhealthy_threshold_count.max(1))
        .max()?;
    Some(PollTiming {
        first_check: secs(interval),
        unhealthy_after: secs(unhealthy),
        drain: secs(delays.iter().copied().max().unwrap_or(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(interval: u32, unhealthy: u32) -> TargetGroup {
        TargetGroup {
            arn: "arn".into(),
            name: "tg".into(),
            port: 8080,
            health_check_path: "/healthz".into(),
            health_check_interval_seconds: interval,
            healthy_threshold_count: 5,
            unhealthy_threshold_count: unhealthy,
        }
    }

    #[test]
    fn the_slowest_group_sets_each_moment() {
        let t = timing_of(&[group(30, 2), group(10, 5)], &[300, 30]).unwrap();
        assert_eq!(t.first_check, Duration::from_secs(30));
        assert_eq!(t.unhealthy_after, Duration::from_secs(60));
        assert_eq!(t.drain, Duration::from_secs(300));
        assert_eq!(timing_of(&[], &[]), None);
    }
}
