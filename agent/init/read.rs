//! The shell: each service, the task definition it runs, its ECR images and target groups,
//! read through the cloud ports (so it runs on AWS and on the simulator alike).

use super::image::{account_of, choose_container, ecr_host};
use super::{InitError, LiveService, Request};
use crate::cloud::types::{EcsService, TargetGroup};
use crate::cloud::{Cloud, CloudError, DESCRIBE_SERVICES_BATCH, ResourceKind};

fn refused(what: impl Into<String>) -> impl FnOnce(CloudError) -> InitError {
    let what = what.into();
    move |source| InitError::Cloud { what, source }
}

/// Every service of the request, in its order.
pub async fn read(cloud: &Cloud, request: &Request) -> Result<Vec<LiveService>, InitError> {
    let cluster = &request.cluster;
    let mut found: Vec<EcsService> = Vec::new();
    let mut grace_periods = Vec::new();
    for chunk in request.services.chunks(DESCRIBE_SERVICES_BATCH) {
        match cloud.ecs.describe_services(cluster, chunk).await {
            Ok(services) => found.extend(services),
            Err(CloudError::NotFound {
                kind: ResourceKind::Service,
                ..
            }) => continue,
            Err(e) => return Err(refused(format!("cluster {cluster}"))(e)),
        }
        grace_periods.extend(
            cloud
                .ecs
                .health_check_grace_periods(cluster, chunk)
                .await
                .map_err(refused(format!("cluster {cluster}")))?,
        );
    }
    let mut live = Vec::new();
    for name in &request.services {
        let service = found
            .iter()
            .find(|s| s.service_name == *name && s.status == "ACTIVE")
            .cloned()
            .ok_or_else(|| InitError::NoService {
                cluster: cluster.clone(),
                service: name.clone(),
            })?;
        let grace_period = grace_periods
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, g)| *g);
        live.push(one(cloud, request, service, grace_period).await?);
    }
    Ok(live)
}

async fn one(
    cloud: &Cloud,
    request: &Request,
    service: EcsService,
    grace_period: Option<u32>,
) -> Result<LiveService, InitError> {
    let name = service.service_name.clone();
    let task_definition = cloud
        .ecs
        .describe_task_definition(&service.task_definition)
        .await
        .map_err(refused(format!("{name}: its task definition")))?;
    let account = account_of(&task_definition.arn).ok_or_else(|| InitError::Unreadable {
        detail: format!(
            "{name}: task definition ARN `{}` names no account",
            task_definition.arn
        ),
    })?;
    let host = ecr_host(&account, &request.region);
    let (container, image) = choose_container(&name, &task_definition, &host, &request.containers)?;
    let images = cloud
        .ecr
        .describe_images(&image.repository)
        .await
        .map_err(refused(format!(
            "{name}: ECR repository {}",
            image.repository
        )))?;
    let target_groups = target_groups(cloud, &service, &container).await?;
    Ok(LiveService {
        service,
        grace_period,
        task_definition,
        container,
        image,
        images,
        target_groups,
    })
}

/// The groups the service registers `container` in, in the service's order. DescribeTargetGroups
/// is asked by name: the name is part of the ARN (`…:targetgroup/<name>/<id>`).
async fn target_groups(
    cloud: &Cloud,
    service: &EcsService,
    container: &str,
) -> Result<Vec<TargetGroup>, InitError> {
    let arns: Vec<&str> = service
        .load_balancers
        .iter()
        .filter(|lb| lb.container_name == container)
        .map(|lb| lb.target_group_arn.as_str())
        .collect();
    let names: Vec<String> = arns
        .iter()
        .filter_map(|arn| arn.split(":targetgroup/").nth(1)?.split('/').next())
        .map(String::from)
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let groups = cloud
        .elb
        .describe_target_groups(&names)
        .await
        .map_err(refused(format!(
            "{}: target group(s) {}",
            service.service_name,
            names.join(", ")
        )))?;
    Ok(arns
        .iter()
        .filter_map(|arn| groups.iter().find(|g| g.arn == *arn).cloned())
        .collect())
}
