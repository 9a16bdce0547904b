use super::*;
use crate::cloud::types::{DeploymentConfiguration, ServiceLoadBalancer};
use crate::stages::deploy::render::render;

const FIXTURE: &str =
    include_str!("../../tests/fixtures/ecs-describe-task-definition-staging.json");
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const TG_ARN: &str = "arn:aws:elasticloadbalancing:ap-southeast-2:123456789012:targetgroup/aussie-markets-api-staging/0123456789abcdef";

fn arn(name: &str) -> String {
    format!("arn:aws:ssm:ap-southeast-2:123456789012:parameter{name}")
}

fn spec() -> Service {
    crate::config::example().environments["staging"].services[0].clone()
}

/// What runs when the last deploy of `spec()` went through: no difference.
fn live() -> Live {
    let v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let current: TaskDefinition = serde_json::from_value(v["taskDefinition"].clone()).unwrap();
    let image =
        format!("123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api@{DIGEST}");
    let td = render(&current, &spec(), &image, arn)
        .unwrap()
        .unwrap_or(current);
    let spec = spec();
    let lb = spec.load_balancer.clone().unwrap();
    Live {
        service: EcsService {
            service_name: spec.ecs.service.clone(),
            cluster: "aussie-markets-staging".into(),
            status: "ACTIVE".into(),
            desired_count: spec.desired_count.fixed().unwrap(),
            running_count: spec.desired_count.fixed().unwrap(),
            pending_count: 0,
            task_definition: td.arn.clone(),
            deployments: Vec::new(),
            deployment_configuration: DeploymentConfiguration {
                minimum_healthy_percent: spec.deploy.minimum_healthy_percent,
                maximum_percent: spec.deploy.maximum_percent,
                circuit_breaker: None,
                alarms: None,
            },
            load_balancers: vec![ServiceLoadBalancer {
                target_group_arn: TG_ARN.into(),
                container_name: spec.ecs.container.clone(),
                container_port: lb.container_port,
            }],
            events: Vec::new(),
            placement: Default::default(),
            deployment_controller: "ECS".into(),
            health_check_grace_period_seconds: None,
            capacity_provider_strategy: Vec::new(),
        },
        task_definition: td,
        target_groups: [(TG_ARN.to_string(), lb.target_group.clone())].into(),
    }
}

fn diff(live: &Live) -> Vec<FieldDiff> {
    compare(&spec(), &Wanted::Digest(DIGEST.into()), arn, live)
}

fn field(git: Option<&str>, running: Option<&str>, name: &str) -> FieldDiff {
    FieldDiff {
        field: name.into(),
        git: git.map(String::from),
        running: running.map(String::from),
    }
}

#[test]
fn what_git_deployed_has_no_difference() {
    assert_eq!(diff(&live()), []);
}

#[test]
fn a_console_edit_shows_the_field_and_both_values() {
    let mut live = live();
    live.task_definition.cpu = Some("1024".into());
    live.service.desired_count = 5;
    let c = &mut live.task_definition.container_definitions[0];
    c.image = format!(
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api@sha256:{}",
        "2".repeat(64)
    );
    c.environment.retain(|kv| kv.name != "NODE_ENV");
    c.environment.push(crate::cloud::types::KeyValue {
        name: "DEBUG".into(),
        value: "1".into(),
    });
    let wanted_cpu = spec().cpu.to_string();
    let wanted_count = spec().desired_count.to_string();
    let node_env = spec().env["NODE_ENV"].clone();
    assert_eq!(
        diff(&live),
        [
            field(
                Some(DIGEST),
                Some(&format!("sha256:{}", "2".repeat(64))),
                "image"
            ),
            field(Some(&wanted_cpu), Some("1024"), "cpu"),
            field(None, Some("1"), "env.DEBUG"),
            field(Some(&node_env), None, "env.NODE_ENV"),
            field(Some(&wanted_count), Some("5"), "desiredCount"),
        ]
    );
}

#[test]
fn an_autoscaled_count_is_not_drift_when_git_says_managed() {
    let mut live = live();
    live.service.desired_count = 7;
    let mut managed = spec();
    managed.desired_count = crate::config::desired_count::DesiredCount::Managed;
    assert_eq!(
        compare(&managed, &Wanted::Digest(DIGEST.into()), arn, &live),
        []
    );
    assert_eq!(diff(&live).len(), 1, "a fixed count still is");
}

#[test]
fn secrets_are_compared_by_parameter_never_by_value() {
    let mut live = live();
    let c = &mut live.task_definition.container_definitions[0];
    let first = c.secrets[0].name.clone();
    c.secrets[0].value_from = arn("/elsewhere/db");
    let d = diff(&live);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].field, format!("secrets.{first}"));
    assert_eq!(d[0].running.as_deref(), Some(arn("/elsewhere/db").as_str()));
}

#[test]
fn an_image_never_built_and_another_target_group_are_differences() {
    let mut live = live();
    live.target_groups.clear();
    live.service.load_balancers[0].target_group_arn = "arn:other".into();
    let d = compare(&spec(), &Wanted::NotBuilt("v2.0.0".into()), arn, &live);
    let fields: Vec<&str> = d.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["image", "loadBalancer"]);
    assert_eq!(d[0].git.as_deref(), Some("v2.0.0 (not in the registry)"));
    assert_eq!(d[1].running.as_deref(), Some("arn:other:3000"));
}

#[test]
fn a_missing_container_stops_the_comparison_there() {
    let mut live = live();
    live.task_definition.container_definitions[0].name = "web".into();
    assert_eq!(diff(&live), [field(Some("api"), None, "container")]);
}
