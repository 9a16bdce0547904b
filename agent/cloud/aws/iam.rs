//! IAM for the adapters: the operations list (in `cloud::operations`) and the extra grant
//! UpdateService and CreateProject need. docs/iam-policy.json grants exactly these (a test compares them).

pub use crate::cloud::operations::{
    OPERATIONS, REGISTRY_OPERATIONS, RegistryScope, all_iam_actions, iam_action as action,
    registry_iam_actions,
};

/// UpdateService passes the task role to the tasks: ECS needs iam:PassRole on the roles named
/// in the task definition. CreateProject passes the project's service role to CodeBuild. The
/// policy grants it only towards those services ([`PASS_ROLE_TO`]).
pub const PASS_ROLE: &str = "iam:PassRole";

/// The services the agent passes roles to (the policy's `iam:PassedToService` conditions).
pub const PASS_ROLE_TO: &[&str] = &["codebuild.amazonaws.com", "ecs-tasks.amazonaws.com"];
