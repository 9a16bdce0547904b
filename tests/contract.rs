//! The contract between the simulator and AWS's wire model: the same steps (register → update →
//! describe, plus the error cases) run through the aws adapter against moto and against the
//! simulator, and everything both can observe must agree — so the simulator cannot drift from
//! the real API unnoticed. (Deployment progress is not comparable: moto never progresses it.)

mod support;

use amagent::clock::Clock;
use amagent::cloud::sim::{FaultScript, ServiceSpec, Simulator};
use amagent::cloud::types::{
    CircuitBreaker, DeploymentConfiguration, TaskDefinition, UpdateService,
};
use amagent::cloud::{Cloud, CloudError};

const FIXTURE: &str = include_str!("fixtures/ecs-describe-task-definition-staging.json");
const CLUSTER: &str = "aussie-markets-staging";
const SERVICE: &str = "aussie-markets-api-staging";

fn fixture() -> TaskDefinition {
    let v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let mut td: TaskDefinition = serde_json::from_value(v["taskDefinition"].clone()).unwrap();
    td.revision = 0;
    td.arn.clear();
    td
}

/// What both backends can be asked and must answer alike.
#[derive(Debug, PartialEq)]
struct Observed {
    registered_revision: u32,
    latest_revision: u32,
    image: String,
    secrets: Vec<(String, String)>,
    environment: Vec<(String, String)>,
    cpu_memory: (Option<String>, Option<String>),
    network_mode: Option<String>,
    log_configuration: Option<serde_json::Value>,
    updated_revision_suffix: String,
    updated_desired: u32,
    described_revision_suffix: String,
    described_desired: u32,
    described_min_max: (u32, u32),
    too_many_services: &'static str,
    missing_family: &'static str,
    missing_service_cluster: &'static str,
}

fn kind(e: &CloudError) -> &'static str {
    match e {
        CloudError::NotFound { .. } => "not-found",
        CloudError::InvalidRequest { .. } => "invalid-request",
        CloudError::AccessDenied { .. } => "access-denied",
        CloudError::Throttled { .. } => "throttled",
        CloudError::Unavailable { .. } => "unavailable",
        CloudError::LeaseLost { .. } => "lease-lost",
    }
}

fn suffix(arn: &str) -> String {
    arn.rsplit('/').next().unwrap().to_string()
}

/// The scenario, on any backend whose service runs revision 1 of the fixture's family.
async fn steps(cloud: &Cloud) -> Observed {
    let mut next = fixture();
    next.container_definitions[0].image =
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api@sha256:2222222222222222222222222222222222222222222222222222222222222222".into();
    let registered = cloud.ecs.register_task_definition(&next).await.unwrap();
    let latest = cloud
        .ecs
        .describe_task_definition(&next.family)
        .await
        .unwrap();
    let c = latest.container("api").unwrap();
    let updated = cloud
        .ecs
        .update_service(&UpdateService {
            cluster: CLUSTER.into(),
            service: SERVICE.into(),
            task_definition: registered.arn.clone(),
            desired_count: Some(2),
            deployment_configuration: Some(DeploymentConfiguration {
                minimum_healthy_percent: 100,
                maximum_percent: 200,
                circuit_breaker: Some(CircuitBreaker {
                    enable: true,
                    rollback: false,
                }),
                alarms: None,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let described = cloud
        .ecs
        .describe_services(CLUSTER, &[SERVICE.to_string()])
        .await
        .unwrap();
    let eleven: Vec<String> = (0..11).map(|i| format!("s{i}")).collect();
    Observed {
        registered_revision: registered.revision,
        latest_revision: latest.revision,
        image: c.image.clone(),
        secrets: c
            .secrets
            .iter()
            .map(|s| (s.name.clone(), s.value_from.clone()))
            .collect(),
        environment: c
            .environment
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect(),
        cpu_memory: (latest.cpu.clone(), latest.memory.clone()),
        network_mode: latest.network_mode.clone(),
        log_configuration: c.extra.get("logConfiguration").cloned(),
        updated_revision_suffix: suffix(&updated.task_definition),
        updated_desired: updated.desired_count,
        described_revision_suffix: suffix(&described[0].task_definition),
        described_desired: described[0].desired_count,
        described_min_max: (
            described[0]
                .deployment_configuration
                .minimum_healthy_percent,
            described[0].deployment_configuration.maximum_percent,
        ),
        too_many_services: kind(
            &cloud
                .ecs
                .describe_services(CLUSTER, &eleven)
                .await
                .unwrap_err(),
        ),
        missing_family: kind(
            &cloud
                .ecs
                .describe_task_definition("no-such-family")
                .await
                .unwrap_err(),
        ),
        missing_service_cluster: kind(
            &cloud
                .ecs
                .describe_services("no-such-cluster", &[SERVICE.to_string()])
                .await
                .unwrap_err(),
        ),
    }
}

async fn on_moto(endpoint: &str) -> Observed {
    let aws = support::connect(endpoint).await;
    let cloud = aws.cloud();
    let first = cloud
        .ecs
        .register_task_definition(&fixture())
        .await
        .unwrap();
    let client = aws_sdk_ecs::Client::new(aws.sdk_config());
    client
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .unwrap();
    support::fargate_service(&aws, endpoint, CLUSTER, SERVICE, &first.arn).await;
    steps(&cloud).await
}

async fn on_simulator() -> Observed {
    let sim = Simulator::new(Clock::system(), FaultScript::builtin("healthy").unwrap());
    sim.add_service(ServiceSpec {
        cluster: CLUSTER.into(),
        name: SERVICE.into(),
        task_definition: fixture(),
        desired_count: 1,
        minimum_healthy_percent: 100,
        maximum_percent: 200,
        circuit_breaker: None,
        target_group: None,
        container_name: "api".into(),
        container_port: 3000,
    });
    steps(&sim.cloud()).await
}

#[tokio::test]
async fn simulator_and_aws_wire_model_agree() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let wire = on_moto(&endpoint).await;
    let simulated = on_simulator().await;
    assert_eq!(wire.registered_revision, 2);
    assert_eq!(wire.updated_revision_suffix, "aussie-markets-api-task:2");
    assert_eq!(simulated, wire);
}

/// A registered definition as both backends describe it, in the API's JSON without what only a
/// describe returns; with what AWS (and moto) fill in on registration that the simulator keeps
/// as registered.
fn comparable(td: &TaskDefinition, registered: &serde_json::Value) -> serde_json::Value {
    let mut json = serde_json::to_value(td).unwrap();
    let members = json.as_object_mut().unwrap();
    for field in ["taskDefinitionArn", "revision"]
        .into_iter()
        .chain(amagent::cloud::types::TASK_DEFINITION_READ_ONLY)
    {
        members.remove(field);
    }
    // moto 5.2.5 does not store it (tests/taskdef_corpus.rs checks that it still does not).
    members.remove("enableFaultInjection");
    if registered.get("networkMode").is_none()
        && members.get("networkMode") == Some(&"bridge".into())
    {
        members.remove("networkMode");
    }
    for (i, c) in members["containerDefinitions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let given = &registered["containerDefinitions"][i];
        let c = c.as_object_mut().unwrap();
        for (field, default) in [
            ("cpu", serde_json::json!(0)),
            ("essential", serde_json::json!(true)),
        ] {
            if given.get(field).is_none() && c.get(field) == Some(&default) {
                c.remove(field);
            }
        }
    }
    prune(&mut json);
    json
}

/// Empty lists mean the same as absent ones to ECS (moto answers `volumes: []` for none).
fn prune(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(members) => {
            members.retain(|_, v| !matches!(v, serde_json::Value::Array(a) if a.is_empty()));
            members.values_mut().for_each(prune);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

fn whole_definitions() -> Vec<TaskDefinition> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let every: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("taskdef-every-member.json")).unwrap(),
    )
    .unwrap();
    let mut every_member: TaskDefinition =
        serde_json::from_value(every["taskDefinition"].clone()).unwrap();
    every_member
        .extra
        .insert("tags".into(), every["tags"].clone());
    let mut all = vec![every_member];
    let mut files: Vec<_> = std::fs::read_dir(dir.join("taskdefs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        all.push(serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap());
    }
    all
}

/// Every member of every shape, and every corpus definition, is carried alike by the aws
/// adapter on moto and by the simulator.
#[tokio::test]
async fn simulator_and_aws_carry_whole_task_definitions_alike() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let wire = support::connect(&endpoint).await.cloud();
    let sim = Simulator::new(Clock::system(), FaultScript::builtin("healthy").unwrap()).cloud();
    let mut differences = Vec::new();
    for td in whole_definitions() {
        let registered = serde_json::to_value(&td).unwrap();
        let mut seen = Vec::new();
        for cloud in [&wire, &sim] {
            let arn = cloud.ecs.register_task_definition(&td).await.unwrap().arn;
            let back = cloud.ecs.describe_task_definition(&arn).await.unwrap();
            seen.push(comparable(&back, &registered));
        }
        if seen[0] != seen[1] {
            differences.push(format!(
                "{}:\n  moto: {}\n  sim:  {}",
                td.family, seen[0], seen[1]
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
