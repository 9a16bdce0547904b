//! Prometheus metrics for `/metrics`: deployments by environment/service/outcome, deploy
//! duration, last applied commit, webhook rejections, AWS API errors by operation.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeployLabels {
    pub env: String,
    pub service: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvLabels {
    pub env: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommitLabels {
    pub env: String,
    pub commit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    pub env: String,
    pub service: String,
    pub field: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: String,
}

pub struct Metrics {
    registry: Registry,
    pub deployments: Family<DeployLabels, Counter>,
    pub deploy_seconds: Family<EnvLabels, Histogram>,
    pub last_applied: Family<CommitLabels, Gauge>,
    pub webhook_rejections: Family<ReasonLabels, Counter>,
    pub webhook_deliveries: Counter,
    pub aws_errors: Family<OperationLabels, Counter>,
    pub drift: Family<DriftLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("amagent");
        let deployments = Family::<DeployLabels, Counter>::default();
        registry.register(
            "deployments",
            "Deployments by environment, service and outcome",
            deployments.clone(),
        );
        let deploy_seconds = Family::<EnvLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(15.0, 2.0, 8))
        });
        registry.register(
            "deploy_duration_seconds",
            "Time from UpdateService to the verdict",
            deploy_seconds.clone(),
        );
        let last_applied = Family::<CommitLabels, Gauge>::default();
        registry.register(
            "last_applied_commit",
            "1 for the environments-repo commit last applied to an environment",
            last_applied.clone(),
        );
        let webhook_rejections = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "webhook_rejections",
            "Webhook deliveries rejected or ignored, by reason",
            webhook_rejections.clone(),
        );
        let webhook_deliveries = Counter::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries accepted",
            webhook_deliveries.clone(),
        );
        let aws_errors = Family::<OperationLabels, Counter>::default();
        registry.register(
            "aws_api_errors",
            "AWS API errors by operation",
            aws_errors.clone(),
        );
        let drift = Family::<DriftLabels, Gauge>::default();
        registry.register(
            "drift",
            "1 for each field where what runs differs from what Git says",
            drift.clone(),
        );
        Metrics {
            registry,
            drift,
            deployments,
            deploy_seconds,
            last_applied,
            webhook_rejections,
            webhook_deliveries,
            aws_errors,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        // Bring the AWS error counters up to the cloud layer's tally.
        for (operation, total) in crate::cloud::retry::error_counts() {
            let counter = self
                .aws_errors
                .get_or_create(&OperationLabels { operation });
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }

    /// The fields of (env, service) drifting now, replacing those said before.
    pub fn drift(&self, env: &str, service: &str, before: &[String], now: &[String]) {
        let labels = |field: &String| DriftLabels {
            env: env.to_string(),
            service: service.to_string(),
            field: field.clone(),
        };
        for field in before {
            self.drift.remove(&labels(field));
        }
        for field in now {
            self.drift.get_or_create(&labels(field)).set(1);
        }
    }

    pub fn rejected(&self, reason: &str) {
        self.webhook_rejections
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc();
    }

    /// Record an environment's newest applied commit (the previous one's gauge drops to 0).
    pub fn applied(&self, env: &str, commit: &str, previous: Option<&str>) {
        if let Some(p) = previous {
            self.last_applied
                .get_or_create(&CommitLabels {
                    env: env.into(),
                    commit: p.into(),
                })
                .set(0);
        }
        self.last_applied
            .get_or_create(&CommitLabels {
                env: env.into(),
                commit: commit.into(),
            })
            .set(1);
    }

    /// Count a deploy's outcome (and its duration, when it rolled).
    pub fn deployed(&self, env: &str, result: &crate::stages::deploy::DeployResult) {
        let outcome = match (result.outcome, result.rolled_back) {
            (crate::stages::deploy::Outcome::Succeeded, _) => "succeeded",
            (crate::stages::deploy::Outcome::Failed, true) => "rolled_back",
            (crate::stages::deploy::Outcome::Failed, false) => "failed",
        };
        self.deployments
            .get_or_create(&DeployLabels {
                env: env.into(),
                service: result.service.clone(),
                outcome: outcome.into(),
            })
            .inc();
        if result.seconds > 0.0 {
            self.deploy_seconds
                .get_or_create(&EnvLabels { env: env.into() })
                .observe(result.seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::CloudError;
    use crate::cloud::retry::RetryPolicy;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn aws_errors_by_operation_come_from_the_cloud_layers_tally() {
        let metrics = Metrics::default();
        let policy = RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        };
        let throttled = || async {
            Err::<(), _>(CloudError::Throttled {
                operation: "DescribeServicesMetricsTest".into(),
            })
        };
        let _ = policy.run("DescribeServicesMetricsTest", throttled).await;
        let text = metrics.encode();
        assert!(
            text.contains(
                "amagent_aws_api_errors_total{operation=\"DescribeServicesMetricsTest\"} 3"
            ),
            "{text}"
        );
        // Scraping again does not count twice.
        assert!(
            metrics
                .encode()
                .contains("DescribeServicesMetricsTest\"} 3")
        );
    }
}
