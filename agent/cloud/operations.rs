//! The one list of AWS operations the agent makes, with the IAM action each needs: the SDK
//! calls the ports make (`OPERATIONS`) and the registry requests the image code makes
//! (`REGISTRY_OPERATIONS`). The aws adapters and the image code call exactly these;
//! docs/iam-policy.json grants exactly these (tests/iam_policy.rs compares both ways), and the
//! simulator answers and denies the SDK ones by the same names.

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
    // The pre-deploy task (`preDeploy`): one task of the new revision, stopped at its timeout.
    ("RunTask", "ecs:RunTask"),
    ("StopTask", "ecs:StopTask"),
    // Its log tail (awslogs driver) and the alarms the gate watches.
    ("GetLogEvents", "logs:GetLogEvents"),
    ("DescribeAlarms", "cloudwatch:DescribeAlarms"),
    (
        "DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetGroups",
    ),
    (
        "DescribeTargetHealth",
        "elasticloadbalancing:DescribeTargetHealth",
    ),
    // The deregistration delay: when the old tasks' drain can end (the rollout polls then).
    (
        "DescribeTargetGroupAttributes",
        "elasticloadbalancing:DescribeTargetGroupAttributes",
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
    // The active agent removes the webhook deliveries a standby handed it (`state::inbox`).
    ("DeleteObject", "s3:DeleteObject"),
    ("GetParameters", "ssm:GetParameters"),
    // The agent's own secrets (`notify:`'s Slack webhook URL, bot token, signing secret).
    ("GetParameter", "ssm:GetParameter"),
    ("DescribeSecret", "secretsmanager:DescribeSecret"),
    ("GetCallerIdentity", "sts:GetCallerIdentity"),
    // The `codebuild` builder: its project (created when `create:` is given: that passes the
    // service role, so iam:PassRole to codebuild.amazonaws.com too), and the builds in it.
    ("BatchGetProjects", "codebuild:BatchGetProjects"),
    ("CreateProject", "codebuild:CreateProject"),
    ("StartBuild", "codebuild:StartBuild"),
    ("BatchGetBuilds", "codebuild:BatchGetBuilds"),
    ("StopBuild", "codebuild:StopBuild"),
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

/// Which repository a registry operation's IAM actions apply to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryScope {
    /// The repository written to (the service's own; a promotion's target).
    Target,
    /// The repository read from (a promotion's source, a mount's `from`).
    Source,
}

/// The registry (distribution API) operations the image code makes over oci-client with the
/// ECR token, with the IAM actions ECR checks for each. They are not SDK calls, but IAM
/// authorises them all the same, so docs/iam-policy.json must grant these too, scoped to
/// the spec's repositories.
///
/// Sources (AWS docs):
/// - push: https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push-iam.html
///   (BatchCheckLayerAvailability, InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload,
///   PutImage, BatchGetImage on the repository)
/// - mount: https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html
///   ("ecr:GetDownloadUrlForLayer IAM permission on a repository to mount layers from it")
/// - pull (copy's manifest and blob reads): BatchGetImage and GetDownloadUrlForLayer, as in the
///   AmazonEC2ContainerRegistryPullOnly managed policy
///   (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEC2ContainerRegistryPullOnly.html)
/// - per-action resource types:
///   https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html
///
/// (oci-client method, distribution API request, scope, IAM actions)
pub const REGISTRY_OPERATIONS: &[(&str, &str, RegistryScope, &[&str])] = &[
    (
        "blob_exists",
        "HEAD /v2/<name>/blobs/<digest>",
        RegistryScope::Target,
        &["ecr:BatchCheckLayerAvailability"],
    ),
    (
        "push_blob",
        // stages/image/upload.rs: a chunked session (GET asks where an upload stands).
        "POST, PATCH, PUT, GET /v2/<name>/blobs/uploads/",
        RegistryScope::Target,
        &[
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
        ],
    ),
    (
        "mount_blob",
        "POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<source>",
        RegistryScope::Target,
        &["ecr:InitiateLayerUpload"],
    ),
    (
        "mount_blob",
        "POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<source>",
        RegistryScope::Source,
        &["ecr:GetDownloadUrlForLayer"],
    ),
    (
        "push_manifest_raw",
        "PUT /v2/<name>/manifests/<tag>",
        RegistryScope::Target,
        &["ecr:PutImage", "ecr:BatchGetImage"],
    ),
    (
        "pull_manifest_raw",
        "GET /v2/<name>/manifests/<digest>",
        RegistryScope::Source,
        &["ecr:BatchGetImage"],
    ),
    (
        "pull_manifest_raw",
        "GET /v2/<name>/manifests/<digest> (retag reads the target's own)",
        RegistryScope::Target,
        &["ecr:BatchGetImage"],
    ),
    (
        "pull_blob_stream",
        "GET /v2/<name>/blobs/<digest>",
        RegistryScope::Source,
        &["ecr:GetDownloadUrlForLayer"],
    ),
    (
        "push_blob_stream",
        "POST, PUT /v2/<name>/blobs/uploads/ (a blob streamed in from another registry)",
        RegistryScope::Target,
        &[
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
        ],
    ),
];

/// Every IAM action the agent uses: the SDK operations' and the registry operations'.
pub fn all_iam_actions() -> std::collections::BTreeSet<&'static str> {
    OPERATIONS
        .iter()
        .map(|(_, action)| *action)
        .chain(
            REGISTRY_OPERATIONS
                .iter()
                .flat_map(|(_, _, _, actions)| actions.iter().copied()),
        )
        .collect()
}

/// The IAM actions registry operations need on a repository (granted per repository).
pub fn registry_iam_actions() -> std::collections::BTreeSet<&'static str> {
    REGISTRY_OPERATIONS
        .iter()
        .flat_map(|(_, _, _, actions)| actions.iter().copied())
        .collect()
}
