//! What a cloud call can fail with, in terms a person (and the retry policy) can act on.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    /// The API's rate limit. Safe to retry with backoff.
    #[error("{operation} was throttled by AWS (rate exceeded)")]
    Throttled { operation: String },
    /// A transient failure (5xx, timeout). Safe to retry for idempotent calls.
    #[error("{operation} failed temporarily: {message}")]
    Unavailable { operation: String, message: String },
    /// IAM refused. `action` is the IAM action to grant, e.g. `ecs:UpdateService`.
    #[error(
        "access denied: {action} on {resource} (grant it to the agent's role; see docs/iam-policy.json)"
    )]
    AccessDenied { action: String, resource: String },
    /// A named resource does not exist.
    #[error("{kind} `{name}` not found")]
    NotFound { kind: ResourceKind, name: String },
    /// The request was malformed or not allowed in the resource's current state.
    #[error("{operation} rejected: {message}")]
    InvalidRequest { operation: String, message: String },
    /// Not called: this agent may no longer hold the lease (see `fence.rs`), so it changes
    /// nothing — the agent holding it now decides.
    #[error(
        "{operation} not made: this agent may have lost the lease ({since}); it makes no further change, not even a rollback — the agent holding the lease now decides"
    )]
    LeaseLost { operation: String, since: String },
}

impl CloudError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CloudError::Throttled { .. } | CloudError::Unavailable { .. }
        )
    }

    /// A conditional S3 write lost: `If-None-Match: *` on an existing key, `If-Match` on a
    /// changed or missing object (412 PreconditionFailed), or S3's 409
    /// ConditionalRequestConflict for two conditional writes racing on one key.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, CloudError::InvalidRequest { operation, message }
            if operation == "PutObject"
                && (message.contains("PreconditionFailed")
                    || message.contains("ConditionalRequestConflict")))
    }

    pub fn not_found(kind: ResourceKind, name: impl Into<String>) -> Self {
        CloudError::NotFound {
            kind,
            name: name.into(),
        }
    }

    pub fn invalid(operation: &str, message: impl Into<String>) -> Self {
        CloudError::InvalidRequest {
            operation: operation.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    Cluster,
    Service,
    TaskDefinition,
    Task,
    TargetGroup,
    DbInstance,
    DbSnapshot,
    Repository,
    Image,
    Bucket,
    Object,
    Parameter,
    Secret,
    LogStream,
    Alarm,
    BuildProject,
    Build,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Cluster => "ECS cluster",
            ResourceKind::Service => "ECS service",
            ResourceKind::TaskDefinition => "task definition",
            ResourceKind::Task => "ECS task",
            ResourceKind::TargetGroup => "target group",
            ResourceKind::DbInstance => "RDS instance",
            ResourceKind::DbSnapshot => "RDS snapshot",
            ResourceKind::Repository => "ECR repository",
            ResourceKind::Image => "ECR image",
            ResourceKind::Bucket => "S3 bucket",
            ResourceKind::Object => "S3 object",
            ResourceKind::Parameter => "SSM parameter",
            ResourceKind::Secret => "Secrets Manager secret",
            ResourceKind::LogStream => "CloudWatch log stream",
            ResourceKind::Alarm => "CloudWatch alarm",
            ResourceKind::BuildProject => "CodeBuild project",
            ResourceKind::Build => "CodeBuild build",
        })
    }
}
