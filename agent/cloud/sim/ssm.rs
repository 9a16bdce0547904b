//! SSM Parameter Store (names only, and the values of the agent's own notification secrets
//! that a test puts) and Secrets Manager's DescribeSecret (`secrets.rs`). Services' secret
//! values never exist in the simulator, so nothing can leak.

use super::Simulator;
use crate::cloud::CloudError;
use crate::cloud::ports::{CloudResult, GET_PARAMETERS_BATCH, Parameters};
use crate::cloud::types::SecretDescription;
use async_trait::async_trait;

/// The parameters port of the simulator.
pub struct SimSsm(pub(super) Simulator);

#[async_trait]
impl Parameters for SimSsm {
    async fn missing(&self, names: &[String]) -> CloudResult<Vec<String>> {
        self.0.call(
            "GetParameters",
            |w| {
                names
                    .first()
                    .map(|n| w.parameter_arn(n))
                    .unwrap_or_default()
            },
            |w| {
                if names.len() > GET_PARAMETERS_BATCH {
                    return Err(CloudError::invalid(
                        "GetParameters",
                        format!(
                            "at most {GET_PARAMETERS_BATCH} names per call, got {}",
                            names.len()
                        ),
                    ));
                }
                Ok(names
                    .iter()
                    .filter(|n| !w.parameters.contains(n.as_str()))
                    .cloned()
                    .collect())
            },
        )
    }

    async fn describe_secret(&self, secret_id: &str) -> CloudResult<Option<SecretDescription>> {
        self.0.call(
            "DescribeSecret",
            |_| secret_id.to_string(),
            |w| Ok(super::secrets::describe(w, secret_id)),
        )
    }

    async fn secure_value(&self, name: &str) -> CloudResult<crate::secret::Secret> {
        self.0.call(
            "GetParameter",
            |w| w.parameter_arn(name),
            |w| {
                w.secure_values
                    .get(name)
                    .map(|v| crate::secret::Secret::new(v.clone()))
                    .ok_or_else(|| {
                        CloudError::not_found(crate::cloud::ResourceKind::Parameter, name)
                    })
            },
        )
    }

    fn arn(&self, name: &str) -> String {
        self.0.lock().parameter_arn(name)
    }
}
