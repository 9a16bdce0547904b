//! For a promotion from another registry (another account or region): can the agent read the
//! source? The copy logs in to the source registry with the *source* environment's own access
//! (its `aws.roleArn`, else the agent's own credentials), so that is what is checked: its ECR
//! login, and each source repository the promotion reads.

use super::{Check, SpecLocator, bad, ok};
use crate::cloud::{Cloud, CloudError};
use crate::config::Environment;
use crate::config::position::FieldPath;

/// The source environment's registry, when a promotion reads it across registries.
pub fn source_in_another_registry<'m>(
    env: &Environment,
    model: &'m crate::config::Model,
) -> Option<&'m Environment> {
    let source = model.environments.get(&env.promotion.as_ref()?.from)?;
    let same = source.aws.account_id == env.aws.account_id && source.aws.region == env.aws.region;
    (!same).then_some(source)
}

/// The source side's registry login and repositories, through `source_cloud` (the source
/// environment's own access).
pub async fn checks(
    source_cloud: &Cloud,
    env: &Environment,
    source: &Environment,
    spec: &SpecLocator,
) -> Vec<Check> {
    let from = spec.at(&FieldPath::root().key("promotion").key("from"));
    let host = source_cloud.ecr.registry_host();
    let access = match &source.aws.role_arn {
        Some(role) => format!("through {}'s role {role}", source.name),
        None => "with the agent's own credentials".into(),
    };
    let fix = |what: &str| {
        format!(
            "grant {what} to the identity serving `{}` in account {} ({}; docs/operations.md, \
             Across accounts), or give `{}` an `aws.roleArn` that has it; promoted from at {from}",
            source.name, source.aws.account_id, access, source.name
        )
    };
    let mut checks = vec![match source_cloud.ecr.get_authorization_token().await {
        Ok(_) => ok(
            "promotion source login",
            &host,
            format!("`{}`'s registry, {access}", source.name),
        ),
        Err(e) => bad(
            "promotion source login",
            &host,
            e.to_string(),
            fix("ecr:GetAuthorizationToken"),
        ),
    }];
    for service in &env.services {
        let Some(theirs) = source.service(&service.name) else {
            continue;
        };
        let repository = &theirs.image.repository;
        let subject = format!("{host}/{repository}");
        checks.push(match source_cloud.ecr.describe_images(repository).await {
            Ok(images) => ok(
                "promotion source repository",
                &subject,
                format!("{} image(s) readable {access}", images.len()),
            ),
            Err(e @ CloudError::NotFound { .. }) => bad(
                "promotion source repository",
                &subject,
                e.to_string(),
                format!(
                    "create it in account {}, or correct `{}`'s image.repository",
                    source.aws.account_id, source.name
                ),
            ),
            Err(e) => bad(
                "promotion source repository",
                &subject,
                e.to_string(),
                fix("ecr:DescribeImages, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on it"),
            ),
        });
    }
    checks
}
