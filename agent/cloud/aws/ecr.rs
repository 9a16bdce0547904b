//! ECR through aws-sdk-ecr.

use super::error::{Subject, map};
use super::taskdef::time;
use crate::cloud::types::{BatchDeleteResult, ImageDetail, RegistryAuth};
use crate::cloud::{BATCH_DELETE_IMAGES, CloudError, CloudResult, Registry, ResourceKind};
use crate::secret::Secret;
use async_trait::async_trait;
use aws_sdk_ecr::types::ImageIdentifier;

pub struct AwsEcr {
    pub(super) client: aws_sdk_ecr::Client,
    pub(super) account: String,
    pub(super) region: String,
    /// The last token, reused until shortly before it expires (tokens live 12 hours).
    pub(super) token: std::sync::Mutex<Option<RegistryAuth>>,
}

/// A cached token is renewed this long before it expires.
const TOKEN_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

fn repo(name: &str) -> Subject<'_> {
    Subject {
        kind: ResourceKind::Repository,
        name,
    }
}

#[async_trait]
impl Registry for AwsEcr {
    async fn describe_images(&self, repository: &str) -> CloudResult<Vec<ImageDetail>> {
        let mut pages = self
            .client
            .describe_images()
            .repository_name(repository)
            .into_paginator()
            .send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map("DescribeImages", repo(repository), e))?;
            all.extend(page.image_details().iter().map(|i| ImageDetail {
                digest: i.image_digest().unwrap_or_default().to_string(),
                tags: i.image_tags().to_vec(),
                pushed_at: time(i.image_pushed_at()).unwrap_or(chrono::DateTime::UNIX_EPOCH),
                size_bytes: i.image_size_in_bytes().unwrap_or_default().max(0) as u64,
            }));
        }
        Ok(all)
    }

    async fn batch_delete_image(
        &self,
        repository: &str,
        digests: &[String],
    ) -> CloudResult<BatchDeleteResult> {
        if digests.len() > BATCH_DELETE_IMAGES {
            return Err(CloudError::invalid(
                "BatchDeleteImage",
                "at most 100 images per call",
            ));
        }
        let ids = digests
            .iter()
            .map(|d| ImageIdentifier::builder().image_digest(d).build())
            .collect();
        let out = self
            .client
            .batch_delete_image()
            .repository_name(repository)
            .set_image_ids(Some(ids))
            .send()
            .await
            .map_err(|e| map("BatchDeleteImage", repo(repository), e))?;
        Ok(BatchDeleteResult {
            deleted: out
                .image_ids()
                .iter()
                .filter_map(|i| i.image_digest().map(String::from))
                .collect(),
            failures: out
                .failures()
                .iter()
                .map(|f| {
                    (
                        f.image_id()
                            .and_then(|i| i.image_digest())
                            .unwrap_or_default()
                            .to_string(),
                        f.failure_reason().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
        })
    }

    async fn get_lifecycle_policy(&self, repository: &str) -> CloudResult<Option<String>> {
        match self
            .client
            .get_lifecycle_policy()
            .repository_name(repository)
            .send()
            .await
        {
            Ok(out) => Ok(out.lifecycle_policy_text().map(String::from)),
            Err(e) => match map("GetLifecyclePolicy", repo(repository), e) {
                // "LifecyclePolicyNotFoundException": the repository has none.
                CloudError::NotFound { .. } => {
                    // Tell a missing repository from a missing policy.
                    self.describe_images(repository).await?;
                    Ok(None)
                }
                other => Err(other),
            },
        }
    }

    async fn put_lifecycle_policy(&self, repository: &str, policy_json: &str) -> CloudResult<()> {
        self.client
            .put_lifecycle_policy()
            .repository_name(repository)
            .lifecycle_policy_text(policy_json)
            .send()
            .await
            .map_err(|e| map("PutLifecyclePolicy", repo(repository), e))?;
        Ok(())
    }

    async fn get_authorization_token(&self) -> CloudResult<RegistryAuth> {
        if let Some(cached) = self
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && cached.expires_at - TOKEN_MARGIN > chrono::Utc::now()
        {
            return Ok(cached.clone());
        }
        let out = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| map("GetAuthorizationToken", repo(&self.registry_host()), e))?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| CloudError::invalid("GetAuthorizationToken", "no authorization data"))?;
        let decoded =
            aws_smithy_types::base64::decode(data.authorization_token().unwrap_or_default())
                .map_err(|_| {
                    CloudError::invalid("GetAuthorizationToken", "the token is not base64")
                })?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| CloudError::invalid("GetAuthorizationToken", "the token is not text"))?;
        let (username, password) = decoded.split_once(':').ok_or_else(|| {
            CloudError::invalid("GetAuthorizationToken", "the token is not user:password")
        })?;
        let auth = RegistryAuth {
            endpoint: data
                .proxy_endpoint()
                .map(String::from)
                .unwrap_or_else(|| format!("https://{}", self.registry_host())),
            username: username.to_string(),
            password: Secret::new(password),
            expires_at: time(data.expires_at())
                .unwrap_or_else(|| chrono::Utc::now() + chrono::Duration::hours(12)),
        };
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(auth.clone());
        Ok(auth)
    }

    fn registry_host(&self) -> String {
        format!("{}.dkr.ecr.{}.amazonaws.com", self.account, self.region)
    }
}
