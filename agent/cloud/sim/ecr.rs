//! ECR: repositories of images (by digest, with tags), lifecycle policy text, and the
//! registry login.

use super::Simulator;
use crate::cloud::ports::{BATCH_DELETE_IMAGES, CloudResult, Registry};
use crate::cloud::types::*;
use crate::cloud::{CloudError, ResourceKind};
use crate::secret::Secret;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Environment variable pointing the simulator's registry login at a real (local) registry:
/// `http://user:password@127.0.0.1:PORT`.
pub const REGISTRY_ENV: &str = "AMAGENT_SIM_REGISTRY";

/// GetAuthorizationToken for `registry_host`, or for the registry `override_url` names.
pub fn registry_auth(
    override_url: Option<&str>,
    registry_host: &str,
    expires_at: DateTime<Utc>,
) -> Result<RegistryAuth, String> {
    let Some(url) = override_url.filter(|u| !u.trim().is_empty()) else {
        // Handing out the real ECR host would send a simulated push to AWS.
        return Err(format!(
            "the simulated ECR has no registry to hand out for {registry_host}: set \
             {REGISTRY_ENV}=http://user:password@127.0.0.1:PORT (a local registry, e.g. Debian's \
             docker-registry) to build, push or promote images under --sim"
        ));
    };
    let bad = || format!("{REGISTRY_ENV} must look like http://user:password@127.0.0.1:PORT");
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let (userinfo, host) = rest.rsplit_once('@').ok_or_else(bad)?;
    let (user, password) = userinfo.split_once(':').ok_or_else(bad)?;
    let host = host.trim_end_matches('/');
    if user.is_empty() || host.is_empty() || !matches!(scheme, "http" | "https") {
        return Err(bad());
    }
    Ok(RegistryAuth {
        endpoint: format!("{scheme}://{host}"),
        username: user.into(),
        password: Secret::new(password),
        expires_at,
    })
}

/// The registry port of the simulator.
pub struct SimEcr(pub(super) Simulator);

#[async_trait]
impl Registry for SimEcr {
    async fn describe_images(&self, repository: &str) -> CloudResult<Vec<ImageDetail>> {
        self.0.call(
            "DescribeImages",
            |w| w.repository_arn(repository),
            |w| {
                w.repositories
                    .get(repository)
                    .map(|r| r.images.clone())
                    .ok_or_else(|| CloudError::not_found(ResourceKind::Repository, repository))
            },
        )
    }

    async fn batch_delete_image(
        &self,
        repository: &str,
        digests: &[String],
    ) -> CloudResult<BatchDeleteResult> {
        self.0.call(
            "BatchDeleteImage",
            |w| w.repository_arn(repository),
            |w| {
                if digests.len() > BATCH_DELETE_IMAGES {
                    return Err(CloudError::invalid(
                        "BatchDeleteImage",
                        format!(
                            "at most {BATCH_DELETE_IMAGES} image ids per call, got {}",
                            digests.len()
                        ),
                    ));
                }
                let repo = w
                    .repositories
                    .get_mut(repository)
                    .ok_or_else(|| CloudError::not_found(ResourceKind::Repository, repository))?;
                let mut result = BatchDeleteResult::default();
                for digest in digests {
                    match repo.images.iter().position(|i| i.digest == *digest) {
                        Some(at) => {
                            repo.images.remove(at);
                            result.deleted.push(digest.clone());
                        }
                        None => result
                            .failures
                            .push((digest.clone(), "ImageNotFound".into())),
                    }
                }
                Ok(result)
            },
        )
    }

    async fn get_lifecycle_policy(&self, repository: &str) -> CloudResult<Option<String>> {
        self.0.call(
            "GetLifecyclePolicy",
            |w| w.repository_arn(repository),
            |w| {
                w.repositories
                    .get(repository)
                    .map(|r| r.lifecycle_policy.clone())
                    .ok_or_else(|| CloudError::not_found(ResourceKind::Repository, repository))
            },
        )
    }

    async fn put_lifecycle_policy(&self, repository: &str, policy_json: &str) -> CloudResult<()> {
        self.0.call(
            "PutLifecyclePolicy",
            |w| w.repository_arn(repository),
            |w| {
                let repo = w
                    .repositories
                    .get_mut(repository)
                    .ok_or_else(|| CloudError::not_found(ResourceKind::Repository, repository))?;
                let parsed: serde_json::Value = serde_json::from_str(policy_json).map_err(|e| {
                    CloudError::invalid(
                        "PutLifecyclePolicy",
                        format!("InvalidParameterException: the policy is not JSON: {e}"),
                    )
                })?;
                if !parsed.get("rules").is_some_and(|r| r.is_array()) {
                    return Err(CloudError::invalid(
                        "PutLifecyclePolicy",
                        "InvalidParameterException: the policy needs a `rules` array",
                    ));
                }
                repo.lifecycle_policy = Some(policy_json.to_string());
                Ok(())
            },
        )
    }

    async fn get_authorization_token(&self) -> CloudResult<RegistryAuth> {
        self.0.call(
            "GetAuthorizationToken",
            |_| "*".into(),
            |w| {
                let expires_at = w.now() + chrono::Duration::hours(12);
                let url = w
                    .registry_override
                    .clone()
                    .or_else(|| std::env::var(REGISTRY_ENV).ok());
                registry_auth(url.as_deref(), &w.registry_host(), expires_at)
                    .map_err(|m| CloudError::invalid("GetAuthorizationToken", m))
            },
        )
    }

    fn registry_host(&self) -> String {
        self.0.lock().registry_host()
    }
}
