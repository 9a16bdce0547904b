//! ECR: repositories of images (by digest, with tags), lifecycle policy text, and the
//! registry login. Each account has its own registry (host and login); a view of one account
//! (`Simulator::cloud_in`) sees only that account's repositories.

use super::Simulator;
use super::world::{Owned, World};
use crate::cloud::ports::{BATCH_DELETE_IMAGES, CloudResult, Registry};
use crate::cloud::types::*;
use crate::cloud::{CloudError, ResourceKind};
use crate::secret::Secret;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

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
             docker-registry; {REGISTRY_ENV}_<account id> for one account's own) to build, push or \
             promote images under --sim"
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

/// The registry port of the simulator: of one account's registry, or (None) of the
/// simulator's own account, seeing every repository.
pub struct SimEcr(pub(super) Simulator, pub(super) Option<String>);

impl SimEcr {
    /// The repository as this view's registry has it: another account's is not found here.
    fn repository<'w>(
        &self,
        w: &'w mut World,
        name: &str,
    ) -> CloudResult<&'w mut super::world::SimRepository> {
        let theirs = self
            .1
            .as_deref()
            .is_some_and(|a| w.account_of(Owned::Repository, name) != a);
        match w.repositories.get_mut(name) {
            Some(repo) if !theirs => Ok(repo),
            _ => Err(CloudError::not_found(ResourceKind::Repository, name)),
        }
    }

    fn account<'w>(&'w self, w: &'w World) -> &'w str {
        self.1.as_deref().unwrap_or(&w.account)
    }
}

/// The real registry `account`'s login hands out: its own (set, or
/// `AMAGENT_SIM_REGISTRY_<account>`), else the simulator's one.
fn registry_url(w: &World, account: &str) -> Option<String> {
    let set = |v: Option<String>| v.filter(|u| !u.trim().is_empty());
    set(w.registry_overrides.get(account).cloned())
        .or_else(|| set(std::env::var(format!("{REGISTRY_ENV}_{account}")).ok()))
        .or_else(|| set(w.registry_override.clone()))
        .or_else(|| set(std::env::var(REGISTRY_ENV).ok()))
}

#[async_trait]
impl Registry for SimEcr {
    async fn describe_images(&self, repository: &str) -> CloudResult<Vec<ImageDetail>> {
        self.0.call(
            "DescribeImages",
            |w| w.repository_arn(repository),
            |w| Ok(self.repository(w, repository)?.images.clone()),
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
                let repo = self.repository(w, repository)?;
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
            |w| Ok(self.repository(w, repository)?.lifecycle_policy.clone()),
        )
    }

    async fn put_lifecycle_policy(&self, repository: &str, policy_json: &str) -> CloudResult<()> {
        self.0.call(
            "PutLifecyclePolicy",
            |w| w.repository_arn(repository),
            |w| {
                let repo = self.repository(w, repository)?;
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
                let account = self.account(w);
                let url = registry_url(w, account);
                registry_auth(url.as_deref(), &w.registry_host_of(account), expires_at)
                    .map_err(|m| CloudError::invalid("GetAuthorizationToken", m))
            },
        )
    }

    fn registry_host(&self) -> String {
        let w = self.0.lock();
        w.registry_host_of(self.account(&w))
    }
}

impl World {
    /// An image pushed to `repository` (created if missing). Tags move to it from other
    /// images, as in ECR; pushing a known digest adds tags.
    pub(super) fn put_image(
        &mut self,
        repository: &str,
        digest: &str,
        tags: &[&str],
        pushed_at: DateTime<Utc>,
    ) {
        let repo = self.repositories.entry(repository.into()).or_default();
        for image in &mut repo.images {
            image.tags.retain(|t| !tags.contains(&t.as_str()));
        }
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        match repo.images.iter_mut().find(|i| i.digest == digest) {
            Some(image) => image.tags.extend(tags),
            None => {
                let hash = Sha256::digest(digest.as_bytes());
                let size = 20_000_000
                    + u64::from(u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]))
                        % 50_000_000;
                repo.images.push(ImageDetail {
                    digest: digest.into(),
                    tags,
                    pushed_at,
                    size_bytes: size,
                });
            }
        }
    }
}
