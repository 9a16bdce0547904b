//! Which registry grants each AWS account needs for a configuration: the identity serving an
//! account's environments (the agent's own, or the environment's `aws.roleArn`) pushes to
//! their repositories and, for a promotion from another registry (another account or region),
//! the *source* side's identity reads the source repository with its own ECR token. So a
//! target account is never granted anything on another account's repositories, and no
//! repository policy is needed for a promotion across accounts.

use crate::cloud::operations::{REGISTRY_OPERATIONS, RegistryScope, registry_iam_actions};
use crate::config::{Environment, Model};
use std::collections::{BTreeMap, BTreeSet};

/// Account → resource (a repository ARN, or `*`) → IAM actions.
pub type Grants = BTreeMap<String, BTreeMap<String, BTreeSet<&'static str>>>;

const LOGIN: &str = "ecr:GetAuthorizationToken";

fn repository_arn(env: &Environment, repository: &str) -> String {
    format!(
        "arn:aws:ecr:{}:{}:repository/{repository}",
        env.aws.region, env.aws.account_id
    )
}

/// The actions reading an image by digest needs on the repository read from: the copy's
/// manifest and blob reads (and a mount's `from`).
pub fn source_read_actions() -> BTreeSet<&'static str> {
    REGISTRY_OPERATIONS
        .iter()
        .filter(|(_, _, scope, _)| *scope == RegistryScope::Source)
        .flat_map(|(_, _, _, actions)| actions.iter().copied())
        .collect()
}

/// Every account's registry grants for `model`.
pub fn registry_grants(model: &Model) -> Grants {
    let mut grants = Grants::new();
    for env in model.environments.values() {
        let account = grants.entry(env.aws.account_id.clone()).or_default();
        account.entry("*".into()).or_default().insert(LOGIN);
        for service in &env.services {
            // Its own repositories: pushed to, retagged, read back, mounted from.
            account
                .entry(repository_arn(env, &service.image.repository))
                .or_default()
                .extend(registry_iam_actions());
        }
        let Some(source) = env
            .promotion
            .as_ref()
            .and_then(|p| model.environments.get(&p.from))
        else {
            continue;
        };
        let same_registry =
            source.aws.account_id == env.aws.account_id && source.aws.region == env.aws.region;
        // Same registry: this side mounts from the source repository; another registry: the
        // source side reads it with its own token.
        let reader = match same_registry {
            true => &env.aws.account_id,
            false => &source.aws.account_id,
        };
        let reads = grants.entry(reader.clone()).or_default();
        reads.entry("*".into()).or_default().insert(LOGIN);
        for service in &env.services {
            let Some(theirs) = source.service(&service.name) else {
                continue;
            };
            reads
                .entry(repository_arn(source, &theirs.image.repository))
                .or_default()
                .extend(source_read_actions());
        }
    }
    grants
}
