//! The real AWS adapters, on aws-config and the aws-sdk crates: one per port.
//!
//! Credentials come from the standard chain (environment, profile, SSO, web identity, ECS task
//! role, IMDS). `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_<SERVICE>` variables
//! are honoured by aws-config; S3 switches to path-style addressing when an endpoint is set.
//! Throttling uses the SDK's adaptive retry mode with bounded attempts and timeouts; the deploy
//! engine's own backoff sits on top for longer storms.

mod cloudwatch;
mod codebuild;
mod codebuild_shapes;
mod ecr;
mod ecs;
mod ecs_run;
mod elb;
pub mod error;
pub mod iam;
mod raw_body;
mod rds;
mod s3;
mod ssm;
mod taskdef;

use super::Cloud;
use crate::cloud::{CloudError, ResourceKind};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use std::sync::Arc;
use std::time::Duration;

/// Where and as whom: the account and region from the environment spec.
#[derive(Clone, Debug)]
pub struct Target {
    pub account: String,
    pub region: String,
}

/// A loaded AWS configuration, for the ports and for `doctor`'s identity check.
pub struct Aws {
    config: aws_config::SdkConfig,
    target: Target,
}

/// An IAM role to assume for every call (STS AssumeRole on top of the credential chain; the
/// SDK's identity cache refreshes the session before it expires).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AssumeRole {
    pub arn: String,
    pub external_id: Option<String>,
    /// Shown in CloudTrail as who acted, e.g. `amagent-production`.
    pub session_name: String,
}

/// Overrides for tests and unusual set-ups (the environment covers the usual ones).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Send every call here (like `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// Use these (access key id, secret) instead of the credential chain.
    pub static_credentials: Option<(String, crate::secret::Secret)>,
    /// Act as this role (another account's deployer role) with the credentials above.
    pub assume_role: Option<AssumeRole>,
}

impl Aws {
    /// The standard configuration: credential chain, `AWS_ENDPOINT_URL*`, the spec's region.
    pub async fn connect(target: Target) -> Self {
        Self::connect_with(target, Options::default()).await
    }

    pub async fn connect_with(target: Target, options: Options) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(endpoint) = &options.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some((key, secret)) = &options.static_credentials {
            loader = loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
                key,
                secret.expose(),
                None,
                None,
                "amagent-static",
            ));
        }
        let config = loader
            .region(Region::new(target.region.clone()))
            .retry_config(RetryConfig::adaptive().with_max_attempts(4))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .read_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(90))
                    .build(),
            )
            .load()
            .await;
        let config = match &options.assume_role {
            Some(role) => assume(config, role).await,
            None => config,
        };
        Aws { config, target }
    }

    /// One adapter per port, sharing this configuration.
    pub fn cloud(&self) -> Cloud {
        let c = &self.config;
        // Path-style: custom endpoints (moto, MinIO, VPC endpoints by IP) rarely do virtual hosts.
        let s3_config = aws_sdk_s3::config::Builder::from(c)
            .force_path_style(
                c.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some(),
            )
            .build();
        Cloud {
            ecs: Arc::new(ecs::AwsEcs {
                client: aws_sdk_ecs::Client::new(c),
            }),
            elb: Arc::new(elb::AwsElb {
                client: aws_sdk_elasticloadbalancingv2::Client::new(c),
            }),
            rds: Arc::new(rds::AwsRds {
                client: aws_sdk_rds::Client::new(c),
            }),
            ecr: Arc::new(ecr::AwsEcr {
                client: aws_sdk_ecr::Client::new(c),
                account: self.target.account.clone(),
                region: self.target.region.clone(),
                token: std::sync::Mutex::new(None),
            }),
            s3: Arc::new(s3::AwsS3 {
                client: aws_sdk_s3::Client::from_conf(s3_config),
            }),
            ssm: Arc::new(ssm::AwsSsm {
                client: aws_sdk_ssm::Client::new(c),
                secrets: aws_sdk_secretsmanager::Client::new(c),
                account: self.target.account.clone(),
                region: self.target.region.clone(),
            }),
            logs: Arc::new(cloudwatch::AwsLogs {
                client: aws_sdk_cloudwatchlogs::Client::new(c),
            }),
            alarms: Arc::new(cloudwatch::AwsAlarms {
                client: aws_sdk_cloudwatch::Client::new(c),
            }),
            builds: Arc::new(codebuild::AwsBuilds {
                client: aws_sdk_codebuild::Client::new(c),
            }),
        }
    }

    /// The raw SDK configuration (tests seed moto with it).
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.config
    }

    /// STS GetCallerIdentity: who the credentials belong to (account, ARN).
    pub async fn caller_identity(&self) -> Result<(String, String), CloudError> {
        let out = aws_sdk_sts::Client::new(&self.config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                error::map(
                    "GetCallerIdentity",
                    error::Subject {
                        kind: ResourceKind::Service,
                        name: "sts",
                    },
                    e,
                )
            })?;
        Ok((
            out.account().unwrap_or_default().to_string(),
            out.arn().unwrap_or_default().to_string(),
        ))
    }
}

/// `base` with its credentials replaced by the role's, assumed with `base`'s credentials.
async fn assume(base: aws_config::SdkConfig, role: &AssumeRole) -> aws_config::SdkConfig {
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.arn)
        .session_name(&role.session_name)
        .configure(&base);
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    base.into_builder()
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
            provider,
        ))
        .build()
}
