//! Secret references through aws-sdk-ssm and aws-sdk-secretsmanager: existence checks only,
//! except the agent's own notification secrets (GetParameter with decryption, `secure_value`).
//! GetParameters is called without decryption and the values in its answer are dropped unread;
//! Secrets Manager is asked DescribeSecret only, which has no value in its answer.

use super::error::{Subject, map};
use crate::cloud::types::SecretDescription;
use crate::cloud::{CloudError, CloudResult, GET_PARAMETERS_BATCH, Parameters, ResourceKind};
use async_trait::async_trait;

pub struct AwsSsm {
    pub(super) client: aws_sdk_ssm::Client,
    pub(super) secrets: aws_sdk_secretsmanager::Client,
    pub(super) account: String,
    pub(super) region: String,
}

#[async_trait]
impl Parameters for AwsSsm {
    async fn missing(&self, names: &[String]) -> CloudResult<Vec<String>> {
        if names.len() > GET_PARAMETERS_BATCH {
            return Err(CloudError::invalid(
                "GetParameters",
                "at most 10 names per call",
            ));
        }
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .get_parameters()
            .set_names(Some(names.to_vec()))
            .with_decryption(false)
            .send()
            .await
            .map_err(|e| {
                map(
                    "GetParameters",
                    Subject {
                        kind: ResourceKind::Parameter,
                        name: &names.join(", "),
                    },
                    e,
                )
            })?;
        Ok(out.invalid_parameters().to_vec())
    }

    async fn describe_secret(&self, secret_id: &str) -> CloudResult<Option<SecretDescription>> {
        let answer = self
            .secrets
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| {
                map(
                    "DescribeSecret",
                    Subject {
                        kind: ResourceKind::Secret,
                        name: secret_id,
                    },
                    e,
                )
            });
        let out = match answer {
            Ok(out) => out,
            Err(CloudError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        // A secret scheduled for deletion cannot be read by ECS either.
        if out.deleted_date().is_some() {
            return Ok(None);
        }
        let versions = out
            .version_ids_to_stages()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(Some(SecretDescription {
            arn: out.arn().unwrap_or(secret_id).to_string(),
            versions,
        }))
    }

    async fn secure_value(&self, name: &str) -> CloudResult<crate::secret::Secret> {
        let out = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                map(
                    "GetParameter",
                    Subject {
                        kind: ResourceKind::Parameter,
                        name,
                    },
                    e,
                )
            })?;
        let value = out.parameter.and_then(|p| p.value).unwrap_or_default();
        Ok(crate::secret::Secret::new(value))
    }

    fn arn(&self, name: &str) -> String {
        let name = name.strip_prefix('/').unwrap_or(name);
        format!(
            "arn:aws:ssm:{}:{}:parameter/{name}",
            self.region, self.account
        )
    }
}
