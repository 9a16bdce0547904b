//! A pipeline's `build.builder` and `build.codebuild`: where its images are built.

use serde::{Deserialize, Serialize};

/// Where a pipeline's images are built.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BuilderChoice {
    /// buildah (or podman) on the agent's own host; the agent pushes the result.
    #[default]
    Local,
    /// AWS CodeBuild: the agent uploads the source and CodeBuild builds and pushes. Needs
    /// `build.codebuild`. The way to build when the agent runs on Fargate.
    Codebuild,
}

/// The CodeBuild project builds run in, and where their sources go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeBuildSettings {
    /// The project's name. Every build overrides its source, buildspec and environment, so
    /// any project works; `create:` makes one when it does not exist.
    pub project: String,
    /// The S3 bucket source bundles are uploaded to (`amagent/sources/<sha256>.zip`).
    pub source_bucket: String,
    /// `BUILD_GENERAL1_SMALL` (default), `BUILD_GENERAL1_MEDIUM`, `BUILD_GENERAL1_LARGE`, …
    #[serde(default = "default_compute_type")]
    pub compute_type: String,
    /// The build image; default: CodeBuild's Amazon Linux standard image for the pipeline's
    /// platform (x86_64 or aarch64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Minutes before the agent stops the build (and CodeBuild's own timeout). Default 60.
    #[serde(default = "default_timeout_minutes")]
    pub timeout_minutes: u32,
    /// Create the project when it does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<CreateProject>,
}

/// What a project the agent creates runs as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProject {
    /// The IAM role CodeBuild assumes: it pushes to ECR, reads the source bucket, writes logs.
    pub service_role: String,
}

fn default_compute_type() -> String {
    "BUILD_GENERAL1_SMALL".into()
}

fn default_timeout_minutes() -> u32 {
    60
}

/// CodeBuild's environment type for an image platform.
pub fn environment_type(platform: &str) -> &'static str {
    if platform == "linux/arm64" {
        "ARM_CONTAINER"
    } else {
        "LINUX_CONTAINER"
    }
}

/// CodeBuild's curated image for an image platform (Docker with buildx, AWS CLI).
pub fn default_image(platform: &str) -> &'static str {
    if platform == "linux/arm64" {
        "aws/codebuild/amazonlinux-aarch64-standard:3.0"
    } else {
        "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    }
}

impl CodeBuildSettings {
    /// The build image for `platform`: the configured one or CodeBuild's standard image.
    pub fn image_for(&self, platform: &str) -> String {
        self.image
            .clone()
            .unwrap_or_else(|| default_image(platform).to_string())
    }
}
