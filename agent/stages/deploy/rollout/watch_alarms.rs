//! The alarms a rollout's gate watches, found before UpdateService: the spec's `deploy.alarms`
//! and ECS's own deployment alarms (when enabled on the live service). Each must exist.

use super::start::Current;
use super::*;

impl Rollout<'_> {
    /// The alarms the gate watches: the spec's `deploy.alarms` and ECS's own deployment alarms
    /// when enabled on the service. One that does not exist ends the deploy (a misspelt name
    /// would silently watch nothing).
    pub(super) async fn watched_alarms(
        &self,
        target: &Target,
        current: &Current,
        new_td: &str,
    ) -> Result<Vec<String>, Box<DeployResult>> {
        let mut names = target.spec.deploy.alarms.clone();
        if let Some(ecs) = current
            .service
            .deployment_configuration
            .alarms
            .as_ref()
            .filter(|a| a.enable)
        {
            names.extend(
                ecs.alarm_names
                    .iter()
                    .filter(|n| !names.contains(n))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
        if names.is_empty() {
            return Ok(names);
        }
        let mut found = Vec::new();
        for chunk in names.chunks(crate::cloud::DESCRIBE_ALARMS_BATCH) {
            match self
                .call("DescribeAlarms", || {
                    self.cloud.alarms.describe_alarms(chunk)
                })
                .await
            {
                Ok(states) => found.extend(states.into_iter().map(|s| s.name)),
                Err(e) => {
                    return Err(self
                        .not_updated(target, current, new_td, FailureKind::Refused, e.to_string())
                        .await);
                }
            }
        }
        let missing: Vec<&String> = names.iter().filter(|n| !found.contains(n)).collect();
        if missing.is_empty() {
            return Ok(names);
        }
        let list = missing
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let reason = format!(
            "CloudWatch alarm(s) {list} do not exist in this account and region; fix `deploy.alarms` (or the service's deployment alarms) — the service was not updated"
        );
        Err(self
            .not_updated(target, current, new_td, FailureKind::Config, reason)
            .await)
    }

    /// End a deploy before UpdateService: the service runs what it ran.
    async fn not_updated(
        &self,
        target: &Target,
        current: &Current,
        new_td: &str,
        kind: FailureKind,
        reason: String,
    ) -> Box<DeployResult> {
        let mut result = DeployResult::failed(target, kind, reason);
        result.task_definition = Some(current.td.arn.clone());
        result.previous_task_definition = Some(current.td.arn.clone());
        result.new_task_definition = Some(new_td.to_string());
        self.finish_failed(target, &result).await;
        Box::new(result)
    }
}
