//! What would block a deploy, read from the live service and the task definition it runs: the
//! deployment controller, the spec's container, the port the target group expects, and the
//! secrets the task's execution role would have to read. Each ✗ says what to change and where
//! the spec sets it.

use super::{Check, SpecLocator, bad, ok};
use crate::cloud::types::{EcsService, TaskDefinition};
use crate::cloud::{Cloud, CloudError};
use crate::config::position::FieldPath;
use crate::config::{LoadBalancer, Service};
use std::collections::BTreeSet;

/// The parts of a task definition these checks read. Kept in one function so a change to the
/// task definition type touches only [`view`].
struct TaskDefinitionView {
    name: String,
    execution_role_arn: Option<String>,
    containers: Vec<String>,
    /// The spec's container: its mapped container ports and its secrets' `valueFrom`s.
    container: Option<(Vec<u16>, BTreeSet<String>)>,
}

fn view(td: &TaskDefinition, container: &str) -> TaskDefinitionView {
    TaskDefinitionView {
        name: td.family_revision(),
        execution_role_arn: td.execution_role_arn.clone().filter(|a| !a.is_empty()),
        containers: td
            .container_definitions
            .iter()
            .map(|c| c.name.clone())
            .collect(),
        container: td.container(container).map(|c| {
            (
                c.port_mappings
                    .iter()
                    .filter_map(|p| p.container_port)
                    .collect(),
                c.secrets.iter().map(|s| s.value_from.clone()).collect(),
            )
        }),
    }
}

/// One service's live checks. `at` is the service's path in the spec (`services[i]`);
/// `controller` its deployment controller type.
pub(super) async fn service_checks(
    cloud: &Cloud,
    spec: &SpecLocator,
    at: &FieldPath,
    service: &Service,
    live: &EcsService,
    controller: Option<&str>,
) -> Vec<Check> {
    let name = &service.ecs.service;
    let mut checks = vec![controller_check(spec, at, name, controller)];
    let td = match cloud
        .ecs
        .describe_task_definition(&live.task_definition)
        .await
    {
        Ok(td) => view(&td, &service.ecs.container),
        Err(e) => {
            checks.push(bad(
                "running task definition",
                name,
                format!("{}: {e}", live.task_definition),
                "check the agent's ecs:DescribeTaskDefinition permission (docs/iam-policy.json)"
                    .into(),
            ));
            return checks;
        }
    };
    checks.push(container_check(spec, at, service, &td));
    // Without the container, its ports say nothing (the container ✗ says what to fix).
    if td.container.is_some() {
        for (lb, lbp) in load_balancer_paths(service, at) {
            let paths = (at, &lbp);
            checks.push(group_check(cloud, spec, paths, service, live, lb, &td).await);
        }
    }
    with_role(cloud, spec, at, service, &td, checks)
}

/// Each target group of the spec with its path: `loadBalancer` or `loadBalancers[i]`.
pub(super) fn load_balancer_paths<'a>(
    service: &'a Service,
    at: &FieldPath,
) -> Vec<(&'a LoadBalancer, FieldPath)> {
    let one = service
        .load_balancer
        .iter()
        .map(|lb| (lb, at.key("loadBalancer")));
    let several = service
        .load_balancers
        .iter()
        .enumerate()
        .map(|(i, lb)| (lb, at.key("loadBalancers").index(i)));
    one.chain(several).collect()
}

/// One target group of the spec: the service registers its tasks there, on the spec's port.
/// `paths`: the service's and the target group's paths in the spec.
async fn group_check(
    cloud: &Cloud,
    spec: &SpecLocator,
    paths: (&FieldPath, &FieldPath),
    service: &Service,
    live: &EcsService,
    lb: &LoadBalancer,
    td: &TaskDefinitionView,
) -> Check {
    let group = cloud
        .elb
        .describe_target_groups(std::slice::from_ref(&lb.target_group))
        .await
        .ok()
        .and_then(|g| g.into_iter().next());
    let expected = group.as_ref().and_then(|g| {
        live.load_balancers
            .iter()
            .find(|b| b.target_group_arn == g.arn)
            .map(|b| (b.container_name.clone(), b.container_port))
    });
    match group.as_ref().filter(|_| expected.is_none()) {
        Some(g) => not_registered(spec, paths.1, service, lb, live, &g.arn),
        None => port_check(spec, paths, service, lb, td, expected),
    }
}

fn with_role(
    cloud: &Cloud,
    spec: &SpecLocator,
    at: &FieldPath,
    service: &Service,
    td: &TaskDefinitionView,
    mut checks: Vec<Check>,
) -> Vec<Check> {
    if !service.secrets.is_empty() {
        checks.push(execution_role_check(cloud, spec, at, service, td));
    }
    checks
}

/// The service does not register its tasks in the spec's target group: the health gate would
/// wait for targets that never come.
fn not_registered(
    spec: &SpecLocator,
    lbp: &FieldPath,
    service: &Service,
    lb: &LoadBalancer,
    live: &EcsService,
    group_arn: &str,
) -> Check {
    let elsewhere: Vec<&str> = live
        .load_balancers
        .iter()
        .map(|b| b.target_group_arn.as_str())
        .collect();
    bad(
        "service load balancer",
        &lb.target_group,
        if elsewhere.is_empty() {
            format!(
                "{} registers its tasks in no target group",
                live.service_name
            )
        } else {
            format!(
                "{} registers its tasks in {}, not in {group_arn}",
                live.service_name,
                elsewhere.join(", ")
            )
        },
        format!(
            "attach {} to the service (loadBalancers: containerName {}, containerPort {}; \
             UpdateService can), or correct {}",
            lb.target_group,
            service.ecs.container,
            lb.container_port,
            spec.at(&lbp.key("targetGroup"))
        ),
    )
}

fn controller_check(
    spec: &SpecLocator,
    at: &FieldPath,
    name: &str,
    controller: Option<&str>,
) -> Check {
    match controller {
        Some("ECS") => ok("deployment controller", name, "ECS (rolling update)"),
        Some(other) => bad(
            "deployment controller",
            name,
            format!("{other}: UpdateService cannot roll out a new task definition on it"),
            format!(
                "amagent deploys with ECS rolling updates: recreate the service with \
                 deploymentController type ECS, or point {} at a service that has it",
                spec.at(&at.key("ecs").key("service"))
            ),
        ),
        None => bad(
            "deployment controller",
            name,
            "not reported by DescribeServices",
            "retry; if it persists, check the region and endpoint".into(),
        ),
    }
}

fn container_check(
    spec: &SpecLocator,
    at: &FieldPath,
    service: &Service,
    td: &TaskDefinitionView,
) -> Check {
    let container = &service.ecs.container;
    if td.container.is_some() {
        return ok("container", container, format!("in {}", td.name));
    }
    bad(
        "container",
        container,
        format!(
            "{} has no container `{container}` (it has: {})",
            td.name,
            td.containers.join(", ")
        ),
        format!(
            "set ecs.container to one of them at {}",
            spec.at(&at.key("ecs").key("container"))
        ),
    )
}

/// The spec's container port and container must be the ones the service registers in the
/// target group (`registered`, from its loadBalancers entry), and the task definition must map
/// the port.
fn port_check(
    spec: &SpecLocator,
    (at, lbp): (&FieldPath, &FieldPath),
    service: &Service,
    lb: &LoadBalancer,
    td: &TaskDefinitionView,
    registered: Option<(String, u16)>,
) -> Check {
    let container = &service.ecs.container;
    let subject = format!("{container}:{}", lb.container_port);
    let where_ = spec.at(&lbp.key("containerPort"));
    if let Some((name, port)) = &registered {
        if *port != lb.container_port {
            return bad(
                "container port",
                &subject,
                format!("the service registers {name}:{port} in {}", lb.target_group),
                format!("set containerPort to {port} at {where_}"),
            );
        }
        if name != container {
            return bad(
                "container port",
                &subject,
                format!(
                    "the service registers container `{name}` in {}, the spec deploys `{container}`",
                    lb.target_group
                ),
                format!(
                    "set ecs.container to {name} at {}",
                    spec.at(&at.key("ecs").key("container"))
                ),
            );
        }
    }
    match &td.container {
        Some((ports, _)) if !ports.contains(&lb.container_port) => bad(
            "container port",
            &subject,
            format!(
                "{} maps {} for `{container}`, not {}",
                td.name,
                if ports.is_empty() {
                    "no port".to_string()
                } else {
                    format!("{ports:?}")
                },
                lb.container_port
            ),
            format!(
                "add containerPort {} to the task definition's portMappings, or correct {where_}",
                lb.container_port
            ),
        ),
        _ => ok(
            "container port",
            &subject,
            format!("mapped in {}, registered in {}", td.name, lb.target_group),
        ),
    }
}

/// ECS reads a container's secrets with the task's execution role at task start. With none, a
/// task with secrets cannot start; secrets the spec adds must be readable by that role (its
/// policy is not visible to the agent, so those are named).
fn execution_role_check(
    cloud: &Cloud,
    spec: &SpecLocator,
    at: &FieldPath,
    service: &Service,
    td: &TaskDefinitionView,
) -> Check {
    // As the render writes them: SSM names as ARNs, Secrets Manager ARNs as they are.
    let wanted: BTreeSet<String> = service
        .secrets
        .values()
        .map(|p| {
            if crate::config::secret_ref::is_secrets_manager(p) {
                p.clone()
            } else {
                cloud.ssm.arn(p)
            }
        })
        .collect();
    let running = td
        .container
        .as_ref()
        .map(|(_, s)| s.clone())
        .unwrap_or_default();
    let added: Vec<&String> = wanted.difference(&running).collect();
    let list = |arns: &[&String]| {
        arns.iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let where_ = spec.at(&at.key("secrets"));
    let Some(role) = &td.execution_role_arn else {
        let all: Vec<&String> = wanted.iter().collect();
        return bad(
            "execution role",
            &service.ecs.service,
            format!(
                "{} has no executionRoleArn, and the spec sets secrets",
                td.name
            ),
            format!(
                "set executionRoleArn in the task definition to a role allowed ssm:GetParameters \
                 (secretsmanager:GetSecretValue for Secrets Manager ARNs) on {} (and kms:Decrypt \
                 on their key), or remove them at {where_}",
                list(&all)
            ),
        );
    };
    if added.is_empty() {
        return ok(
            "execution role",
            role,
            format!("already reads the {} secret(s) the spec sets", wanted.len()),
        );
    }
    let mut check = ok(
        "execution role",
        role,
        format!(
            "must be allowed ssm:GetParameters (secretsmanager:GetSecretValue for Secrets Manager ARNs) on {} (new at {where_}; the role's policy is not checked)",
            list(&added)
        ),
    );
    check.warning = true;
    check
}

/// Deployment controllers of the found services, by name (an error leaves them unknown).
pub(super) async fn controllers(
    cloud: &Cloud,
    cluster: &str,
    names: &[String],
) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for chunk in names.chunks(crate::cloud::DESCRIBE_SERVICES_BATCH) {
        match cloud.ecs.deployment_controllers(cluster, chunk).await {
            Ok(found) => all.extend(found),
            Err(CloudError::NotFound { .. }) => {}
            Err(e) => tracing::debug!(error = %e, "deployment controllers unknown"),
        }
    }
    all
}
