//! The typed model of `environments/<env>.yaml` and `pipelines/<name>.yaml` (apiVersion
//! `amagent/v1`). Field names in YAML are camelCase; docs/configuration.md documents each one.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const API_VERSION: &str = "amagent/v1";

/// `environments/<name>.yaml`. `S` is the service type: the loader first reads services as raw
/// YAML values so that a broken service does not hide errors in the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentSpec<S> {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub aws: Aws,
    pub ecs: Ecs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    pub ecr: Ecr,
    pub ssm: Ssm,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
    /// When what runs drifts from Git (a console edit, another tool's deploy), deploy Git's
    /// state again through the gate. Off by default: drift is only reported.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_heal: bool,
    /// GitHub Deployments for each apply (on by default when the agent reports to GitHub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<super::notify::GitHubSettings>,
    /// Where to tell people how runs go (Slack, webhooks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<super::notify::NotifyTarget>,
    #[serde(default)]
    pub services: Vec<S>,
}

/// A loaded, validated environment.
pub type Environment = EnvironmentSpec<Service>;

impl Environment {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The snapshot policy in force (`never` without a database).
    pub fn snapshot_policy(&self) -> SnapshotPolicy {
        self.database
            .as_ref()
            .map(|d| d.snapshots.policy)
            .unwrap_or(SnapshotPolicy::Never)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Aws {
    pub region: String,
    /// 12 digits, quoted in YAML so that leading zeros survive.
    pub account_id: String,
    /// An IAM role (in `accountId`) the agent assumes for everything in this environment:
    /// one agent serving several accounts. Without it, the agent's own credentials are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The external id the role's trust policy requires, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ecs {
    pub cluster: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Database {
    pub instance_id: String,
    pub snapshots: Snapshots,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshots {
    pub policy: SnapshotPolicy,
    /// How many of the agent's own manual snapshots to keep (RDS allows 100 per region).
    #[serde(default = "default_snapshot_retain")]
    pub retain: u32,
}

fn default_snapshot_retain() -> u32 {
    10
}

/// When to take a manual RDS snapshot before a deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotPolicy {
    /// Before every deploy.
    Always,
    /// When the source tag's semver major increases, or the service is marked `migrations: true`.
    Major,
    Never,
}

impl SnapshotPolicy {
    pub const NAMES: [&'static str; 3] = ["always", "major", "never"];
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ecr {
    pub lifecycle: Lifecycle,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifecycle {
    /// Keep this many most recent tagged images (images in use are always kept).
    pub keep_last_tagged: u32,
    /// Expire untagged images this many days after push.
    pub expire_untagged_after_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ssm {
    /// Naming convention for secret parameters, with `{env}`, `{service}` and `{secret}`
    /// placeholders, e.g. `/aussie-markets/{env}/{service}/{secret}`.
    pub naming: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Promotion {
    /// The environment whose verified digests this one receives.
    pub from: String,
    /// Tags on the environments repo that promote, as `<prefix>*` where `*` stands for a semver
    /// version, e.g. `v*` matches `v1.4.0`.
    pub tag_pattern: String,
    /// Optional semver requirement the version must meet, e.g. `>=1.0.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_requirement: Option<String>,
    /// Promote only when the source environment has run the tag's digests this long since it
    /// verified them (and none went bad there). The agent promotes by itself when it is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_minutes: Option<u32>,
    /// A person says yes first: the agent asks on the pull requests the promotion carries and
    /// waits for `/amagent approve` (or `amagent approve`) from an approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// `promotion.approval`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Approval {
    /// Off: promote without asking (the block can stay written down).
    #[serde(default = "yes")]
    pub required: bool,
    /// GitHub logins (`ada`) and teams (`aussie-markets/platform`) who may approve. Empty:
    /// anyone with write access to the environments repo.
    #[serde(default)]
    pub approvers: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Promotion {
    /// The literal prefix of `tag_pattern` (validated to be `<prefix>*`).
    pub fn tag_prefix(&self) -> &str {
        self.tag_pattern
            .strip_suffix('*')
            .unwrap_or(&self.tag_pattern)
    }

    /// The semver version a tag names, if the tag matches this promotion's pattern and
    /// requirement.
    pub fn matching_version(&self, tag: &str) -> Option<semver::Version> {
        let version = semver::Version::parse(tag.strip_prefix(self.tag_prefix())?).ok()?;
        match &self.version_requirement {
            Some(req) => semver::VersionReq::parse(req)
                .ok()
                .filter(|r| r.matches(&version))
                .map(|_| version),
            None => Some(version),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub pipeline: String,
    /// The service runs database migrations on start: `major` snapshot policy snapshots
    /// before every deploy of it.
    #[serde(default)]
    pub migrations: bool,
    pub ecs: ServiceEcs,
    pub image: Image,
    pub source: Source,
    /// Fargate CPU units (256 = 0.25 vCPU).
    pub cpu: u32,
    /// MiB.
    pub memory: u32,
    /// Tasks to run, or `managed` (an autoscaler sets it).
    #[serde(default)]
    pub desired_count: super::desired_count::DesiredCount,
    /// Plain environment variables. Credentials belong in `secrets`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variable name → SSM parameter name. The agent never reads the values.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// The target group the service registers its tasks in (one; for several, `loadBalancers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    /// Several target groups (e.g. a public and an internal load balancer): a deploy passes only
    /// when every one reports the new tasks healthy. Not together with `loadBalancer`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<LoadBalancer>,
    #[serde(default)]
    pub deploy: DeploySettings,
    /// A one-off task (e.g. database migrations) run with the new revision before the service
    /// is updated: exit code 0 lets the deploy go on, anything else stops it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_deploy: Option<PreDeploy>,
}

/// `preDeploy`: one task of the new task definition, placed like the service's tasks (its
/// subnets, security groups, capacity provider strategy or launch type), with the container's
/// command replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreDeploy {
    /// The command, one word per item, e.g. `[npm, run, migrate]`.
    pub command: Vec<String>,
    /// Stop the task (and the deploy) if it has not finished in this time.
    #[serde(default = "default_pre_deploy_timeout")]
    pub timeout_seconds: u32,
    /// The container to run the command in (default: the service's `ecs.container`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

fn default_pre_deploy_timeout() -> u32 {
    600
}

impl PreDeploy {
    /// The container the command runs in.
    pub fn container<'a>(&'a self, service: &'a Service) -> &'a str {
        self.container.as_deref().unwrap_or(&service.ecs.container)
    }
}

impl Service {
    /// Every target group the spec names: `loadBalancer`, then `loadBalancers`.
    pub fn target_groups(&self) -> Vec<&LoadBalancer> {
        self.load_balancer
            .iter()
            .chain(self.load_balancers.iter())
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceEcs {
    pub service: String,
    pub task_family: String,
    pub container: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    /// ECR repository name, e.g. `aussie-markets/api`.
    pub repository: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// Git URL of the service's source: https, ssh, `git@host:path`, file URL or local path.
    pub url: String,
    /// A full 40-character commit SHA or a tag.
    #[serde(rename = "ref")]
    pub reference: String,
}

impl Source {
    /// True when `ref` is a full commit SHA rather than a tag.
    pub fn is_commit(&self) -> bool {
        is_full_sha(&self.reference)
    }

    /// The semver version of a tag ref (`v1.4.0` or `1.4.0`); None for SHAs and other tags.
    pub fn version(&self) -> Option<semver::Version> {
        if self.is_commit() {
            return None;
        }
        let r = &self.reference;
        semver::Version::parse(r.strip_prefix('v').unwrap_or(r)).ok()
    }
}

pub(crate) fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    /// Target group name (or ARN).
    pub target_group: String,
    pub container_port: u16,
    pub health_check_path: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DeploySettings {
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    /// After every new target is healthy, watch this long for a new-task exit or an unhealthy
    /// target before declaring success.
    pub bake_seconds: u32,
    /// Give up (and roll back) if the rollout has not succeeded in this time.
    pub timeout_seconds: u32,
    pub auto_rollback: bool,
    /// CloudWatch alarm names: one entering ALARM during the rollout or the bake fails the
    /// gate and rolls back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// ECS's healthCheckGracePeriodSeconds: failing load balancer and container health checks
    /// are ignored this long after a task starts, by ECS and by the deploy gate. Set: a deploy
    /// sets it on the service. Unset: the service keeps its own, and the gate honours that.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<u32>,
    /// After the gate rolls this service back, open a pull request that returns Git to what
    /// runs (as `amagent rollback --revert-pr` does). Off by default.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub revert_pr: bool,
}

impl Default for DeploySettings {
    fn default() -> Self {
        DeploySettings {
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            bake_seconds: 120,
            timeout_seconds: 900,
            auto_rollback: true,
            alarms: Vec::new(),
            health_check_grace_period_seconds: None,
            revert_pr: false,
        }
    }
}

/// `pipelines/<name>.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pipeline {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub build: Build,
    /// Which stages this pipeline runs (they always run in the order build, snapshot, deploy,
    /// lifecycle). Default: all four.
    #[serde(default = "StageKind::all")]
    pub stages: Vec<StageKind>,
}

impl Pipeline {
    pub fn runs(&self, stage: StageKind) -> bool {
        self.stages.contains(&stage)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Build {
    /// Build context, relative to the source repo root.
    pub context: String,
    /// Dockerfile, relative to the context.
    pub dockerfile: String,
    pub args: BTreeMap<String, String>,
    /// `linux/amd64` or `linux/arm64` (Fargate's platforms).
    pub platform: String,
    /// Where the image is built: `local` (default) or `codebuild`.
    pub builder: super::codebuild::BuilderChoice,
    /// The CodeBuild project and source bucket, for `builder: codebuild`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codebuild: Option<super::codebuild::CodeBuildSettings>,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            context: ".".into(),
            dockerfile: "Dockerfile".into(),
            args: BTreeMap::new(),
            platform: "linux/amd64".into(),
            builder: Default::default(),
            codebuild: None,
        }
    }
}

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    Build,
    Snapshot,
    Deploy,
    Lifecycle,
}

impl StageKind {
    pub const NAMES: [&'static str; 4] = ["build", "snapshot", "deploy", "lifecycle"];

    pub fn all() -> Vec<StageKind> {
        vec![
            StageKind::Build,
            StageKind::Snapshot,
            StageKind::Deploy,
            StageKind::Lifecycle,
        ]
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl std::fmt::Display for StageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything in one environments repo at one revision.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Model {
    pub environments: BTreeMap<String, Environment>,
    pub pipelines: BTreeMap<String, Pipeline>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promotion(pattern: &str, req: Option<&str>) -> Promotion {
        Promotion {
            from: "staging".into(),
            tag_pattern: pattern.into(),
            version_requirement: req.map(String::from),
            soak_minutes: None,
            approval: None,
        }
    }

    #[test]
    fn promotion_matches_prefixed_semver_tags() {
        let p = promotion("v*", None);
        assert_eq!(
            p.matching_version("v1.4.0"),
            Some(semver::Version::new(1, 4, 0))
        );
        assert_eq!(p.matching_version("1.4.0"), None);
        assert_eq!(p.matching_version("v1.4"), None);
        let p = promotion("release-*", Some(">=2.0.0"));
        assert_eq!(p.matching_version("release-1.9.9"), None);
        assert!(p.matching_version("release-2.0.0").is_some());
    }

    #[test]
    fn source_version_reads_tags_not_shas() {
        let mut s = Source {
            url: "x".into(),
            reference: "v2.1.0".into(),
        };
        assert_eq!(s.version(), Some(semver::Version::new(2, 1, 0)));
        s.reference = "0123456789abcdef0123456789abcdef01234567".into();
        assert!(s.is_commit());
        assert_eq!(s.version(), None);
    }
}
