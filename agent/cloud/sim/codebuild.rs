//! CodeBuild in the simulator: the `Builds` port, the fault script's `codebuild` rules, and
//! set-up and inspection for tests. The builds themselves live in `codebuild_world.rs`.

use super::Simulator;
use super::codebuild_world::{FAILABLE, PHASES, phase_index};
use crate::cloud::CloudError;
use crate::cloud::ports::{Builds, CloudResult};
use crate::cloud::types::*;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How builds whose `AMAGENT_REPOSITORY_URI` matches behave (fault scripts' `codebuild`);
/// the first matching rule applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildRule {
    /// A substring of AMAGENT_REPOSITORY_URI; `*` matches any.
    #[serde(rename = "match")]
    pub pattern: String,
    /// How long the BUILD phase takes (default 90 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_seconds: Option<u64>,
    /// How long the build waits in QUEUED (default 2 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_seconds: Option<u64>,
    /// The phase the build fails in (PROVISIONING … UPLOAD_ARTIFACTS): FAILED, with a context
    /// message, then FINALIZING and a FAILED build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_in: Option<String>,
    /// What the build writes to its log during BUILD (default: a docker build's lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_lines: Vec<String>,
}

impl BuildRule {
    pub fn new(pattern: impl Into<String>) -> Self {
        BuildRule {
            pattern: pattern.into(),
            build_seconds: None,
            queued_seconds: None,
            fail_in: None,
            log_lines: Vec::new(),
        }
    }
    pub fn build_seconds(mut self, s: u64) -> Self {
        self.build_seconds = Some(s);
        self
    }
    pub fn queued_seconds(mut self, s: u64) -> Self {
        self.queued_seconds = Some(s);
        self
    }
    /// `phase`: a CodeBuild phase name, e.g. `BUILD`.
    pub fn fail_in(mut self, phase: &str) -> Self {
        self.fail_in = Some(phase.into());
        self
    }
    pub fn log_lines(mut self, lines: &[&str]) -> Self {
        self.log_lines = lines.iter().map(|l| l.to_string()).collect();
        self
    }

    pub(super) fn matches(&self, repository_uri: &str) -> bool {
        self.pattern == "*" || repository_uri.contains(&self.pattern)
    }
}

/// The fault script's `codebuild` rules are well formed.
pub(super) fn validate_rules(rules: &[BuildRule]) -> Result<(), String> {
    for rule in rules {
        if rule.pattern.is_empty() {
            return Err(
                "fault script: a codebuild rule has an empty `match` (`*` matches any)".into(),
            );
        }
        if let Some(phase) = &rule.fail_in
            && !phase_index(phase).is_some_and(|i| FAILABLE.contains(&i))
        {
            return Err(format!(
                "fault script: codebuild rule `{}`: failIn `{phase}` is not one of {}",
                rule.pattern,
                PHASES[FAILABLE].join(", ")
            ));
        }
    }
    Ok(())
}

/// One build as the simulator recorded it (tests: what ran, when).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRecord {
    pub id: String,
    pub project: String,
    /// The StartBuild request that started it.
    pub request: StartBuild,
    /// Seconds since the simulator was created: StartBuild, and the end (COMPLETED).
    pub started: u64,
    pub ended: Option<u64>,
    pub status: BuildStatus,
}

impl Simulator {
    /// A CodeBuild project (LINUX_CONTAINER, a service role in the simulator's account).
    pub fn add_build_project(&self, name: &str) -> BuildProject {
        let mut w = self.world();
        let project = BuildProject {
            name: name.into(),
            arn: w.build_project_arn(name),
            service_role: format!(
                "arn:aws:iam::{}:role/service-role/codebuild-{name}-service-role",
                w.account
            ),
            environment_type: "LINUX_CONTAINER".into(),
            compute_type: "BUILD_GENERAL1_SMALL".into(),
            image: "aws/codebuild/amazonlinux-x86_64-standard:5.0".into(),
            privileged: false,
        };
        w.codebuild.projects.insert(name.into(), project.clone());
        project
    }

    /// Every build started so far, oldest first (not counted).
    pub fn build_runs(&self) -> Vec<BuildRecord> {
        let w = self.world();
        let runs = w.codebuild.runs.iter().map(|b| BuildRecord {
            id: b.id.clone(),
            project: b.project.clone(),
            request: b.request.clone(),
            started: b.started,
            ended: b.ended,
            status: b.status,
        });
        runs.collect()
    }

    /// How many builds StartBuild started (a repeated idempotency token starts none).
    pub fn build_started_count(&self) -> usize {
        self.world().codebuild.runs.len()
    }
}

/// The CodeBuild port of the simulator.
pub struct SimBuilds(pub(super) Simulator);

#[async_trait]
impl Builds for SimBuilds {
    async fn project(&self, name: &str) -> CloudResult<Option<BuildProject>> {
        self.0.call(
            "BatchGetProjects",
            |w| w.build_project_arn(name),
            |w| Ok(w.codebuild.projects.get(name).cloned()),
        )
    }

    async fn create_project(&self, p: &NewBuildProject) -> CloudResult<BuildProject> {
        self.0.call(
            "CreateProject",
            |w| w.build_project_arn(&p.name),
            |w| {
                let arn = w.build_project_arn(&p.name);
                let invalid = |m: String| Err(CloudError::invalid("CreateProject", m));
                if w.codebuild.projects.contains_key(&p.name) {
                    return invalid(format!(
                        "ResourceAlreadyExistsException: Project already exists: {arn}"
                    ));
                }
                if p.name.len() < 2 || !p.service_role.starts_with("arn:aws:iam::") {
                    return invalid(format!(
                        "InvalidInputException: a project needs a name of 2 characters or more \
                         and a service role ARN (got `{}`, `{}`)",
                        p.name, p.service_role
                    ));
                }
                let project = BuildProject {
                    name: p.name.clone(),
                    arn,
                    service_role: p.service_role.clone(),
                    environment_type: p.environment_type.clone(),
                    compute_type: p.compute_type.clone(),
                    image: p.image.clone(),
                    privileged: true,
                };
                w.codebuild.projects.insert(p.name.clone(), project.clone());
                Ok(project)
            },
        )
    }

    async fn start_build(&self, request: &StartBuild) -> CloudResult<BuildRun> {
        self.0.call(
            "StartBuild",
            |w| w.build_project_arn(&request.project),
            |w| w.start_build(request),
        )
    }

    async fn batch_get_builds(&self, ids: &[String]) -> CloudResult<Vec<BuildRun>> {
        self.0.call(
            "BatchGetBuilds",
            |w| {
                ids.first()
                    .map_or("*".into(), |id| w.build_arn_resource(id))
            },
            |w| {
                if ids.len() > BATCH_GET_BUILDS {
                    return Err(CloudError::invalid(
                        "BatchGetBuilds",
                        format!(
                            "at most {BATCH_GET_BUILDS} build ids per call, got {}",
                            ids.len()
                        ),
                    ));
                }
                let found = ids
                    .iter()
                    .filter_map(|id| w.codebuild.runs.iter().find(|b| &b.id == id));
                Ok(found.map(|b| w.build_view(b)).collect())
            },
        )
    }

    async fn stop_build(&self, id: &str) -> CloudResult<BuildRun> {
        self.0.call(
            "StopBuild",
            |w| w.build_arn_resource(id),
            |w| w.stop_build(id),
        )
    }
}

/// The digest the simulated build produces: the same source and repository, the same image.
pub fn build_digest(source_location: &str, repository: &str) -> String {
    let hash = Sha256::digest(format!("{source_location}\n{repository}").as_bytes());
    format!("sha256:{}", hex::encode(hash))
}

/// A UUID (version 4 layout) from 128 random bits.
pub(super) fn uuid_from(bits: u128) -> String {
    let bits = (bits & !(0xf_u128 << 76)) | (0x4_u128 << 76);
    let bits = (bits & !(0x3_u128 << 62)) | (0x2_u128 << 62);
    let h = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// StartBuild's own checks (AWS's InvalidInputException).
pub(super) fn validate_start(r: &StartBuild) -> CloudResult<()> {
    let invalid = |m: String| Err(CloudError::invalid("StartBuild", m));
    if !(5..=2160).contains(&r.timeout_minutes) {
        return invalid(format!(
            "InvalidInputException: timeoutInMinutesOverride {} is outside 5 to 2160",
            r.timeout_minutes
        ));
    }
    match r.source_location.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(()),
        _ => invalid(format!(
            "InvalidInputException: Invalid S3 source location `{}`: expected bucket/key",
            r.source_location
        )),
    }
}
