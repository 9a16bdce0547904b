//! IAM for the adapters: the operations list (in `cloud::operations`) and the extra grant
//! UpdateService needs. docs/iam-policy.json grants exactly these (a test compares them).

pub use crate::cloud::operations::{
    OPERATIONS, REGISTRY_OPERATIONS, RegistryScope, all_iam_actions, iam_action as action,
    registry_iam_actions,
};

/// UpdateService passes the task role to the tasks: ECS needs iam:PassRole on the roles named
/// in the task definition. The policy grants it scoped to ECS tasks.
pub const PASS_ROLE: &str = "iam:PassRole";
