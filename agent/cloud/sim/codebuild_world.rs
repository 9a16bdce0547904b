//! CodeBuild's builds in the simulated world. A build walks CodeBuild's phases on the world's
//! clock, one event per phase boundary: its S3 source is looked up when DOWNLOAD_SOURCE ends,
//! its image goes into the simulated ECR when POST_BUILD ends, and it writes CodeBuild-like
//! lines to its CloudWatch log stream once PROVISIONING is over. A failed phase goes on to
//! FINALIZING (as with `on-failure: ABORT`); StopBuild and the build timeout end the current
//! phase at once.

use super::codebuild::{BuildRule, build_digest, uuid_from, validate_start};
use super::codebuild_spec as spec;
use super::world::{Owned, World};
use crate::cloud::ports::CloudResult;
use crate::cloud::types::*;
use crate::cloud::{CloudError, ResourceKind};
use std::collections::BTreeMap;

/// CodeBuild's phases, in order.
pub(super) const PHASES: [&str; 11] = [
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
];
const QUEUED: usize = 1;
const PROVISIONING: usize = 2;
const DOWNLOAD_SOURCE: usize = 3;
const INSTALL: usize = 4;
const BUILD: usize = 6;
const POST_BUILD: usize = 7;
const UPLOAD_ARTIFACTS: usize = 8;
const FINALIZING: usize = 9;
const COMPLETED: usize = 10;

/// Seconds each phase before COMPLETED takes, unless a fault rule says otherwise: a small
/// on-demand build of a Node service (130 s in all).
const DEFAULT_SECONDS: [u64; 10] = [0, 2, 15, 3, 2, 6, 90, 8, 2, 2];
/// StopBuild: the build ends this long after the request.
pub(super) const STOP_SECONDS: u64 = 2;
/// How long a StartBuild idempotency token holds (AWS: 5 minutes).
pub(super) const TOKEN_SECONDS: u64 = 300;
/// The phases a fault rule's `failIn` may name.
pub(super) const FAILABLE: std::ops::RangeInclusive<usize> = PROVISIONING..=UPLOAD_ARTIFACTS;

pub(super) fn phase_index(name: &str) -> Option<usize> {
    PHASES.iter().position(|p| *p == name)
}

/// One phase a build has reached: running while `end` is None.
struct PhaseRecord {
    phase: usize,
    start: u64,
    end: Option<u64>,
    status: Option<&'static str>,
    messages: Vec<String>,
}

pub(super) struct SimBuild {
    pub id: String,
    pub project: String,
    pub request: StartBuild,
    pub started: u64,
    seconds: [u64; 10],
    fail_in: Option<usize>,
    /// The fault rule's lines for BUILD (None: a docker build's usual output).
    rule_lines: Option<Vec<String>>,
    pub stop_requested: Option<u64>,
    phases: Vec<PhaseRecord>,
    /// A phase failed: the build ends FAILED once FINALIZING is over.
    failed: bool,
    pub status: BuildStatus,
    pub ended: Option<u64>,
    digest: Option<String>,
    /// (group, stream), once PROVISIONING has ended.
    log: Option<(String, String)>,
    log_lines: Vec<String>,
}

/// CodeBuild's projects and builds, in the world.
#[derive(Default)]
pub(super) struct BuildWorld {
    pub projects: BTreeMap<String, BuildProject>,
    /// In the order they were started.
    pub runs: Vec<SimBuild>,
}

impl BuildWorld {
    /// The earliest second a running build moves.
    pub fn next_due(&self) -> Option<u64> {
        self.runs.iter().filter_map(SimBuild::next_due).min()
    }
}

impl SimBuild {
    pub fn env(&self, name: &str) -> Option<&str> {
        let found = self.request.environment.iter().find(|(n, _)| n == name);
        found.map(|(_, v)| v.as_str())
    }

    fn repository_uri(&self) -> &str {
        self.env("AMAGENT_REPOSITORY_URI").unwrap_or("")
    }

    fn current(&self) -> &PhaseRecord {
        self.phases
            .last()
            .expect("a build has a phase from the start")
    }

    fn timeout_at(&self) -> u64 {
        self.started + 60 * u64::from(self.request.timeout_minutes)
    }

    fn next_due(&self) -> Option<u64> {
        if self.status.is_done() {
            return None;
        }
        let current = self.current();
        let mut due = current.start + self.seconds[current.phase];
        if !self.failed {
            due = due.min(self.timeout_at());
            if let Some(s) = self.stop_requested {
                due = due.min(s + STOP_SECONDS);
            }
        }
        Some(due)
    }

    /// A `[Container]` line stamped `at`, if the log stream exists yet.
    fn write(&mut self, at: chrono::DateTime<chrono::Utc>, text: &str) {
        if self.log.is_some() {
            let stamp = at.format("%Y/%m/%d %H:%M:%S%.6f");
            self.log_lines.push(format!("[Container] {stamp} {text}"));
        }
    }

    /// Output of the build's own commands (no prefix), if the log stream exists yet.
    fn write_raw(&mut self, lines: &[String]) {
        if self.log.is_some() {
            self.log_lines.extend(lines.iter().cloned());
        }
    }

    fn end_phase(&mut self, at: u64, status: &'static str, messages: Vec<String>) {
        let current = self.phases.last_mut().expect("a build has a phase");
        current.end = Some(at);
        current.status = Some(status);
        current.messages = messages;
    }

    /// The commands the buildspec runs in `phase` (a usual one when it names none).
    fn commands(&self, phase: usize) -> Vec<String> {
        let listed = spec::commands(&self.request.buildspec, PHASES[phase]);
        if !listed.is_empty() {
            return listed;
        }
        let uri = self.repository_uri();
        let host = uri.split('/').next().unwrap_or("");
        let tag = self
            .tags()
            .first()
            .cloned()
            .unwrap_or_else(|| "latest".into());
        vec![match phase {
            INSTALL => "docker buildx version".into(),
            BUILD => format!("docker buildx build --tag {uri}:{tag} ."),
            POST_BUILD => format!("docker push --all-tags {uri}"),
            _ => format!(
                "aws ecr get-login-password | docker login --username AWS --password-stdin {host}"
            ),
        }]
    }

    /// What the build pushes: the buildspec's `--tag` words, else `AMAGENT_IMAGE_TAGS`.
    fn tags(&self) -> Vec<String> {
        spec::tags(&self.request.buildspec).unwrap_or_else(|| {
            let tags = self.env("AMAGENT_IMAGE_TAGS").unwrap_or("");
            tags.split_whitespace().map(String::from).collect()
        })
    }

    pub(super) fn exports(&self, name: &str) -> bool {
        spec::exports(&self.request.buildspec, name)
    }
}

impl World {
    pub(super) fn build_project_arn(&self, name: &str) -> String {
        let (region, account) = (&self.region, &self.account);
        format!("arn:aws:codebuild:{region}:{account}:project/{name}")
    }

    /// The ARN IAM checks for a build id (`project:uuid`): its project's.
    pub(super) fn build_arn_resource(&self, id: &str) -> String {
        let project = id.split_once(':').map_or(id, |(p, _)| p);
        self.build_project_arn(project)
    }

    /// StartBuild: a new build, or the one an earlier call with the same token started.
    pub(super) fn start_build(&mut self, r: &StartBuild) -> CloudResult<BuildRun> {
        if !self.codebuild.projects.contains_key(&r.project) {
            return Err(CloudError::not_found(
                ResourceKind::BuildProject,
                &r.project,
            ));
        }
        validate_start(r)?;
        let t = self.t;
        let earlier = self.codebuild.runs.iter().position(|b| {
            !r.idempotency_token.is_empty()
                && b.request.idempotency_token == r.idempotency_token
                && t < b.started + TOKEN_SECONDS
        });
        if let Some(i) = earlier {
            let b = &self.codebuild.runs[i];
            if b.request != *r {
                return Err(CloudError::invalid(
                    "StartBuild",
                    "IdempotentParameterMismatchException: the idempotency token was used by an \
                     earlier StartBuild with other parameters",
                ));
            }
            return Ok(self.build_view(b));
        }
        let uri = r
            .environment
            .iter()
            .find(|(n, _)| n == "AMAGENT_REPOSITORY_URI");
        let uri = uri.map_or("", |(_, v)| v.as_str());
        let rule = self
            .faults
            .codebuild
            .iter()
            .find(|x| x.matches(uri))
            .cloned();
        let mut b = self.new_build(r, rule);
        self.progress(&mut b);
        let view = self.build_view(&b);
        self.codebuild.runs.push(b);
        Ok(view)
    }

    fn new_build(&mut self, r: &StartBuild, rule: Option<BuildRule>) -> SimBuild {
        use rand::Rng;
        let uuid = uuid_from(self.rng.random());
        let mut seconds = DEFAULT_SECONDS;
        let rule = rule.unwrap_or_else(|| BuildRule::new("*"));
        seconds[BUILD] = rule.build_seconds.unwrap_or(seconds[BUILD]);
        seconds[QUEUED] = rule.queued_seconds.unwrap_or(seconds[QUEUED]);
        SimBuild {
            id: format!("{}:{uuid}", r.project),
            project: r.project.clone(),
            request: r.clone(),
            started: self.t,
            seconds,
            fail_in: rule.fail_in.as_deref().and_then(phase_index),
            rule_lines: (!rule.log_lines.is_empty()).then_some(rule.log_lines),
            stop_requested: None,
            phases: vec![PhaseRecord {
                phase: 0,
                start: self.t,
                end: None,
                status: None,
                messages: Vec::new(),
            }],
            failed: false,
            status: BuildStatus::InProgress,
            ended: None,
            digest: None,
            log: None,
            log_lines: Vec::new(),
        }
    }

    /// Run every build forward to the world's second.
    pub(super) fn step_builds(&mut self) {
        let mut runs = std::mem::take(&mut self.codebuild.runs);
        for b in &mut runs {
            self.progress(b);
        }
        self.codebuild.runs = runs;
    }

    fn progress(&mut self, b: &mut SimBuild) {
        while let Some(due) = b.next_due().filter(|d| *d <= self.t) {
            let current = b.current();
            let phase_end = current.start + b.seconds[current.phase];
            let stopping = b.stop_requested.map(|s| s + STOP_SECONDS);
            if !b.failed && stopping == Some(due) {
                self.interrupt(b, due, "STOPPED", BuildStatus::Stopped, Vec::new());
            } else if due == phase_end {
                self.finish_phase(b, due);
            } else {
                let message = "BUILD_TIMED_OUT: Build has timed out. ".to_string();
                self.interrupt(b, due, "TIMED_OUT", BuildStatus::TimedOut, vec![message]);
            }
        }
    }

    /// StopBuild or the timeout: the current phase ends now, and so does the build.
    fn interrupt(
        &mut self,
        b: &mut SimBuild,
        at: u64,
        phase_status: &'static str,
        status: BuildStatus,
        messages: Vec<String>,
    ) {
        let name = PHASES[b.current().phase];
        b.write(
            self.time(at),
            &format!("Phase complete: {name} State: {phase_status}"),
        );
        b.end_phase(at, phase_status, messages);
        b.failed = true;
        self.enter(b, COMPLETED, at);
        b.status = status;
    }

    /// The current phase ran its course: it succeeds or fails, and the next one begins.
    fn finish_phase(&mut self, b: &mut SimBuild, at: u64) {
        let phase = b.current().phase;
        let outcome = match b.failed {
            true => Ok(()),
            false => self.phase_work(b, phase, at),
        };
        let name = PHASES[phase];
        let next = match outcome {
            Ok(()) => {
                if (DOWNLOAD_SOURCE..=UPLOAD_ARTIFACTS).contains(&phase) {
                    b.write(
                        self.time(at),
                        &format!("Phase complete: {name} State: SUCCEEDED"),
                    );
                    b.write(self.time(at), "Phase context status code:  Message: ");
                }
                b.end_phase(at, "SUCCEEDED", Vec::new());
                if b.failed { COMPLETED } else { phase + 1 }
            }
            Err(message) => {
                b.write(
                    self.time(at),
                    &format!("Phase complete: {name} State: FAILED"),
                );
                let (code, text) = message.split_once(": ").unwrap_or(("", &message));
                let context = format!("Phase context status code: {code} Message: {text}");
                b.write(self.time(at), &context);
                b.end_phase(at, "FAILED", vec![message]);
                b.failed = true;
                FINALIZING
            }
        };
        self.enter(b, next, at);
    }

    /// What happens at the end of `phase`: Err(context message) if it fails.
    fn phase_work(&mut self, b: &mut SimBuild, phase: usize, at: u64) -> Result<(), String> {
        // The command that fails is the phase's real work: its first that is not a `set`.
        let commands = b.commands(phase);
        let command = commands
            .iter()
            .find(|c| !c.starts_with("set "))
            .or(commands.last())
            .cloned()
            .unwrap_or_default();
        let now = self.time(at);
        let command_failed = |b: &mut SimBuild| {
            let text = format!("Command did not exit successfully {command} exit status 1");
            b.write(now, &text);
            format!(
                "COMMAND_EXECUTION_ERROR: Error while executing command: {command}. Reason: exit \
                 status 1"
            )
        };
        if b.fail_in == Some(phase) {
            return Err(match phase {
                INSTALL..=POST_BUILD => command_failed(b),
                _ => format!(
                    "CLIENT_ERROR: the fault script fails this build in {}",
                    PHASES[phase]
                ),
            });
        }
        match phase {
            DOWNLOAD_SOURCE => self.download_source(b, at),
            POST_BUILD => match self.push(b, at) {
                Ok(()) => Ok(()),
                Err(line) => {
                    b.write_raw(&[line]);
                    Err(command_failed(b))
                }
            },
            _ => Ok(()),
        }
    }

    fn download_source(&self, b: &mut SimBuild, at: u64) -> Result<(), String> {
        let location = b.request.source_location.clone();
        let (bucket, key) = location.split_once('/').unwrap_or((&location, ""));
        let missing = match self.buckets.get(bucket) {
            None => Some("NoSuchBucket: The specified bucket does not exist"),
            Some(objects) if !objects.contains_key(key) => {
                Some("NoSuchKey: The specified key does not exist.")
            }
            Some(_) => None,
        };
        if let Some(error) = missing {
            return Err(format!(
                "CLIENT_ERROR: error while downloading key {key}, version : {error} for primary \
                 source and source version arn:aws:s3:::{location}"
            ));
        }
        let dir = format!("/codebuild/output/src{}/src", 100_000 + b.started);
        for line in [
            "Phase is DOWNLOAD_SOURCE".to_string(),
            format!("CODEBUILD_SRC_DIR={dir}"),
            "YAML location is /codebuild/readonly/buildspec.yml".into(),
            "Processing environment variables".into(),
            format!("Moving to directory {dir}"),
        ] {
            b.write(self.time(at), &line);
        }
        Ok(())
    }

    /// `docker push`: the image into the simulated ECR, or the registry's error line.
    fn push(&mut self, b: &mut SimBuild, at: u64) -> Result<(), String> {
        let uri = b.repository_uri().to_string();
        let Some((_, repository)) = uri.split_once('/') else {
            return Err(format!(
                "invalid reference format: AMAGENT_REPOSITORY_URI `{uri}` names no repository"
            ));
        };
        if !self.repositories.contains_key(repository) {
            let registry = self.account_of(Owned::Repository, repository);
            return Err(format!(
                "name unknown: The repository with name '{repository}' does not exist in the \
                 registry with id '{registry}'"
            ));
        }
        let digest = build_digest(&b.request.source_location, repository);
        let tags = b.tags();
        let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
        self.put_image(repository, &digest, &tag_refs, self.time(at));
        let mut lines = vec![format!("The push refers to repository [{uri}]")];
        lines.extend(
            tags.iter()
                .map(|t| format!("{t}: digest: {digest} size: 1996")),
        );
        b.write_raw(&lines);
        b.digest = Some(digest);
        Ok(())
    }

    /// The build enters `phase` at `at`: its log stream opens after PROVISIONING, command
    /// phases log their commands, COMPLETED ends the build.
    fn enter(&mut self, b: &mut SimBuild, phase: usize, at: u64) {
        b.phases.push(PhaseRecord {
            phase,
            start: at,
            end: None,
            status: None,
            messages: Vec::new(),
        });
        let now = self.time(at);
        match phase {
            DOWNLOAD_SOURCE => {
                let uuid = b.id.split_once(':').map_or("", |(_, u)| u).to_string();
                b.log = Some((format!("/aws/codebuild/{}", b.project), uuid));
                b.write(now, "Running on CodeBuild On-demand");
                b.write(now, "Waiting for agent ping");
                b.write(now, "Waiting for DOWNLOAD_SOURCE");
            }
            INSTALL..=POST_BUILD => {
                b.write(now, &format!("Entering phase {}", PHASES[phase]));
                for command in b.commands(phase) {
                    b.write(now, &format!("Running command {command}"));
                }
                if phase == BUILD {
                    let lines = b.rule_lines.clone().unwrap_or_else(|| docker_output(b));
                    b.write_raw(&lines);
                }
            }
            COMPLETED => {
                b.ended = Some(at);
                b.status = match b.failed {
                    true => BuildStatus::Failed,
                    false => BuildStatus::Succeeded,
                };
            }
            _ => {}
        }
    }

    /// BatchGetBuilds' view of a build.
    pub(super) fn build_view(&self, b: &SimBuild) -> BuildRun {
        let phases = b.phases.iter().map(|p| BuildPhase {
            phase: PHASES[p.phase].into(),
            status: p.status.map(String::from),
            messages: p.messages.clone(),
            duration_seconds: p.end.map(|e| (e - p.start) as i64),
        });
        let exported = match (&b.digest, b.status) {
            (Some(d), BuildStatus::Succeeded) if b.exports("IMAGE_DIGEST") => {
                BTreeMap::from([("IMAGE_DIGEST".into(), d.clone())])
            }
            _ => BTreeMap::new(),
        };
        BuildRun {
            id: b.id.clone(),
            status: b.status,
            current_phase: PHASES[b.current().phase].into(),
            phases: phases.collect(),
            exported,
            log: b.log.clone(),
            started_at: Some(self.time(b.started)),
            ended_at: b.ended.map(|e| self.time(e)),
        }
    }

    /// StopBuild: the build stops [`STOP_SECONDS`] later.
    pub(super) fn stop_build(&mut self, id: &str) -> CloudResult<BuildRun> {
        let t = self.t;
        let Some(b) = self.codebuild.runs.iter_mut().find(|b| b.id == id) else {
            return Err(CloudError::not_found(ResourceKind::Build, id));
        };
        if b.status.is_done() {
            return Err(CloudError::invalid(
                "StopBuild",
                format!("InvalidInputException: Build {id} is already complete"),
            ));
        }
        b.stop_requested.get_or_insert(t);
        let b = self.codebuild.runs.iter().find(|b| b.id == id);
        Ok(self.build_view(b.expect("found above")))
    }

    /// GetLogEvents of a build's stream: its last `limit` lines.
    pub(super) fn build_log_tail(
        &self,
        group: &str,
        stream: &str,
        limit: u32,
    ) -> Option<Vec<String>> {
        let b = self.codebuild.runs.iter().find(|b| {
            b.log
                .as_ref()
                .is_some_and(|(g, s)| g == group && s == stream)
        })?;
        let skip = b.log_lines.len().saturating_sub(limit as usize);
        Some(b.log_lines[skip..].to_vec())
    }
}

/// What `docker buildx build` prints when the fault script gives no lines.
fn docker_output(b: &SimBuild) -> Vec<String> {
    let uri = b.repository_uri();
    let tag = b.tags().first().cloned().unwrap_or_else(|| "latest".into());
    vec![
        "#0 building with \"default\" instance using docker driver".into(),
        "#1 [internal] load build definition from Dockerfile".into(),
        "#12 exporting to image".into(),
        format!("#12 naming to {uri}:{tag} done"),
    ]
}
