//! The aws-sdk adapters on the wire, against moto (a real HTTP server speaking AWS's
//! protocols). Every port operation moto supports is exercised here.
//!
//! moto cannot progress ECS deployments (its tasks never start, targets never turn healthy), so
//! rollout *dynamics* — the gate, rollbacks, circuit breaker — are covered on the simulator
//! (tests/fault_matrix.rs); here we check request and response shapes. `contract.rs` runs the
//! same steps on both and compares what can be observed.

mod support;

use amagent::cloud::aws::Aws;
use amagent::cloud::types::{DesiredStatus, PutCondition, TaskDefinition, UpdateService};
use amagent::cloud::{Cloud, CloudError, ResourceKind};

const FIXTURE: &str = include_str!("fixtures/ecs-describe-task-definition-staging.json");
const CLUSTER: &str = "aussie-markets-staging";

async fn connect(endpoint: &str) -> Aws {
    support::connect(endpoint).await
}

fn fixture_task_definition() -> TaskDefinition {
    let v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    serde_json::from_value(v["taskDefinition"].clone()).unwrap()
}

/// Cluster + `n` Fargate services on the fixture's family, as an operator would have made them.
async fn seed_ecs(aws: &Aws, endpoint: &str, cloud: &Cloud, n: usize) -> TaskDefinition {
    let client = aws_sdk_ecs::Client::new(aws.sdk_config());
    client
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
    for i in 0..n {
        support::fargate_service(
            aws,
            endpoint,
            CLUSTER,
            &format!("svc-{i:02}"),
            &registered.arn,
        )
        .await;
    }
    registered
}

#[tokio::test]
async fn task_definitions_round_trip_fargate_awsvpc_secrets_and_logs() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = connect(&endpoint).await;
    let cloud = aws.cloud();
    let sent = fixture_task_definition();
    let registered = cloud.ecs.register_task_definition(&sent).await.unwrap();
    assert_eq!(registered.family, "aussie-markets-api-task");
    assert_eq!(registered.revision, 1);
    let back = cloud
        .ecs
        .describe_task_definition(&registered.family_revision())
        .await
        .unwrap();
    assert_eq!(back.network_mode.as_deref(), Some("awsvpc"));
    assert_eq!(back.requires_compatibilities, ["FARGATE"]);
    assert_eq!(
        (back.cpu.as_deref(), back.memory.as_deref()),
        (Some("256"), Some("512"))
    );
    let (a, b) = (
        sent.container("api").unwrap(),
        back.container("api").unwrap(),
    );
    assert_eq!(b.image, a.image);
    assert_eq!(b.secrets, a.secrets, "secrets stay valueFrom SSM ARNs");
    assert_eq!(b.environment, a.environment);
    assert_eq!(
        b.extra.get("logConfiguration"),
        a.extra.get("logConfiguration")
    );
    assert_eq!(b.port_mappings[0].container_port, Some(3000));
    // Registering again makes revision 2; the family's latest is it.
    cloud.ecs.register_task_definition(&sent).await.unwrap();
    assert_eq!(
        cloud
            .ecs
            .describe_task_definition("aussie-markets-api-task")
            .await
            .unwrap()
            .revision,
        2
    );
}

#[tokio::test]
async fn members_amagent_does_not_manage_are_carried_not_refused() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let cloud = connect(&endpoint).await.cloud();
    let mut td = fixture_task_definition();
    let proxy = serde_json::json!({
        "type": "APPMESH",
        "containerName": "envoy",
        "properties": [{ "name": "AppPorts", "value": "3000" }]
    });
    td.extra.insert("proxyConfiguration".into(), proxy.clone());
    let tags = serde_json::json!([{ "key": "team", "value": "markets" }]);
    td.extra.insert("tags".into(), tags.clone());
    let registered = cloud.ecs.register_task_definition(&td).await.unwrap();
    let back = cloud
        .ecs
        .describe_task_definition(&registered.family_revision())
        .await
        .unwrap();
    assert_eq!(back.extra.get("proxyConfiguration"), Some(&proxy));
    assert_eq!(
        back.extra.get("tags"),
        Some(&tags),
        "described with include=TAGS"
    );
}

#[tokio::test]
async fn update_service_and_describe_in_batches_of_ten() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = connect(&endpoint).await;
    let cloud = aws.cloud();
    let first = seed_ecs(&aws, &endpoint, &cloud, 12).await;
    let names: Vec<String> = (0..12).map(|i| format!("svc-{i:02}")).collect();
    let err = cloud
        .ecs
        .describe_services(CLUSTER, &names)
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest { .. }), "{err}");
    let ten = cloud
        .ecs
        .describe_services(CLUSTER, &names[..10])
        .await
        .unwrap();
    assert_eq!(ten.len(), 10);
    assert_eq!(ten[0].task_definition, first.arn);

    let second = cloud
        .ecs
        .register_task_definition(&fixture_task_definition())
        .await
        .unwrap();
    let updated = cloud
        .ecs
        .update_service(&UpdateService {
            cluster: CLUSTER.into(),
            service: "svc-00".into(),
            task_definition: second.arn.clone(),
            desired_count: Some(2),
            deployment_configuration: Some(amagent::cloud::types::DeploymentConfiguration {
                minimum_healthy_percent: 100,
                maximum_percent: 200,
                circuit_breaker: Some(amagent::cloud::types::CircuitBreaker {
                    enable: true,
                    rollback: false,
                }),
                alarms: None,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(updated.task_definition, second.arn);
    assert_eq!(updated.desired_count, 2);
    // moto keeps the service's single deployment as it was (it never starts a new one): the
    // PRIMARY-deployment behaviour is covered on the simulator.
    assert!(updated.primary().is_some());
    let described = cloud
        .ecs
        .describe_services(CLUSTER, &names[..1])
        .await
        .unwrap();
    assert_eq!(described[0].deployment_configuration.maximum_percent, 200);
    // Tasks: listing follows pagination; describing takes ≤ 100.
    let running = cloud
        .ecs
        .list_tasks(CLUSTER, "svc-00", DesiredStatus::Running)
        .await
        .unwrap();
    let tasks = cloud.ecs.describe_tasks(CLUSTER, &running).await.unwrap();
    assert_eq!(tasks.len(), running.len());
    let too_many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    assert!(cloud.ecs.describe_tasks(CLUSTER, &too_many).await.is_err());
}

#[tokio::test]
async fn missing_cluster_service_and_family_say_which() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let cloud = connect(&endpoint).await.cloud();
    let err = cloud
        .ecs
        .describe_services("no-such-cluster", &["api".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err}");
    let err = cloud
        .ecs
        .describe_task_definition("no-such-family")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CloudError::NotFound {
                kind: ResourceKind::TaskDefinition,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn target_groups_and_target_health() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = connect(&endpoint).await;
    let cloud = aws.cloud();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(aws.sdk_config());
    let vpc = support::vpc(&endpoint).await;
    let created = elb
        .create_target_group()
        .name("aussie-markets-api-staging")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(3000)
        .vpc_id(vpc)
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .health_check_path("/api/v1/health")
        .send()
        .await
        .unwrap();
    let arn = created.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let groups = cloud
        .elb
        .describe_target_groups(&["aussie-markets-api-staging".into()])
        .await
        .unwrap();
    assert_eq!(groups[0].arn, arn);
    assert_eq!(groups[0].port, 3000);
    assert_eq!(groups[0].health_check_path, "/api/v1/health");
    // The rollout knows its groups by ARN (the service's loadBalancers).
    let by_arn = cloud
        .elb
        .describe_target_groups(std::slice::from_ref(&arn))
        .await
        .unwrap();
    assert_eq!(by_arn[0].name, "aussie-markets-api-staging");
    // A name and an ARN in one ask: two requests (AWS takes one kind per request).
    let mixed = cloud
        .elb
        .describe_target_groups(&[arn.clone(), "aussie-markets-api-staging".into()])
        .await
        .unwrap();
    assert_eq!(mixed.len(), 2);
    assert!(mixed.iter().all(|g| g.arn == arn));
    assert_eq!(
        by_arn[0].health_check_interval_seconds,
        groups[0].health_check_interval_seconds
    );
    // DescribeTargetGroupAttributes: ELB's default delay, then the one a team set.
    assert_eq!(cloud.elb.deregistration_delay(&arn).await.unwrap(), 300);
    elb.modify_target_group_attributes()
        .target_group_arn(&arn)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("45")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cloud.elb.deregistration_delay(&arn).await.unwrap(), 45);
    elb.register_targets()
        .target_group_arn(&arn)
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id("10.0.10.5")
                .port(3000)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let health = cloud.elb.describe_target_health(&arn).await.unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].target_id, "10.0.10.5");
    let err = cloud
        .elb
        .describe_target_groups(&["no-such-tg".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, CloudError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn rds_snapshots_create_describe_delete() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = connect(&endpoint).await;
    let cloud = aws.cloud();
    support::db_instance(&aws, "aussie-markets-staging-db").await;
    assert_eq!(
        cloud
            .rds
            .describe_db_instance("aussie-markets-staging-db")
            .await
            .unwrap()
            .status,
        "available"
    );
    let tags = vec![("amagent:managed".to_string(), "true".to_string())];
    let snap = cloud
        .rds
        .create_db_snapshot(
            "aussie-markets-staging-db",
            "amagent-staging-api-manual-20261125-090000",
            &tags,
        )
        .await
        .unwrap();
    assert_eq!(snap.instance_id, "aussie-markets-staging-db");
    let listed = cloud
        .rds
        .describe_db_snapshots("aussie-markets-staging-db")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].tags.get("amagent:managed").map(String::as_str),
        Some("true")
    );
    cloud.rds.delete_db_snapshot(&snap.id).await.unwrap();
    assert!(
        cloud
            .rds
            .describe_db_snapshots("aussie-markets-staging-db")
            .await
            .unwrap()
            .is_empty()
    );
    let err = cloud
        .rds
        .describe_db_instance("no-such-db")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CloudError::NotFound {
                kind: ResourceKind::DbInstance,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn ecr_images_paginate_delete_in_batches_and_keep_policies() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = connect(&endpoint).await;
    let cloud = aws.cloud();
    let ecr = aws_sdk_ecr::Client::new(aws.sdk_config());
    ecr.create_repository()
        .repository_name("aussie-markets/api")
        .send()
        .await
        .unwrap();
    // More than one page (DescribeImages returns 100 per page by default).
    for i in 0..105 {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": format!("sha256:{:064x}", i) },
            "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 100 + i, "digest": format!("sha256:{:064x}", 1000 + i) }]
        });
        ecr.put_image()
            .repository_name("aussie-markets/api")
            .image_manifest(manifest.to_string())
            .image_tag(format!("v1.0.{i}"))
            .send()
            .await
            .unwrap();
    }
    let images = cloud
        .ecr
        .describe_images("aussie-markets/api")
        .await
        .unwrap();
    assert_eq!(images.len(), 105);
    let unique: std::collections::BTreeSet<&str> =
        images.iter().map(|i| i.digest.as_str()).collect();
    assert_eq!(unique.len(), 105, "every image has its own digest");
    let digests: Vec<String> = images.iter().take(3).map(|i| i.digest.clone()).collect();
    let result = cloud
        .ecr
        .batch_delete_image("aussie-markets/api", &digests)
        .await
        .unwrap();
    assert_eq!(result.deleted.len(), 3);
    assert_eq!(
        cloud
            .ecr
            .describe_images("aussie-markets/api")
            .await
            .unwrap()
            .len(),
        102
    );
    let too_many: Vec<String> = (0..101).map(|i| format!("sha256:{i:064x}")).collect();
    assert!(
        cloud
            .ecr
            .batch_delete_image("aussie-markets/api", &too_many)
            .await
            .is_err()
    );

    assert_eq!(
        cloud
            .ecr
            .get_lifecycle_policy("aussie-markets/api")
            .await
            .unwrap(),
        None
    );
    let policy = include_str!("fixtures/ecr-lifecycle-policy-staging.json");
    cloud
        .ecr
        .put_lifecycle_policy("aussie-markets/api", policy)
        .await
        .unwrap();
    let stored: serde_json::Value = serde_json::from_str(
        &cloud
            .ecr
            .get_lifecycle_policy("aussie-markets/api")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored["rules"][1]["selection"]["countNumber"], 10);
    let auth = cloud.ecr.get_authorization_token().await.unwrap();
    assert_eq!(auth.username, "AWS");
    assert!(
        !format!("{auth:?}").contains(auth.password.expose()),
        "the password is redacted"
    );
    let err = cloud.ecr.describe_images("no/such-repo").await.unwrap_err();
    assert!(
        matches!(
            err,
            CloudError::NotFound {
                kind: ResourceKind::Repository,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn s3_get_put_conditional_put_and_list() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = connect(&endpoint).await;
    let cloud = aws.cloud();
    aws_sdk_s3::Client::new(aws.sdk_config())
        .create_bucket()
        .bucket("aussie-markets-staging-logs")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    "ap-southeast-2",
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let b = "aussie-markets-staging-logs";
    assert_eq!(cloud.s3.get(b, "journal/lock").await.unwrap(), None);
    let etag = cloud
        .s3
        .put(b, "journal/lock", b"agent-1", PutCondition::IfAbsent)
        .await
        .unwrap();
    let second = cloud
        .s3
        .put(b, "journal/lock", b"agent-2", PutCondition::IfAbsent)
        .await
        .unwrap_err();
    assert!(
        second.to_string().contains("PreconditionFailed"),
        "{second}"
    );
    let got = cloud.s3.get(b, "journal/lock").await.unwrap().unwrap();
    assert_eq!(got.body, b"agent-1");
    assert!(
        cloud
            .s3
            .put(
                b,
                "journal/lock",
                b"x",
                PutCondition::IfMatch("\"not-it\"".into())
            )
            .await
            .is_err()
    );
    cloud
        .s3
        .put(
            b,
            "journal/lock",
            b"agent-1 again",
            PutCondition::IfMatch(etag),
        )
        .await
        .unwrap();
    cloud
        .s3
        .put(b, "journal/2026/a.json", b"{}", PutCondition::Always)
        .await
        .unwrap();
    assert_eq!(
        cloud.s3.list(b, "journal/").await.unwrap(),
        ["journal/2026/a.json", "journal/lock"]
    );
}

#[tokio::test]
async fn ssm_existence_only() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = connect(&endpoint).await;
    let cloud = aws.cloud();
    let ssm = aws_sdk_ssm::Client::new(aws.sdk_config());
    ssm.put_parameter()
        .name("/aussie-markets/staging/api/database-url")
        .value("postgresql://aussie_markets_admin:hunter2@db:5432/x")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let names = vec![
        "/aussie-markets/staging/api/database-url".to_string(),
        "/aussie-markets/staging/api/redis-url".to_string(),
    ];
    let missing = cloud.ssm.missing(&names).await.unwrap();
    assert_eq!(missing, ["/aussie-markets/staging/api/redis-url"]);
    assert_eq!(
        cloud.ssm.arn("/aussie-markets/staging/api/database-url"),
        "arn:aws:ssm:ap-southeast-2:123456789012:parameter/aussie-markets/staging/api/database-url"
    );
    let eleven: Vec<String> = (0..11).map(|i| format!("/p{i}")).collect();
    assert!(cloud.ssm.missing(&eleven).await.is_err());
}
