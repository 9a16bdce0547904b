//! The `codebuild` builder's resources, for each pipeline the environment's services use that
//! builds there: the CodeBuild project (or, missing with `create:`, that the first build
//! creates it with that role), and that the source bucket can be listed where the agent
//! uploads source bundles.

use super::{Check, SpecLocator, bad, ok};
use crate::cloud::{Cloud, CloudError};
use crate::config::codebuild::{BuilderChoice, CodeBuildSettings};
use crate::config::position::FieldPath;
use crate::config::{Environment, Model};
use std::collections::{BTreeMap, BTreeSet};

/// Where source bundles go in the source bucket (`<prefix><sha256>.zip`).
pub const SOURCES_PREFIX: &str = "amagent/sources/";

/// Where each pipeline's fields are written, by pipeline name.
pub type PipelineSpecs = BTreeMap<String, SpecLocator>;

/// The checks for every `builder: codebuild` pipeline `env`'s services use (each once).
pub async fn checks(
    cloud: &Cloud,
    env: &Environment,
    model: &Model,
    specs: &PipelineSpecs,
) -> Vec<Check> {
    let used: BTreeSet<&str> = env.services.iter().map(|s| s.pipeline.as_str()).collect();
    let mut checks = Vec::new();
    for name in used {
        let Some(pipeline) = model.pipelines.get(name) else {
            continue;
        };
        let (BuilderChoice::Codebuild, Some(settings)) =
            (pipeline.build.builder, &pipeline.build.codebuild)
        else {
            continue;
        };
        let at = |key: &str| -> String {
            let path = FieldPath::root().key("build").key("codebuild").key(key);
            match specs.get(name) {
                Some(spec) => spec.at(&path),
                None => format!("pipelines/{name}.yaml ({path})"),
            }
        };
        checks.push(project_check(cloud, settings, &at).await);
        checks.push(bucket_check(cloud, settings, &at).await);
    }
    checks
}

async fn project_check(
    cloud: &Cloud,
    settings: &CodeBuildSettings,
    at: &dyn Fn(&str) -> String,
) -> Check {
    const CHECK: &str = "CodeBuild project";
    let name = &settings.project;
    match (cloud.builds.project(name).await, &settings.create) {
        (Ok(Some(p)), _) => ok(
            CHECK,
            name,
            format!("found, runs as {} ({})", p.service_role, p.environment_type),
        ),
        (Ok(None), Some(create)) => {
            let mut check = ok(
                CHECK,
                name,
                format!(
                    "not found: the first build creates it, running as {} (that role must trust codebuild.amazonaws.com, push to the pipeline's ECR repositories, read s3://{}/{SOURCES_PREFIX}* and write CloudWatch Logs; docs/operations.md, Running on ECS)",
                    create.service_role, settings.source_bucket
                ),
            );
            check.warning = true;
            check
        }
        (Ok(None), None) => bad(
            CHECK,
            name,
            "not found, and `create:` is not set",
            format!(
                "create a CodeBuild project named {name} (any settings: each build overrides its source, buildspec and environment), or add `create: {{serviceRole: <role ARN>}}` under {} so the agent creates it",
                at("project")
            ),
        ),
        (Err(e @ CloudError::AccessDenied { .. }), _) => bad(
            CHECK,
            name,
            e.to_string(),
            "grant codebuild:BatchGetProjects (and the other codebuild: actions) on arn:aws:codebuild:*:*:project/* to the agent's role (docs/iam-policy.json, statement CodeBuildBuilder)".into(),
        ),
        (Err(e), _) => bad(
            CHECK,
            name,
            e.to_string(),
            "retry; if it persists, check the region and endpoint".into(),
        ),
    }
}

async fn bucket_check(
    cloud: &Cloud,
    settings: &CodeBuildSettings,
    at: &dyn Fn(&str) -> String,
) -> Check {
    const CHECK: &str = "CodeBuild source bucket";
    let bucket = &settings.source_bucket;
    match cloud.s3.list(bucket, SOURCES_PREFIX).await {
        Ok(keys) => ok(
            CHECK,
            bucket,
            format!("listed {SOURCES_PREFIX}: {} source bundle(s)", keys.len()),
        ),
        Err(e @ CloudError::NotFound { .. }) => bad(
            CHECK,
            bucket,
            e.to_string(),
            format!(
                "create the bucket in this environment's region, or correct the name at {}",
                at("sourceBucket")
            ),
        ),
        Err(e @ CloudError::AccessDenied { .. }) => bad(
            CHECK,
            bucket,
            e.to_string(),
            format!(
                "grant the agent's role s3:ListBucket on arn:aws:s3:::{bucket} and s3:PutObject on arn:aws:s3:::{bucket}/{SOURCES_PREFIX}* (docs/iam-policy.json, statement JournalBucket); CodeBuild's service role needs s3:GetObject there"
            ),
        ),
        Err(e) => bad(
            CHECK,
            bucket,
            e.to_string(),
            "retry; if it persists, check the region and endpoint".into(),
        ),
    }
}
