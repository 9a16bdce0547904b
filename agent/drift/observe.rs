//! Reads what runs for each service of an environment (ECS service, its task definition, the
//! registry's digest for the spec's ref, target group names) and compares it with the spec.

use super::{FieldDiff, Live, Wanted, compare};
use crate::cloud::retry::RetryPolicy;
use crate::cloud::{Cloud, CloudError, DESCRIBE_SERVICES_BATCH};
use crate::config::{Environment, Service};
use serde::Serialize;
use std::collections::BTreeMap;

/// One service: the fields that differ, or why it could not be compared.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceDrift {
    pub service: String,
    pub diffs: Vec<FieldDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Compares every service in `services` with what runs. Err only when ECS cannot be asked at
/// all; a service that cannot be read carries its own error.
pub async fn observe(
    cloud: &Cloud,
    retry: RetryPolicy,
    env: &Environment,
    services: &[&Service],
) -> Result<Vec<ServiceDrift>, CloudError> {
    let names: Vec<String> = services.iter().map(|s| s.ecs.service.clone()).collect();
    let mut running = BTreeMap::new();
    for chunk in names.chunks(DESCRIBE_SERVICES_BATCH) {
        let described = retry
            .run("DescribeServices", || {
                cloud.ecs.describe_services(&env.ecs.cluster, chunk)
            })
            .await?;
        running.extend(described.into_iter().map(|s| (s.service_name.clone(), s)));
    }
    let mut out = Vec::new();
    for spec in services {
        let drift = match running.remove(&spec.ecs.service) {
            None => Ok(vec![FieldDiff {
                field: "service".into(),
                git: Some(spec.ecs.service.clone()),
                running: None,
            }]),
            Some(service) => one(cloud, retry, spec, service).await,
        };
        out.push(match drift {
            Ok(diffs) => ServiceDrift {
                service: spec.name.clone(),
                diffs,
                error: None,
            },
            Err(e) => ServiceDrift {
                service: spec.name.clone(),
                diffs: Vec::new(),
                error: Some(e.to_string()),
            },
        });
    }
    Ok(out)
}

async fn one(
    cloud: &Cloud,
    retry: RetryPolicy,
    spec: &Service,
    service: crate::cloud::types::EcsService,
) -> Result<Vec<FieldDiff>, CloudError> {
    let task_definition = retry
        .run("DescribeTaskDefinition", || {
            cloud.ecs.describe_task_definition(&service.task_definition)
        })
        .await?;
    let image = wanted_image(cloud, retry, spec).await?;
    let mut target_groups = BTreeMap::new();
    let names: Vec<String> = spec
        .target_groups()
        .iter()
        .map(|lb| lb.target_group.clone())
        .collect();
    if !names.is_empty() {
        // A missing target group is a difference, not an error: the ARN is shown as it is.
        if let Ok(groups) = retry
            .run("DescribeTargetGroups", || {
                cloud.elb.describe_target_groups(&names)
            })
            .await
        {
            target_groups.extend(groups.into_iter().map(|g| (g.arn, g.name)));
        }
    }
    let live = Live {
        service,
        task_definition,
        target_groups,
    };
    // As the render writes them: Secrets Manager ARNs as they are, SSM names as ARNs.
    let value_from = |p: &str| {
        if crate::config::secret_ref::is_secrets_manager(p) {
            p.to_string()
        } else {
            cloud.ssm.arn(p)
        }
    };
    Ok(compare(spec, &image, value_from, &live))
}

/// The digest the spec's ref was pushed as (the build tags each image with its ref).
async fn wanted_image(
    cloud: &Cloud,
    retry: RetryPolicy,
    spec: &Service,
) -> Result<Wanted, CloudError> {
    let repository = &spec.image.repository;
    let images = retry
        .run("DescribeImages", || cloud.ecr.describe_images(repository))
        .await?;
    let reference = &spec.source.reference;
    Ok(images
        .into_iter()
        .find(|i| i.tags.iter().any(|t| t == reference))
        .map(|i| Wanted::Digest(i.digest))
        .unwrap_or_else(|| Wanted::NotBuilt(reference.clone())))
}
