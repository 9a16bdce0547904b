//! What the service's shape means for a rollout: the deployment controller it may roll, the
//! target groups the gate reads, the grace period it honours and whether the revision has a
//! container health check.

use super::super::gate::{GateConfig, PollTiming};
use crate::cloud::types::{EcsService, TaskDefinition};
use crate::config::Service;
use std::time::Duration;

/// Why a deploy must not touch `service`: its deployment controller is not ECS's rolling
/// update (UpdateService cannot roll a new task definition on it).
pub(super) fn controller_refusal(service: &EcsService) -> Option<String> {
    let controller = service.deployment_controller.as_str();
    (controller != "ECS").then(|| {
        format!(
            "service {} uses the {controller} deployment controller; amagent deploys with ECS rolling updates only (blue/green through CodeDeploy or an external controller is not supported yet). Nothing was registered or changed. Recreate the service with deploymentController type ECS, or deploy it with its own controller",
            service.service_name
        )
    })
}

/// The ARNs of every target group the service registers its tasks in, once each: ECS counts
/// a task healthy only when every one does, so the gate reads them all.
pub(super) fn target_groups(service: &EcsService) -> Vec<String> {
    let mut arns: Vec<String> = Vec::new();
    for lb in &service.load_balancers {
        if !arns.contains(&lb.target_group_arn) {
            arns.push(lb.target_group_arn.clone());
        }
    }
    arns
}

/// The grace period the gate honours: the spec's (the deploy sets it on the service), else the
/// service's own, else none.
pub(super) fn grace_seconds(spec: &Service, service: &EcsService) -> u32 {
    spec.deploy
        .health_check_grace_period_seconds
        .or(service.health_check_grace_period_seconds)
        .unwrap_or(0)
}

/// Whether an essential container of `td` defines a health check (ECS then reports the task
/// HEALTHY or UNHEALTHY; without one it stays UNKNOWN).
pub(super) fn has_container_health_check(td: &TaskDefinition) -> bool {
    td.container_definitions.iter().any(|c| {
        let essential = c.extra.get("essential").and_then(|v| v.as_bool()) != Some(false);
        essential && c.extra.get("healthCheck").is_some_and(|h| !h.is_null())
    })
}

pub(super) fn gate_config(
    spec: &Service,
    service: &EcsService,
    container_health_check: bool,
    timing: Option<PollTiming>,
) -> GateConfig {
    GateConfig {
        bake: Duration::from_secs(spec.deploy.bake_seconds.into()),
        timeout: Duration::from_secs(spec.deploy.timeout_seconds.into()),
        target_groups: target_groups(service).len(),
        grace: Duration::from_secs(grace_seconds(spec, service).into()),
        container_health_check,
        timing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::types::{ContainerDefinition, ServiceLoadBalancer};

    fn service(grace: Option<u32>, controller: &str) -> EcsService {
        let json = serde_json::json!({
            "serviceName": "api", "cluster": "c", "status": "ACTIVE", "desiredCount": 1,
            "runningCount": 1, "pendingCount": 0, "taskDefinition": "td", "deployments": [],
            "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                "circuitBreaker": null},
            "loadBalancers": [], "events": [], "deploymentController": controller,
            "healthCheckGracePeriodSeconds": grace,
        });
        serde_json::from_value(json).unwrap()
    }

    fn spec(grace: Option<u32>) -> Service {
        let model =
            crate::config::load_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut s = model.environments["staging"].services[0].clone();
        s.deploy.health_check_grace_period_seconds = grace;
        s
    }

    #[test]
    fn the_specs_grace_period_wins_over_the_services_own() {
        assert_eq!(
            grace_seconds(&spec(Some(30)), &service(Some(300), "ECS")),
            30
        );
        assert_eq!(grace_seconds(&spec(None), &service(Some(300), "ECS")), 300);
        assert_eq!(grace_seconds(&spec(None), &service(None, "ECS")), 0);
    }

    #[test]
    fn only_the_ecs_controller_is_rolled() {
        assert_eq!(controller_refusal(&service(None, "ECS")), None);
        for other in ["CODE_DEPLOY", "EXTERNAL"] {
            let why = controller_refusal(&service(None, other)).unwrap();
            assert!(
                why.contains(&format!("uses the {other} deployment controller")),
                "{why}"
            );
            assert!(why.contains("Nothing was registered or changed"), "{why}");
        }
    }

    #[test]
    fn target_groups_are_every_distinct_group_of_the_service() {
        let mut s = service(None, "ECS");
        for (arn, container) in [("tg-a", "api"), ("tg-b", "api"), ("tg-a", "envoy")] {
            s.load_balancers.push(ServiceLoadBalancer {
                target_group_arn: arn.into(),
                container_name: container.into(),
                container_port: 3000,
            });
        }
        assert_eq!(target_groups(&s), ["tg-a", "tg-b"]);
    }

    #[test]
    fn a_health_check_counts_only_on_an_essential_container() {
        let container = |essential: bool, check: bool| {
            let mut c = ContainerDefinition {
                name: "c".into(),
                ..ContainerDefinition::default()
            };
            c.extra
                .insert("essential".into(), serde_json::json!(essential));
            if check {
                c.extra.insert(
                    "healthCheck".into(),
                    serde_json::json!({"command": ["CMD", "true"]}),
                );
            }
            c
        };
        let td = |containers| TaskDefinition {
            container_definitions: containers,
            ..TaskDefinition::default()
        };
        assert!(has_container_health_check(&td(vec![container(true, true)])));
        assert!(!has_container_health_check(&td(vec![container(
            false, true
        )])));
        assert!(!has_container_health_check(&td(vec![
            container(true, false),
            container(false, true)
        ])));
    }
}
