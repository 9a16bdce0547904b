//! Helpers shared by the integration tests that talk to moto.
#![allow(dead_code)]

pub mod dying;
pub mod envrepo;
pub mod github;
pub mod gitserver;
pub mod moto;
pub mod oci_images;
pub mod oci_layout;
pub mod receiver;
pub mod registry;
pub mod statuses;
pub mod token_trap;
pub mod ui;

use amagent::cloud::aws::Aws;

/// A loopback port nobody listens on right now (for a server a test is about to start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The first `<tag>` in moto's answer to an EC2 query `action` (moto's default VPC, subnets
/// and security group exist in every region). Asked by hand to keep the large EC2 SDK crate out
/// of the build; moto routes the request by the credential scope in the (unchecked)
/// Authorization header.
async fn ec2_first(endpoint: &str, action: &str, tag: &str) -> String {
    let body = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261125/ap-southeast-2/ec2/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(format!("Action={action}&Version=2016-11-15"))
        .send()
        .await
        .expect("moto answers")
        .text()
        .await
        .unwrap();
    let open = format!("<{tag}>");
    let start = body
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in moto's {action}"))
        + open.len();
    let end = body[start..].find('<').unwrap() + start;
    body[start..end].to_string()
}

pub async fn vpc(endpoint: &str) -> String {
    ec2_first(endpoint, "DescribeVpcs", "vpcId").await
}

pub async fn subnet(endpoint: &str) -> String {
    ec2_first(endpoint, "DescribeSubnets", "subnetId").await
}

pub async fn security_group(endpoint: &str) -> String {
    ec2_first(endpoint, "DescribeSecurityGroups", "groupId").await
}

/// An RDS instance as the operator would have it.
pub async fn db_instance(aws: &Aws, id: &str) {
    aws_sdk_rds::Client::new(aws.sdk_config())
        .create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("aussie_markets_admin")
        .master_user_password("not-a-real-password")
        .send()
        .await
        .unwrap();
}

/// A Fargate service on awsvpc (moto's default subnet and security group), 100/200, desired 1,
/// as an operator would have made it.
pub async fn fargate_service(
    aws: &Aws,
    endpoint: &str,
    cluster: &str,
    name: &str,
    task_definition: &str,
) {
    use aws_sdk_ecs::types as ecs;
    aws_sdk_ecs::Client::new(aws.sdk_config())
        .create_service()
        .cluster(cluster)
        .service_name(name)
        .task_definition(task_definition)
        .desired_count(1)
        .launch_type(ecs::LaunchType::Fargate)
        .deployment_configuration(
            ecs::DeploymentConfiguration::builder()
                .minimum_healthy_percent(100)
                .maximum_percent(200)
                .build(),
        )
        .network_configuration(
            ecs::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    ecs::AwsVpcConfiguration::builder()
                        .subnets(subnet(endpoint).await)
                        .security_groups(security_group(endpoint).await)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// The aws adapters pointed at moto, with moto's test credentials and account.
pub async fn connect(endpoint: &str) -> Aws {
    Aws::connect_with(
        amagent::cloud::aws::Target {
            account: "123456789012".into(),
            region: "ap-southeast-2".into(),
        },
        amagent::cloud::aws::Options {
            endpoint: Some(endpoint.to_string()),
            static_credentials: Some(("testing".into(), amagent::secret::Secret::new("testing"))),
            assume_role: None,
        },
    )
    .await
}

/// Create `bucket` in moto's ap-southeast-2.
pub async fn create_bucket(aws: &Aws, bucket: &str) {
    aws_sdk_s3::Client::new(aws.sdk_config())
        .create_bucket()
        .bucket(bucket)
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
}

const FIXTURE: &str = include_str!("../fixtures/ecs-describe-task-definition-staging.json");

/// An account seeded like the staging spec's api service (cluster, service on the fixture's
/// task definition, target group, ECR repository, RDS instance, SSM parameters).
pub async fn seed_staging(endpoint: &str) -> Aws {
    let aws = connect(endpoint).await;
    let cloud = aws.cloud();
    let c = aws.sdk_config();
    let v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let td = cloud
        .ecs
        .register_task_definition(&serde_json::from_value(v["taskDefinition"].clone()).unwrap())
        .await
        .unwrap();
    let ecs_client = aws_sdk_ecs::Client::new(c);
    ecs_client
        .create_cluster()
        .cluster_name("aussie-markets-staging")
        .send()
        .await
        .unwrap();
    fargate_service(
        &aws,
        endpoint,
        "aussie-markets-staging",
        "aussie-markets-api-staging",
        &td.arn,
    )
    .await;
    aws_sdk_elasticloadbalancingv2::Client::new(c)
        .create_target_group()
        .name("aussie-markets-api-staging")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(3000)
        .vpc_id(vpc(endpoint).await)
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .health_check_path("/api/v1/health")
        .send()
        .await
        .unwrap();
    aws_sdk_ecr::Client::new(c)
        .create_repository()
        .repository_name("aussie-markets/api")
        .send()
        .await
        .unwrap();
    db_instance(&aws, "aussie-markets-staging-db").await;
    let ssm = aws_sdk_ssm::Client::new(c);
    for name in ["database-url", "redis-url"] {
        ssm.put_parameter()
            .name(format!("/aussie-markets/staging/api/{name}"))
            .value("never-read")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    aws
}
