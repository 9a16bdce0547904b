//! The service shapes on the wire, against moto: the grace period sent only when set and read
//! back, a capacity provider strategy surviving the agent's UpdateService, the deployment
//! controller read from DescribeServices and a CODE_DEPLOY service refused by a deploy before
//! anything is registered, and each container's health from DescribeTasks. (moto does not run
//! health checks: the gate's side of these shapes is on the simulator, tests/service_shapes.rs.)

mod support;

use amagent::clock::Clock;
use amagent::cloud::aws::Aws;
use amagent::cloud::retry::RetryPolicy;
use amagent::cloud::types::{CapacityProviderStrategyItem, UpdateService};
use amagent::config::load_dir;
use amagent::stages::deploy::{FailureKind, Outcome, Rollout, Silent, Target};
use amagent::state::journal::LocalJournal;
use aws_sdk_ecs::types as ecs;
use std::path::Path;

const CLUSTER: &str = "aussie-markets-staging";
const SERVICE: &str = "aussie-markets-api-staging";
const FAMILY: &str = "aussie-markets-api-task";

fn ecs_client(aws: &Aws) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(aws.sdk_config())
}

/// The agent's UpdateService to the family's latest revision, with the deploy settings it sends.
fn deploy_request(task_definition: &str, grace: Option<u32>) -> UpdateService {
    UpdateService {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
        task_definition: task_definition.into(),
        desired_count: Some(1),
        deployment_configuration: Some(amagent::cloud::types::DeploymentConfiguration {
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            circuit_breaker: Some(amagent::cloud::types::CircuitBreaker {
                enable: true,
                rollback: false,
            }),
            alarms: None,
        }),
        health_check_grace_period_seconds: grace,
    }
}

async fn latest(aws: &Aws) -> String {
    aws.cloud()
        .ecs
        .describe_task_definition(FAMILY)
        .await
        .unwrap()
        .arn
}

#[tokio::test]
async fn the_grace_period_is_sent_only_when_set_and_read_back() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::seed_staging(&endpoint).await;
    let cloud = aws.cloud();
    let names = [SERVICE.to_string()];
    let before = cloud.ecs.describe_services(CLUSTER, &names).await.unwrap();
    assert_eq!(before[0].health_check_grace_period_seconds, None);
    let td = latest(&aws).await;
    cloud
        .ecs
        .update_service(&deploy_request(&td, Some(120)))
        .await
        .unwrap();
    let set = cloud.ecs.describe_services(CLUSTER, &names).await.unwrap();
    assert_eq!(set[0].health_check_grace_period_seconds, Some(120));
    // A deploy whose spec does not set it leaves the service's own.
    cloud
        .ecs
        .update_service(&deploy_request(&td, None))
        .await
        .unwrap();
    let kept = cloud.ecs.describe_services(CLUSTER, &names).await.unwrap();
    assert_eq!(kept[0].health_check_grace_period_seconds, Some(120));
    let periods = cloud
        .ecs
        .health_check_grace_periods(CLUSTER, &names)
        .await
        .unwrap();
    assert_eq!(periods, vec![(SERVICE.to_string(), Some(120))]);
}

#[tokio::test]
async fn the_agents_update_service_keeps_the_capacity_provider_strategy() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::seed_staging(&endpoint).await;
    let cloud = aws.cloud();
    // The service's owner put it on FARGATE_SPOT (moto takes the strategy on UpdateService).
    let item = |provider: &str, weight: i32, base: i32| {
        ecs::CapacityProviderStrategyItem::builder()
            .capacity_provider(provider)
            .weight(weight)
            .base(base)
            .build()
            .unwrap()
    };
    ecs_client(&aws)
        .update_service()
        .cluster(CLUSTER)
        .service(SERVICE)
        .capacity_provider_strategy(item("FARGATE_SPOT", 4, 0))
        .capacity_provider_strategy(item("FARGATE", 1, 1))
        .send()
        .await
        .unwrap();
    let registered = cloud
        .ecs
        .register_task_definition(&cloud.ecs.describe_task_definition(FAMILY).await.unwrap())
        .await
        .unwrap();
    cloud
        .ecs
        .update_service(&deploy_request(&registered.arn, Some(30)))
        .await
        .unwrap();
    let raw = ecs_client(&aws)
        .describe_services()
        .cluster(CLUSTER)
        .services(SERVICE)
        .send()
        .await
        .unwrap();
    let service = &raw.services()[0];
    assert_eq!(service.task_definition(), Some(registered.arn.as_str()));
    assert_eq!(
        service.capacity_provider_strategy(),
        [item("FARGATE_SPOT", 4, 0), item("FARGATE", 1, 1)]
    );
    let seen = cloud
        .ecs
        .describe_services(CLUSTER, &[SERVICE.to_string()])
        .await
        .unwrap();
    assert_eq!(
        seen[0].capacity_provider_strategy,
        vec![
            CapacityProviderStrategyItem {
                capacity_provider: "FARGATE_SPOT".into(),
                weight: 4,
                base: 0
            },
            CapacityProviderStrategyItem {
                capacity_provider: "FARGATE".into(),
                weight: 1,
                base: 1
            },
        ]
    );
}

#[tokio::test]
async fn a_code_deploy_service_is_refused_by_deploy_before_registering() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    let cloud = aws.cloud();
    let client = ecs_client(&aws);
    client
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .unwrap();
    let fixture: serde_json::Value = serde_json::from_str(include_str!(
        "fixtures/ecs-describe-task-definition-staging.json"
    ))
    .unwrap();
    let td = cloud
        .ecs
        .register_task_definition(
            &serde_json::from_value(fixture["taskDefinition"].clone()).unwrap(),
        )
        .await
        .unwrap();
    client
        .create_service()
        .cluster(CLUSTER)
        .service_name(SERVICE)
        .task_definition(&td.arn)
        .desired_count(1)
        .launch_type(ecs::LaunchType::Fargate)
        .deployment_controller(
            ecs::DeploymentController::builder()
                .r#type(ecs::DeploymentControllerType::CodeDeploy)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let controllers = cloud
        .ecs
        .deployment_controllers(CLUSTER, &[SERVICE.to_string()])
        .await
        .unwrap();
    assert_eq!(
        controllers,
        vec![(SERVICE.to_string(), "CODE_DEPLOY".to_string())]
    );

    let model = load_dir(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    let spec = model.environments["staging"].services[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let journal = LocalJournal::new(dir.path());
    let clock = Clock::system();
    let rollout = Rollout {
        cloud: &cloud,
        clock: &clock,
        journal: &journal,
        progress: &Silent,
        run_id: "wire-code-deploy",
        retry: RetryPolicy::default(),
        concurrency: 1,
        pacer: Default::default(),
    };
    let image = format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/aussie-markets/api@sha256:{}",
        "c".repeat(64)
    );
    let results = rollout
        .run(vec![Target {
            env: "staging".into(),
            cluster: CLUSTER.into(),
            spec,
            image,
            revision: None,
        }])
        .await;
    let d = &results[0];
    assert_eq!(d.outcome, Outcome::Failed, "{d:?}");
    assert_eq!(d.failure_kind, Some(FailureKind::Config));
    let reason = d.reason.as_deref().unwrap();
    assert!(
        reason.contains("uses the CODE_DEPLOY deployment controller"),
        "{reason}"
    );
    let revisions = client
        .list_task_definitions()
        .family_prefix(FAMILY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        revisions.task_definition_arns(),
        std::slice::from_ref(&td.arn)
    );
}

#[tokio::test]
async fn describe_tasks_reads_each_containers_health() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::seed_staging(&endpoint).await;
    let cloud = aws.cloud();
    // moto sums container-level memory to place a task.
    let mut def = cloud.ecs.describe_task_definition(FAMILY).await.unwrap();
    def.container_definitions[0]
        .extra
        .insert("memory".into(), serde_json::json!(512));
    let td = cloud.ecs.register_task_definition(&def).await.unwrap().arn;
    let run = ecs_client(&aws)
        .run_task()
        .cluster(CLUSTER)
        .task_definition(&td)
        .launch_type(ecs::LaunchType::Fargate)
        .network_configuration(
            ecs::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    ecs::AwsVpcConfiguration::builder()
                        .subnets(support::subnet(&endpoint).await)
                        .security_groups(support::security_group(&endpoint).await)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    let tasks = cloud.ecs.describe_tasks(CLUSTER, &[arn]).await.unwrap();
    let containers = &tasks[0].containers;
    assert_eq!(containers.len(), 1, "{tasks:?}");
    assert_eq!(containers[0].name, "api");
    // moto reports its containers HEALTHY.
    assert_eq!(containers[0].health_status.as_deref(), Some("HEALTHY"));
}
