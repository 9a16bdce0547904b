//! The one list of AWS operations the adapters call, with the IAM action each needs.
//! docs/iam-policy.json grants exactly these (a test compares the two), so the agent's role
//! has least privilege and a new call cannot ship without its permission.

/// (operation as the SDK names it, IAM action)
pub const OPERATIONS: &[(&str, &str)] = &[
    ("DescribeServices", "ecs:DescribeServices"),
    ("DescribeTaskDefinition", "ecs:DescribeTaskDefinition"),
    ("RegisterTaskDefinition", "ecs:RegisterTaskDefinition"),
    ("UpdateService", "ecs:UpdateService"),
    ("ListTasks", "ecs:ListTasks"),
    ("DescribeTasks", "ecs:DescribeTasks"),
    (
        "DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetGroups",
    ),
    (
        "DescribeTargetHealth",
        "elasticloadbalancing:DescribeTargetHealth",
    ),
    ("DescribeDBInstances", "rds:DescribeDBInstances"),
    ("CreateDBSnapshot", "rds:CreateDBSnapshot"),
    ("AddTagsToResource", "rds:AddTagsToResource"),
    ("DescribeDBSnapshots", "rds:DescribeDBSnapshots"),
    ("DeleteDBSnapshot", "rds:DeleteDBSnapshot"),
    ("DescribeImages", "ecr:DescribeImages"),
    ("BatchDeleteImage", "ecr:BatchDeleteImage"),
    ("GetLifecyclePolicy", "ecr:GetLifecyclePolicy"),
    ("PutLifecyclePolicy", "ecr:PutLifecyclePolicy"),
    ("GetAuthorizationToken", "ecr:GetAuthorizationToken"),
    ("GetObject", "s3:GetObject"),
    ("PutObject", "s3:PutObject"),
    ("ListObjectsV2", "s3:ListBucket"),
    ("GetParameters", "ssm:GetParameters"),
    ("GetCallerIdentity", "sts:GetCallerIdentity"),
];

/// The IAM action for an operation (`<unknown>` for one not in the list: a bug the policy test
/// would catch).
pub fn action(operation: &str) -> &'static str {
    OPERATIONS
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, action)| *action)
        .unwrap_or("<unknown>")
}

/// UpdateService passes the task role to the tasks: ECS needs iam:PassRole on the roles named
/// in the task definition. The policy grants it scoped to ECS tasks.
pub const PASS_ROLE: &str = "iam:PassRole";
