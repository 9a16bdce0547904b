//! `amagent doctor`: does the AWS account match the environment spec? Every resource the spec
//! names is looked up, and each found service's live state is checked for what would block a
//! deploy (`live`); each check says ✓, ✗ with what to do and where it is configured, or ! for
//! what the agent cannot verify itself.

pub mod codebuild;
mod gates;
pub mod grants;
mod live;
mod notify;
pub mod promotion_source;
mod secrets;

use crate::cloud::{Cloud, CloudError, DESCRIBE_SERVICES_BATCH, ResourceKind};
use crate::config::position::{FieldPath, PositionIndex};
use crate::config::{Environment, Service};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub check: String,
    pub subject: String,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Passes, but names something to verify by hand (e.g. the execution role's policy).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

/// Where a field is written, for fixes: `environments/staging.yaml:45 (services[0].loadBalancer.targetGroup)`.
pub struct SpecLocator {
    file: String,
    index: PositionIndex,
}

impl SpecLocator {
    pub fn new(file: &str, text: &str) -> Self {
        SpecLocator {
            file: file.to_string(),
            index: PositionIndex::build(text),
        }
    }

    pub(crate) fn at(&self, path: &FieldPath) -> String {
        format!(
            "{}:{} ({path})",
            self.file,
            self.index.value_position(path).line
        )
    }
}

fn ok(check: &str, subject: &str, detail: impl Into<String>) -> Check {
    Check {
        check: check.into(),
        subject: subject.into(),
        ok: true,
        detail: detail.into(),
        fix: None,
        warning: false,
    }
}

fn bad(check: &str, subject: &str, detail: impl Into<String>, fix: String) -> Check {
    Check {
        check: check.into(),
        subject: subject.into(),
        ok: false,
        detail: detail.into(),
        fix: Some(fix),
        warning: false,
    }
}

/// The verdict for a lookup: found, not found (create it or fix the spec), or another error.
fn lookup<T>(
    check: &str,
    subject: &str,
    result: Result<T, CloudError>,
    found: impl FnOnce(T) -> String,
    configured: String,
) -> Check {
    match result {
        Ok(v) => ok(check, subject, found(v)),
        Err(CloudError::NotFound { .. }) => bad(
            check,
            subject,
            "not found",
            format!("create it, or correct the name at {configured}"),
        ),
        Err(e @ CloudError::AccessDenied { .. }) => bad(
            check,
            subject,
            e.to_string(),
            "add the action to the agent's role (docs/iam-policy.json)".into(),
        ),
        Err(e) => bad(
            check,
            subject,
            e.to_string(),
            "retry; if it persists, check the region and endpoint".into(),
        ),
    }
}

/// Look up everything `env` names. `identity` is the STS caller identity check, done by the
/// caller (it is not a port: the simulator has no credentials).
pub async fn examine(cloud: &Cloud, env: &Environment, spec: &SpecLocator) -> Vec<Check> {
    let root = FieldPath::root();
    let mut checks = Vec::new();
    let cluster = &env.ecs.cluster;

    // Services, in DescribeServices batches; a missing cluster shows here.
    let names: Vec<String> = env.services.iter().map(|s| s.ecs.service.clone()).collect();
    let mut found = Vec::new();
    let mut cluster_error = None;
    for chunk in names.chunks(DESCRIBE_SERVICES_BATCH) {
        match cloud.ecs.describe_services(cluster, chunk).await {
            Ok(services) => found.extend(services),
            Err(CloudError::NotFound {
                kind: ResourceKind::Service,
                ..
            }) => {}
            Err(e) => cluster_error = Some(e),
        }
    }
    checks.push(match cluster_error {
        None => ok("ECS cluster", cluster, "found"),
        Some(e) => lookup::<()>(
            "ECS cluster",
            cluster,
            Err(e),
            |_| String::new(),
            spec.at(&root.key("ecs").key("cluster")),
        ),
    });
    let found_names: Vec<String> = found.iter().map(|s| s.service_name.clone()).collect();
    let controllers = live::controllers(cloud, cluster, &found_names).await;
    for (i, s) in env.services.iter().enumerate() {
        let sp = root.key("services").index(i);
        let live = found.iter().find(|f| f.service_name == s.ecs.service);
        checks.push(if live.is_some() {
            ok("ECS service", &s.ecs.service, "found")
        } else {
            bad(
                "ECS service",
                &s.ecs.service,
                "not found",
                format!(
                    "create it in cluster {cluster}, or correct the name at {}",
                    spec.at(&sp.key("ecs").key("service"))
                ),
            )
        });
        if let Some(live) = live {
            let controller = controllers
                .iter()
                .find(|(n, _)| *n == s.ecs.service)
                .map(|(_, c)| c.as_str());
            checks.extend(live::service_checks(cloud, spec, &sp, s, live, controller).await);
        }
        checks.extend(resources(cloud, spec, &sp, s).await);
    }
    if let Some(db) = &env.database {
        checks.push(lookup(
            "RDS instance",
            &db.instance_id,
            cloud.rds.describe_db_instance(&db.instance_id).await,
            |i| format!("status {}", i.status),
            spec.at(&root.key("database").key("instanceId")),
        ));
    }
    checks.extend(notify::checks(cloud, spec, env).await);
    checks
}

/// The resources one service names: task family, target group, ECR repository, secrets.
async fn resources(cloud: &Cloud, spec: &SpecLocator, sp: &FieldPath, s: &Service) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.push(lookup(
        "task definition family",
        &s.ecs.task_family,
        cloud.ecs.describe_task_definition(&s.ecs.task_family).await,
        |td| format!("latest revision {}", td.revision),
        spec.at(&sp.key("ecs").key("taskFamily")),
    ));
    for (lb, lbp) in live::load_balancer_paths(s, sp) {
        checks.push(lookup(
            "target group",
            &lb.target_group,
            cloud
                .elb
                .describe_target_groups(std::slice::from_ref(&lb.target_group))
                .await,
            |groups| {
                groups
                    .first()
                    .map(|g| format!("port {}, health check {}", g.port, g.health_check_path))
                    .unwrap_or_default()
            },
            spec.at(&lbp.key("targetGroup")),
        ));
    }
    checks.push(lookup(
        "ECR repository",
        &s.image.repository,
        cloud.ecr.describe_images(&s.image.repository).await,
        |images| format!("{} image(s)", images.len()),
        spec.at(&sp.key("image").key("repository")),
    ));
    checks.extend(secrets::checks(cloud, spec, sp, s).await);
    checks.extend(gates::checks(cloud, spec, sp, s).await);
    checks
}

/// The credentials check from an STS identity (or its failure).
pub fn identity_check(
    env: &Environment,
    spec: &SpecLocator,
    identity: Result<(String, String), CloudError>,
) -> Check {
    match identity {
        Ok((account, arn)) if account == env.aws.account_id => ok("credentials", &arn, format!("account {account}")),
        Ok((account, arn)) => bad(
            "credentials",
            &arn,
            format!("for account {account}, but the spec says {}", env.aws.account_id),
            format!("use credentials for account {} (AWS_PROFILE), or correct {}", env.aws.account_id, spec.at(&FieldPath::root().key("aws").key("accountId"))),
        ),
        Err(e) => bad(
            "credentials",
            "STS GetCallerIdentity",
            e.to_string(),
            "configure credentials: AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, or a task/instance role".into(),
        ),
    }
}
