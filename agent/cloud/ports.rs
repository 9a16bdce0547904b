//! One trait per AWS service, holding only the calls the agent makes. Adapters: `sim` (the
//! in-process simulator) and, later, the aws-sdk ones. Every method is one API call, so call
//! counts are comparable between them.

use super::error::CloudError;
use super::types::*;
use async_trait::async_trait;

pub type CloudResult<T> = Result<T, CloudError>;

/// ECS allows at most 10 services per DescribeServices call.
pub const DESCRIBE_SERVICES_BATCH: usize = 10;
/// ECS allows at most 100 tasks per DescribeTasks call.
pub const DESCRIBE_TASKS_BATCH: usize = 100;
/// ECR allows at most 100 image ids per BatchDeleteImage call.
pub const BATCH_DELETE_IMAGES: usize = 100;
/// SSM allows at most 10 names per GetParameters call.
pub const GET_PARAMETERS_BATCH: usize = 10;

#[async_trait]
pub trait Ecs: Send + Sync {
    /// DescribeServices; `services.len()` ≤ [`DESCRIBE_SERVICES_BATCH`].
    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> CloudResult<Vec<EcsService>>;
    /// DescribeTaskDefinition by family (latest ACTIVE), `family:revision` or ARN.
    async fn describe_task_definition(&self, task_definition: &str) -> CloudResult<TaskDefinition>;
    /// RegisterTaskDefinition; returns it with its new ARN and revision.
    async fn register_task_definition(&self, td: &TaskDefinition) -> CloudResult<TaskDefinition>;
    async fn update_service(&self, request: &UpdateService) -> CloudResult<EcsService>;
    /// ListTasks of a service (the adapter follows pagination).
    async fn list_tasks(
        &self,
        cluster: &str,
        service: &str,
        desired: DesiredStatus,
    ) -> CloudResult<Vec<String>>;
    /// DescribeTasks; `tasks.len()` ≤ [`DESCRIBE_TASKS_BATCH`].
    async fn describe_tasks(&self, cluster: &str, tasks: &[String]) -> CloudResult<Vec<Task>>;
    /// RunTask of one task; returns it as ECS first describes it (PROVISIONING or PENDING).
    async fn run_task(&self, request: &RunTask) -> CloudResult<Task>;
    /// StopTask with a reason people will read in its stoppedReason.
    async fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> CloudResult<()>;
    /// DescribeServices, for `(service name, deployment controller type)` — `ECS`,
    /// `CODE_DEPLOY` or `EXTERNAL`; `doctor` reads it.
    async fn deployment_controllers(
        &self,
        cluster: &str,
        services: &[String],
    ) -> CloudResult<Vec<(String, String)>> {
        let found = self.describe_services(cluster, services).await?;
        Ok(found
            .into_iter()
            .map(|s| (s.service_name, s.deployment_controller))
            .collect())
    }
    /// DescribeServices, for `(service name, healthCheckGracePeriodSeconds)`; `init` reads it.
    async fn health_check_grace_periods(
        &self,
        cluster: &str,
        services: &[String],
    ) -> CloudResult<Vec<(String, Option<u32>)>> {
        let found = self.describe_services(cluster, services).await?;
        Ok(found
            .into_iter()
            .map(|s| (s.service_name, s.health_check_grace_period_seconds))
            .collect())
    }
}

#[async_trait]
pub trait LoadBalancing: Send + Sync {
    /// DescribeTargetGroups by name.
    async fn describe_target_groups(&self, names: &[String]) -> CloudResult<Vec<TargetGroup>>;
    /// DescribeTargetHealth of every target in one group.
    async fn describe_target_health(
        &self,
        target_group_arn: &str,
    ) -> CloudResult<Vec<TargetHealth>>;
    /// A group's `deregistration_delay.timeout_seconds` (DescribeTargetGroupAttributes): how
    /// long a deregistered target drains before ECS stops its task.
    async fn deregistration_delay(&self, target_group_arn: &str) -> CloudResult<u32>;
}

#[async_trait]
pub trait Rds: Send + Sync {
    async fn describe_db_instance(&self, instance_id: &str) -> CloudResult<DbInstance>;
    async fn create_db_snapshot(
        &self,
        instance_id: &str,
        snapshot_id: &str,
        tags: &[(String, String)],
    ) -> CloudResult<DbSnapshot>;
    /// Manual snapshots of an instance (the adapter follows pagination).
    async fn describe_db_snapshots(&self, instance_id: &str) -> CloudResult<Vec<DbSnapshot>>;
    async fn delete_db_snapshot(&self, snapshot_id: &str) -> CloudResult<()>;
}

#[async_trait]
pub trait Registry: Send + Sync {
    /// DescribeImages of a repository (the adapter follows pagination).
    async fn describe_images(&self, repository: &str) -> CloudResult<Vec<ImageDetail>>;
    /// BatchDeleteImage by digest; ≤ [`BATCH_DELETE_IMAGES`] per call.
    async fn batch_delete_image(
        &self,
        repository: &str,
        digests: &[String],
    ) -> CloudResult<BatchDeleteResult>;
    async fn get_lifecycle_policy(&self, repository: &str) -> CloudResult<Option<String>>;
    async fn put_lifecycle_policy(&self, repository: &str, policy_json: &str) -> CloudResult<()>;
    async fn get_authorization_token(&self) -> CloudResult<RegistryAuth>;
    /// The registry host images are referenced by, e.g.
    /// `123456789012.dkr.ecr.ap-southeast-2.amazonaws.com`.
    fn registry_host(&self) -> String;
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn get(&self, bucket: &str, key: &str) -> CloudResult<Option<StoredObject>>;
    /// Returns the new ETag; a failed condition is `InvalidRequest` with "PreconditionFailed".
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        condition: PutCondition,
    ) -> CloudResult<String>;
    async fn list(&self, bucket: &str, prefix: &str) -> CloudResult<Vec<String>>;
    /// Remove `key` (a missing key is no error, as in S3).
    async fn delete(&self, bucket: &str, key: &str) -> CloudResult<()>;
}

/// CloudWatch Logs: the end of one log stream (the awslogs driver's).
#[async_trait]
pub trait Logs: Send + Sync {
    /// GetLogEvents from the end: the last `limit` messages, oldest first; None when the group
    /// or stream does not exist.
    async fn tail(&self, group: &str, stream: &str, limit: u32)
    -> CloudResult<Option<Vec<String>>>;
}

/// CloudWatch alarms, read only.
#[async_trait]
pub trait Alarms: Send + Sync {
    /// DescribeAlarms by name (metric and composite); names that do not exist are absent;
    /// `names.len()` ≤ [`DESCRIBE_ALARMS_BATCH`].
    async fn describe_alarms(&self, names: &[String]) -> CloudResult<Vec<AlarmState>>;
}

/// CloudWatch allows at most 100 alarm names per DescribeAlarms call.
pub const DESCRIBE_ALARMS_BATCH: usize = 100;

/// Secret references: SSM parameters and Secrets Manager secrets, checked for existence only.
#[async_trait]
pub trait Parameters: Send + Sync {
    /// The names among `names` that do not exist (GetParameters without decryption: values
    /// are never fetched); `names.len()` ≤ [`GET_PARAMETERS_BATCH`].
    async fn missing(&self, names: &[String]) -> CloudResult<Vec<String>>;
    /// `arn:aws:ssm:<region>:<account>:parameter/<name>` for a parameter name.
    fn arn(&self, name: &str) -> String;
    /// Secrets Manager DescribeSecret (by ARN or name): the secret and its versions, or None
    /// when there is no such secret. The value is never fetched.
    async fn describe_secret(&self, secret_id: &str) -> CloudResult<Option<SecretDescription>>;
    /// GetParameter with decryption: a SecureString's value, for the agent's own use only (the
    /// secrets `notify:` names). Never logged; services' secrets are never read.
    async fn secure_value(&self, name: &str) -> CloudResult<crate::secret::Secret>;
}

/// AWS CodeBuild: image builds that run off the agent's host (the `codebuild` builder).
#[async_trait]
pub trait Builds: Send + Sync {
    /// BatchGetProjects of one project; None when it does not exist.
    async fn project(&self, name: &str) -> CloudResult<Option<BuildProject>>;
    /// CreateProject.
    async fn create_project(&self, project: &NewBuildProject) -> CloudResult<BuildProject>;
    /// StartBuild with overrides; the build as first described (QUEUED).
    async fn start_build(&self, request: &StartBuild) -> CloudResult<BuildRun>;
    /// BatchGetBuilds; `ids.len()` ≤ [`BATCH_GET_BUILDS`]. Unknown ids are absent.
    async fn batch_get_builds(&self, ids: &[String]) -> CloudResult<Vec<BuildRun>>;
    /// StopBuild; the build as it is after the request (it stops shortly after).
    async fn stop_build(&self, id: &str) -> CloudResult<BuildRun>;
}
