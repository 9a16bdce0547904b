//! The one list of AWS operations the ports make, with the IAM action each needs. The aws
//! adapters call exactly these (docs/iam-policy.json grants exactly these, a test compares the
//! two), and the simulator answers and denies them by the same names.

/// (operation as the SDK names it, IAM action)
pub const OPERATIONS: &[(&str, &str)] = &[
    ("DescribeServices", "ecs:DescribeServices"),
    ("DescribeTaskDefinition", "ecs:DescribeTaskDefinition"),
    ("RegisterTaskDefinition", "ecs:RegisterTaskDefinition"),
    // Registering a definition with its tags is authorised as tagging too (tag-on-create).
    ("TagResource", "ecs:TagResource"),
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
pub fn iam_action(operation: &str) -> &'static str {
    OPERATIONS
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, action)| *action)
        .unwrap_or("<unknown>")
}
