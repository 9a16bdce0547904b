//! The gate adapters on the wire, against moto: RunTask/DescribeTasks/StopTask for the
//! pre-deploy task (the service's placement read back: subnets, security groups, launch type),
//! GetLogEvents for its log tail, and ECS's deployment alarms read from and handed back to the
//! service.
//!
//! Not here: DescribeAlarms. aws-sdk-cloudwatch speaks the Smithy RPC v2 CBOR protocol, which
//! moto does not serve (getmoto/moto#9195: Query and JSON only, CBOR not planned); the alarm
//! gate is covered on the simulator (tests/gates.rs) and its rule by unit tests.

mod support;

use amagent::cloud::aws::Aws;
use amagent::cloud::types::{
    DeploymentAlarms, DeploymentConfiguration, RunTask, TaskDefinition, TaskPlacement,
    UpdateService,
};
use amagent::cloud::{Cloud, CloudError};

const FIXTURE: &str = include_str!("fixtures/ecs-describe-task-definition-staging.json");
const CLUSTER: &str = "aussie-markets-staging";
const SERVICE: &str = "api";

fn fixture_task_definition() -> TaskDefinition {
    let v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    serde_json::from_value(v["taskDefinition"].clone()).unwrap()
}

/// The cluster, the fixture's family registered and one Fargate awsvpc service on it.
async fn seed(aws: &Aws, endpoint: &str, cloud: &Cloud) -> TaskDefinition {
    aws_sdk_ecs::Client::new(aws.sdk_config())
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .unwrap();
    let registered = cloud
        .ecs
        .register_task_definition(&fixture_task_definition())
        .await
        .unwrap();
    support::fargate_service(aws, endpoint, CLUSTER, SERVICE, &registered.arn).await;
    registered
}

#[tokio::test]
async fn the_pre_deploy_task_runs_where_the_service_runs_with_its_command_and_stops() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    let cloud = aws.cloud();
    let td = seed(&aws, &endpoint, &cloud).await;
    let service = cloud
        .ecs
        .describe_services(CLUSTER, &[SERVICE.to_string()])
        .await
        .unwrap()
        .remove(0);
    let placement = service.placement.clone();
    let network = placement.network.as_ref().expect("awsvpc read back");
    assert_eq!(network.subnets.len(), 1, "{placement:?}");
    assert!(network.subnets[0].starts_with("subnet-"), "{placement:?}");
    assert!(
        network.security_groups[0].starts_with("sg-"),
        "{placement:?}"
    );
    assert_eq!(placement.launch_type.as_deref(), Some("FARGATE"));

    // moto 5.2 fails RunTask on two things real ECS accepts: a container without its own
    // `memory` (TypeError summing them) and awsvpc networking (its ENI lacks private_dns_name).
    // So the task runs from a bridge-mode revision whose containers state memory.
    let mut runnable = fixture_task_definition();
    runnable.network_mode = Some("bridge".into());
    runnable.requires_compatibilities = vec!["EC2".into()];
    for c in &mut runnable.container_definitions {
        c.extra.insert("memory".into(), serde_json::json!(256));
    }
    let runnable = cloud.ecs.register_task_definition(&runnable).await.unwrap();
    let command = vec!["npm".to_string(), "run".into(), "migrate".into()];
    let task = cloud
        .ecs
        .run_task(&RunTask {
            cluster: CLUSTER.into(),
            task_definition: runnable.arn.clone(),
            container: "api".into(),
            command: command.clone(),
            placement: TaskPlacement {
                network: None,
                ..placement
            },
            started_by: "amagent-pre-deploy".into(),
        })
        .await
        .unwrap();
    assert_eq!(task.task_definition_arn, runnable.arn);
    assert_ne!(runnable.arn, td.arn);
    assert_eq!(task.started_by, "amagent-pre-deploy");
    // The command override reached ECS as sent.
    let raw = aws_sdk_ecs::Client::new(aws.sdk_config())
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(&task.task_arn)
        .send()
        .await
        .unwrap();
    let overrides = raw.tasks()[0].overrides().unwrap();
    let container = &overrides.container_overrides()[0];
    assert_eq!(container.name(), Some("api"));
    assert_eq!(container.command(), command.as_slice());

    let described = cloud
        .ecs
        .describe_tasks(CLUSTER, std::slice::from_ref(&task.task_arn))
        .await
        .unwrap();
    assert_eq!(described.len(), 1);
    assert_ne!(described[0].last_status, "STOPPED");

    let reason = "amagent: pre-deploy task timed out after 600 s";
    cloud
        .ecs
        .stop_task(CLUSTER, &task.task_arn, reason)
        .await
        .unwrap();
    let stopped = cloud
        .ecs
        .describe_tasks(CLUSTER, std::slice::from_ref(&task.task_arn))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(stopped.last_status, "STOPPED");
    assert_eq!(stopped.stopped_reason.as_deref(), Some(reason));
}

#[tokio::test]
async fn run_task_of_a_revision_that_does_not_exist_is_refused() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    let cloud = aws.cloud();
    seed(&aws, &endpoint, &cloud).await;
    let err = cloud
        .ecs
        .run_task(&RunTask {
            cluster: CLUSTER.into(),
            task_definition: "aussie-markets-api-task:99".into(),
            container: "api".into(),
            command: vec!["true".into()],
            placement: Default::default(),
            started_by: "amagent-pre-deploy".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CloudError::NotFound { .. } | CloudError::InvalidRequest { .. }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_log_tail_is_the_last_lines_oldest_first_and_a_missing_stream_is_none() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    let cloud = aws.cloud();
    let logs = aws_sdk_cloudwatchlogs::Client::new(aws.sdk_config());
    let (group, stream) = ("/aws/ecs/api", "api/api/0123456789abcdef");
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<_> = (0..30)
        .map(|i| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now + i)
                .message(format!("line {i:02}\n"))
                .build()
                .unwrap()
        })
        .collect();
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();

    let tail = cloud.logs.tail(group, stream, 20).await.unwrap().unwrap();
    let expected: Vec<String> = (10..30).map(|i| format!("line {i:02}")).collect();
    assert_eq!(tail, expected);
    assert_eq!(
        cloud.logs.tail(group, "api/api/nothere", 20).await.unwrap(),
        None
    );
    assert_eq!(
        cloud.logs.tail("/no/such/group", stream, 20).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn ecs_deployment_alarms_are_read_and_update_service_hands_them_back() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    let cloud = aws.cloud();
    let td = seed(&aws, &endpoint, &cloud).await;
    let alarms = DeploymentAlarms {
        alarm_names: vec!["api-5xx".into()],
        enable: true,
        rollback: false,
    };
    let config = |alarms: Option<DeploymentAlarms>| DeploymentConfiguration {
        minimum_healthy_percent: 100,
        maximum_percent: 200,
        circuit_breaker: None,
        alarms,
    };
    let update = |alarms| UpdateService {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
        task_definition: td.arn.clone(),
        desired_count: Some(1),
        deployment_configuration: Some(config(alarms)),
        health_check_grace_period_seconds: None,
    };
    let updated = cloud
        .ecs
        .update_service(&update(Some(alarms.clone())))
        .await
        .unwrap();
    assert_eq!(
        updated.deployment_configuration.alarms,
        Some(alarms.clone())
    );
    let described = cloud
        .ecs
        .describe_services(CLUSTER, &[SERVICE.to_string()])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(described.deployment_configuration.alarms, Some(alarms));
}
