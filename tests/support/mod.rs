//! Helpers shared by the integration tests that talk to moto.
#![allow(dead_code)]

pub mod moto;
pub mod registry;

use amagent::cloud::aws::Aws;

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
