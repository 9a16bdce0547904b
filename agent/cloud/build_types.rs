//! The shapes the CodeBuild port exchanges: a project, a build to start, a build as
//! BatchGetBuilds describes it.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A CodeBuild project as BatchGetProjects describes it (the parts the agent reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildProject {
    pub name: String,
    pub arn: String,
    pub service_role: String,
    /// `LINUX_CONTAINER`, `ARM_CONTAINER`, …
    pub environment_type: String,
    pub compute_type: String,
    pub image: String,
    pub privileged: bool,
}

/// CreateProject: what the agent creates when a pipeline names `create:` settings and the
/// project does not exist. Source S3 (each build overrides its location), no artifacts,
/// privileged (docker builds need it), logs to CloudWatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBuildProject {
    pub name: String,
    pub service_role: String,
    pub environment_type: String,
    pub compute_type: String,
    pub image: String,
    /// `bucket/key` of a source bundle (CodeBuild requires one for an S3 source).
    pub source_location: String,
    pub timeout_minutes: u32,
    pub tags: Vec<(String, String)>,
}

/// StartBuild with the overrides the agent sets on every build: its own source bundle,
/// buildspec, environment and variables, so any project works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartBuild {
    pub project: String,
    /// `bucket/key` of the source zip (sourceTypeOverride S3).
    pub source_location: String,
    /// The buildspec's YAML text (buildspecOverride).
    pub buildspec: String,
    /// `LINUX_CONTAINER` (x86_64) or `ARM_CONTAINER` (arm64).
    pub environment_type: String,
    pub image: String,
    pub compute_type: String,
    /// privilegedModeOverride: docker builds need it.
    pub privileged: bool,
    /// PLAINTEXT environment variables (never secrets).
    pub environment: Vec<(String, String)>,
    pub timeout_minutes: u32,
    /// StartBuild's idempotencyToken: a retried call within 5 minutes returns the same build
    /// instead of starting another, so StartBuild is safe to retry.
    pub idempotency_token: String,
}

/// `buildStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuildStatus {
    InProgress,
    Succeeded,
    Failed,
    Fault,
    Stopped,
    TimedOut,
}

impl BuildStatus {
    pub fn parse(s: &str) -> Option<BuildStatus> {
        Some(match s {
            "IN_PROGRESS" => BuildStatus::InProgress,
            "SUCCEEDED" => BuildStatus::Succeeded,
            "FAILED" => BuildStatus::Failed,
            "FAULT" => BuildStatus::Fault,
            "STOPPED" => BuildStatus::Stopped,
            "TIMED_OUT" => BuildStatus::TimedOut,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::InProgress => "IN_PROGRESS",
            BuildStatus::Succeeded => "SUCCEEDED",
            BuildStatus::Failed => "FAILED",
            BuildStatus::Fault => "FAULT",
            BuildStatus::Stopped => "STOPPED",
            BuildStatus::TimedOut => "TIMED_OUT",
        }
    }
    pub fn is_done(self) -> bool {
        self != BuildStatus::InProgress
    }
}

/// One of a build's phases (`SUBMITTED`, `QUEUED`, `PROVISIONING`, `DOWNLOAD_SOURCE`,
/// `INSTALL`, `PRE_BUILD`, `BUILD`, `POST_BUILD`, `UPLOAD_ARTIFACTS`, `FINALIZING`,
/// `COMPLETED`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildPhase {
    pub phase: String,
    /// `SUCCEEDED`, `FAILED`, `FAULT`, `TIMED_OUT`, `IN_PROGRESS`, `STOPPED`; None while it runs.
    pub status: Option<String>,
    /// The phase's context messages (why it failed).
    pub messages: Vec<String>,
    pub duration_seconds: Option<i64>,
}

/// A build as BatchGetBuilds (or StartBuild, StopBuild) describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRun {
    /// `project:uuid`
    pub id: String,
    pub status: BuildStatus,
    pub current_phase: String,
    pub phases: Vec<BuildPhase>,
    /// `exportedEnvironmentVariables` (the buildspec's `env.exported-variables`), once the
    /// build has finished.
    pub exported: BTreeMap<String, String>,
    /// CloudWatch Logs group and stream, once CodeBuild has created them.
    pub log: Option<(String, String)>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// CodeBuild allows at most 100 ids per BatchGetBuilds call.
pub const BATCH_GET_BUILDS: usize = 100;
