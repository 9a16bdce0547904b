//! The shapes the ports exchange: only what the agent reads or writes, named as in the AWS APIs
//! (camelCase JSON, so `../shared/fixtures` payloads deserialize directly).

use crate::secret::Secret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use super::build_types::*;

// ---------------------------------------------------------------- ECS: task definitions

/// A registered task definition (DescribeTaskDefinition) or one to register (then `arn` and
/// `revision` are ignored). Fields amagent does not manage are kept verbatim in `extra`, and so
/// are the definition's `tags` (DescribeTaskDefinition `include=TAGS`; RegisterTaskDefinition
/// takes them back): every member of every nested shape survives a describe → register.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    #[serde(
        default,
        rename = "taskDefinitionArn",
        skip_serializing_if = "String::is_empty"
    )]
    pub arn: String,
    pub family: String,
    #[serde(default)]
    pub revision: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_compatibilities: Vec<String>,
    /// CPU units as ECS returns them (a string, e.g. "256").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// MiB as a string, e.g. "512".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    pub container_definitions: Vec<ContainerDefinition>,
    /// Everything else (volumes, placementConstraints, tags, proxyConfiguration, …), kept as is.
    /// Read-only fields (status, registeredAt, …) are dropped by the render before registering.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Fields DescribeTaskDefinition returns that RegisterTaskDefinition does not take.
pub const TASK_DEFINITION_READ_ONLY: [&str; 7] = [
    "status",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "requiresAttributes",
    "deleteRequestedAt",
];

impl TaskDefinition {
    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name == name)
    }

    /// `family:revision`, the short form people read.
    pub fn family_revision(&self) -> String {
        format!("{}:{}", self.family, self.revision)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<String>,
    /// Members a later API version adds, kept as is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    pub name: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<KeyValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    /// logConfiguration, healthCheck, mountPoints, dependsOn, firelensConfiguration, …: kept as
    /// is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub name: String,
    pub value: String,
}

/// A secret environment variable: ECS resolves `valueFrom` (an SSM parameter ARN) at task
/// start. The agent never sees the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    pub name: String,
    pub value_from: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// None for a `containerPortRange` mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<u16>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

// ---------------------------------------------------------------- ECS: services and tasks

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsService {
    pub service_name: String,
    pub cluster: String,
    pub status: String,
    pub desired_count: u32,
    pub running_count: u32,
    pub pending_count: u32,
    /// ARN of the PRIMARY deployment's task definition.
    pub task_definition: String,
    pub deployments: Vec<Deployment>,
    pub deployment_configuration: DeploymentConfiguration,
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// Newest first, as ECS returns them.
    pub events: Vec<ServiceEvent>,
    /// Where the service's tasks run: a one-off task of the service runs there too.
    #[serde(default)]
    pub placement: TaskPlacement,
    /// `ECS` (rolling update), `CODE_DEPLOY` or `EXTERNAL`: the agent rolls only `ECS`.
    #[serde(default = "ecs_controller")]
    pub deployment_controller: String,
    /// ECS ignores failing load balancer and container health checks this long after a task
    /// starts (None: not set, which ECS treats as 0).
    #[serde(default)]
    pub health_check_grace_period_seconds: Option<u32>,
    /// Where the tasks run (e.g. FARGATE_SPOT); empty when the service uses a launch type.
    /// A deploy never sends it, so it is kept as the service's owner set it.
    #[serde(default)]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
}

fn ecs_controller() -> String {
    "ECS".into()
}

/// Where a service's tasks run: its network configuration and its capacity provider strategy
/// or launch type, as DescribeServices returns them and RunTask takes them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskPlacement {
    /// awsvpc: subnets, security groups, public IP (None for bridge/host networking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<AwsVpc>,
    /// FARGATE, EC2, EXTERNAL; None when a capacity provider strategy is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsVpc {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStrategyItem {
    pub capacity_provider: String,
    #[serde(default)]
    pub weight: u32,
    #[serde(default)]
    pub base: u32,
}

impl EcsService {
    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired_count: u32,
    pub pending_count: u32,
    pub running_count: u32,
    /// Consecutive failed tasks (the circuit breaker's count).
    pub failed_tasks: u32,
    pub rollout_state: RolloutState,
    pub rollout_state_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutState {
    InProgress,
    Completed,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub circuit_breaker: Option<CircuitBreaker>,
    /// ECS's own deployment alarms (`deploymentConfiguration.alarms`): the gate watches them
    /// too, and UpdateService hands them back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<DeploymentAlarms>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentAlarms {
    pub alarm_names: Vec<String>,
    pub enable: bool,
    pub rollback: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLoadBalancer {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEvent {
    pub created_at: DateTime<Utc>,
    pub message: String,
}

/// UpdateService: only what the agent changes. Everything else (capacity provider strategy,
/// load balancers, network configuration, …) is left out of the request, so ECS keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateService {
    pub cluster: String,
    pub service: String,
    /// family:revision or ARN.
    pub task_definition: String,
    pub desired_count: Option<u32>,
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// Sent only when the spec sets it: otherwise the service keeps its own.
    pub health_check_grace_period_seconds: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DesiredStatus {
    Running,
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_arn: String,
    pub task_definition_arn: String,
    /// The deployment that started it (ECS sets `startedBy` to the deployment id).
    pub started_by: String,
    /// PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING,
    /// STOPPED.
    pub last_status: String,
    pub desired_status: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stopped_reason: Option<String>,
    /// The task's ENI address: the target id in an `ip` target group.
    pub private_ip: String,
    /// HEALTHY, UNHEALTHY or UNKNOWN: the health of the task's essential containers (UNKNOWN
    /// when none defines a health check, or none has been checked yet).
    #[serde(default)]
    pub health_status: Option<String>,
    /// Each container's state: a one-off task's outcome is its container's exit code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<TaskContainer>,
}

/// One container of a task, as DescribeTasks shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskContainer {
    pub name: String,
    #[serde(default)]
    pub last_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// HEALTHY, UNHEALTHY or UNKNOWN (no health check, or not checked yet).
    #[serde(default)]
    pub health_status: Option<String>,
}

/// RunTask of one task: a task definition's `container` with its command replaced, placed
/// where a service's tasks run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunTask {
    pub cluster: String,
    /// family:revision or ARN.
    pub task_definition: String,
    pub container: String,
    pub command: Vec<String>,
    pub placement: TaskPlacement,
    /// ECS's `startedBy` (≤ 36 characters), so the task can be told apart.
    pub started_by: String,
}

// ---------------------------------------------------------------- CloudWatch

/// One metric or composite alarm as DescribeAlarms returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmState {
    pub name: String,
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub state: String,
    pub reason: String,
    /// When the state last changed: an alarm that entered ALARM before a rollout began is
    /// not that rollout's doing.
    pub updated_at: DateTime<Utc>,
}

impl AlarmState {
    pub fn in_alarm(&self) -> bool {
        self.state == "ALARM"
    }
}

// ---------------------------------------------------------------- Elastic Load Balancing v2

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub port: u16,
    pub health_check_path: String,
    pub health_check_interval_seconds: u32,
    pub healthy_threshold_count: u32,
    pub unhealthy_threshold_count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealth {
    /// IP address (ip targets) of the task.
    pub target_id: String,
    pub port: u16,
    pub state: TargetState,
    pub reason: Option<String>,
    pub description: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    Initial,
    Healthy,
    Unhealthy,
    Unused,
    Draining,
    Unavailable,
}

// ---------------------------------------------------------------- RDS

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DbInstance {
    pub id: String,
    /// available, backing-up, modifying, …
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DbSnapshot {
    pub id: String,
    pub instance_id: String,
    /// creating, available, failed, deleting.
    pub status: String,
    /// manual or automated.
    pub snapshot_type: String,
    pub created_at: DateTime<Utc>,
    pub tags: BTreeMap<String, String>,
}

// ---------------------------------------------------------------- ECR

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDetail {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_at: DateTime<Utc>,
    pub size_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct BatchDeleteResult {
    pub deleted: Vec<String>,
    /// (digest, reason)
    pub failures: Vec<(String, String)>,
}

/// GetAuthorizationToken, decoded: basic auth for the registry endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryAuth {
    /// e.g. `https://123456789012.dkr.ecr.ap-southeast-2.amazonaws.com`
    pub endpoint: String,
    pub username: String,
    pub password: Secret,
    pub expires_at: DateTime<Utc>,
}

// ---------------------------------------------------------------- Secrets Manager

/// DescribeSecret: that a secret exists and which versions it has — never its value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretDescription {
    pub arn: String,
    /// Version id → its staging labels (`AWSCURRENT`, `AWSPREVIOUS`, …).
    pub versions: BTreeMap<String, Vec<String>>,
}

// ---------------------------------------------------------------- S3

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub etag: String,
}

/// Conditional write: what must hold for a put to happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutCondition {
    Always,
    /// `If-None-Match: *`: only if the key does not exist.
    IfAbsent,
    /// `If-Match: etag`: only if the object is unchanged since it was read.
    IfMatch(String),
}

/// One entry of a capacity provider strategy (RunTask's placement names it so).
pub type CapacityProviderItem = CapacityProviderStrategyItem;
