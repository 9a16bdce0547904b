//! SSM Parameter Store through aws-sdk-ssm: existence checks only. GetParameters is called
//! without decryption and the values in its answer are dropped unread.

use super::error::{Subject, map};
use crate::cloud::{CloudError, CloudResult, GET_PARAMETERS_BATCH, Parameters, ResourceKind};
use async_trait::async_trait;

pub struct AwsSsm {
    pub(super) client: aws_sdk_ssm::Client,
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

    fn arn(&self, name: &str) -> String {
        let name = name.strip_prefix('/').unwrap_or(name);
        format!(
            "arn:aws:ssm:{}:{}:parameter/{name}",
            self.region, self.account
        )
    }
}
