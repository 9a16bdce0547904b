//! CodeBuild's SDK shapes ↔ the port's: a project and a build read back, and the project, source,
//! environment and overrides the agent sends.

use super::taskdef::time;
use crate::cloud::CloudError;
use crate::cloud::types::{BuildPhase, BuildProject, BuildRun, BuildStatus, NewBuildProject};
use aws_sdk_codebuild::types as cb;

pub(super) fn project_from_sdk(p: &cb::Project) -> BuildProject {
    let env = p.environment();
    BuildProject {
        name: p.name().unwrap_or_default().to_string(),
        arn: p.arn().unwrap_or_default().to_string(),
        service_role: p.service_role().unwrap_or_default().to_string(),
        environment_type: env.map(|e| e.r#type().as_str()).unwrap_or("").to_string(),
        compute_type: env
            .map(|e| e.compute_type().as_str())
            .unwrap_or("")
            .to_string(),
        image: env.map(|e| e.image()).unwrap_or("").to_string(),
        privileged: env.and_then(|e| e.privileged_mode()).unwrap_or(false),
    }
}

/// A build as CodeBuild describes it. A status this agent does not know is an error, not a
/// guess: treating it as running or as done could both be wrong.
pub(super) fn build_from_sdk(operation: &str, b: &cb::Build) -> Result<BuildRun, CloudError> {
    let raw_status = b.build_status().map(|s| s.as_str()).unwrap_or("");
    let status = BuildStatus::parse(raw_status).ok_or_else(|| {
        CloudError::invalid(
            operation,
            format!(
                "build {} has buildStatus `{raw_status}`, which this agent does not know",
                b.id().unwrap_or_default()
            ),
        )
    })?;
    let log = b.logs().and_then(|l| {
        let group = l.group_name().filter(|g| !g.is_empty())?;
        let stream = l.stream_name().filter(|s| !s.is_empty())?;
        Some((group.to_string(), stream.to_string()))
    });
    Ok(BuildRun {
        id: b.id().unwrap_or_default().to_string(),
        status,
        current_phase: b.current_phase().unwrap_or_default().to_string(),
        phases: b.phases().iter().map(phase_from_sdk).collect(),
        exported: b
            .exported_environment_variables()
            .iter()
            .filter_map(|v| Some((v.name()?.to_string(), v.value().unwrap_or("").to_string())))
            .collect(),
        log,
        started_at: time(b.start_time()),
        ended_at: time(b.end_time()),
    })
}

fn phase_from_sdk(p: &cb::BuildPhase) -> BuildPhase {
    BuildPhase {
        phase: p.phase_type().map(|t| t.as_str()).unwrap_or("").to_string(),
        status: p.phase_status().map(|s| s.as_str().to_string()),
        // `statusCode` is CodeBuild's category (e.g. COMMAND_EXECUTION_ERROR); the message says
        // what happened, and names the command that failed.
        messages: p
            .contexts()
            .iter()
            .filter_map(|c| c.message())
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect(),
        duration_seconds: p.duration_in_seconds(),
    }
}

fn built<T>(what: &str, r: Result<T, aws_smithy_types::error::operation::BuildError>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: every required member is set ({e})"))
}

/// Source S3 at `location` (`bucket/key`): CodeBuild requires a location on an S3 source, and
/// every build overrides it with its own bundle.
pub(super) fn source_to_sdk(location: &str) -> cb::ProjectSource {
    built(
        "ProjectSource",
        cb::ProjectSource::builder()
            .r#type(cb::SourceType::S3)
            .location(location)
            .build(),
    )
}

/// No artifacts: the build's product is the image it pushes to ECR.
pub(super) fn artifacts_to_sdk() -> cb::ProjectArtifacts {
    built(
        "ProjectArtifacts",
        cb::ProjectArtifacts::builder()
            .r#type(cb::ArtifactsType::NoArtifacts)
            .build(),
    )
}

/// Privileged: building images with Docker inside the build container needs it.
pub(super) fn environment_to_sdk(p: &NewBuildProject) -> cb::ProjectEnvironment {
    built(
        "ProjectEnvironment",
        cb::ProjectEnvironment::builder()
            .r#type(cb::EnvironmentType::from(p.environment_type.as_str()))
            .image(&p.image)
            .compute_type(cb::ComputeType::from(p.compute_type.as_str()))
            .privileged_mode(true)
            .build(),
    )
}

/// The build's log goes to CloudWatch Logs (`/aws/codebuild/<project>`), where the agent
/// tails it.
pub(super) fn logs_to_sdk() -> cb::LogsConfig {
    cb::LogsConfig::builder()
        .cloud_watch_logs(built(
            "CloudWatchLogsConfig",
            cb::CloudWatchLogsConfig::builder()
                .status(cb::LogsConfigStatusType::Enabled)
                .build(),
        ))
        .build()
}

pub(super) fn tags_to_sdk(tags: &[(String, String)]) -> Vec<cb::Tag> {
    tags.iter()
        .map(|(k, v)| cb::Tag::builder().key(k).value(v).build())
        .collect()
}

/// PLAINTEXT variables only: the agent never hands a build a secret this way.
pub(super) fn variables_to_sdk(vars: &[(String, String)]) -> Vec<cb::EnvironmentVariable> {
    vars.iter()
        .map(|(name, value)| {
            built(
                "EnvironmentVariable",
                cb::EnvironmentVariable::builder()
                    .name(name)
                    .value(value)
                    .r#type(cb::EnvironmentVariableType::Plaintext)
                    .build(),
            )
        })
        .collect()
}

/// CodeBuild's timeouts are whole minutes in 5..=2160 (36 hours); the config's are checked by
/// `validate`, this only keeps the conversion total.
pub(super) fn minutes(m: u32) -> i32 {
    m.min(i32::MAX as u32) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(kind: cb::BuildPhaseType, status: Option<cb::StatusType>) -> cb::BuildPhase {
        cb::BuildPhase::builder()
            .phase_type(kind)
            .set_phase_status(status)
            .build()
    }

    #[test]
    fn a_failed_build_keeps_its_phases_messages_and_log() {
        let b = cb::Build::builder()
            .id("amagent-builds:0d5c0a4e")
            .build_status(cb::StatusType::Failed)
            .current_phase("COMPLETED")
            .phases(phase(
                cb::BuildPhaseType::Submitted,
                Some(cb::StatusType::Succeeded),
            ))
            .phases(
                cb::BuildPhase::builder()
                    .phase_type(cb::BuildPhaseType::Build)
                    .phase_status(cb::StatusType::Failed)
                    .duration_in_seconds(41)
                    .contexts(
                        cb::PhaseContext::builder()
                            .status_code("COMMAND_EXECUTION_ERROR")
                            .message("Error while executing command: docker buildx build. Reason: exit status 1")
                            .build(),
                    )
                    .build(),
            )
            .phases(phase(cb::BuildPhaseType::Completed, None))
            .logs(
                cb::LogsLocation::builder()
                    .group_name("/aws/codebuild/amagent-builds")
                    .stream_name("0d5c0a4e")
                    .build(),
            )
            .build();
        let run = build_from_sdk("BatchGetBuilds", &b).unwrap();
        assert_eq!(run.status, BuildStatus::Failed);
        let names: Vec<_> = run.phases.iter().map(|p| p.phase.as_str()).collect();
        assert_eq!(names, ["SUBMITTED", "BUILD", "COMPLETED"]);
        assert_eq!(run.phases[1].status.as_deref(), Some("FAILED"));
        assert_eq!(run.phases[1].duration_seconds, Some(41));
        assert_eq!(
            run.phases[1].messages,
            ["Error while executing command: docker buildx build. Reason: exit status 1"]
        );
        assert_eq!(run.phases[2].status, None);
        assert_eq!(
            run.log,
            Some(("/aws/codebuild/amagent-builds".into(), "0d5c0a4e".into()))
        );
        assert!(run.exported.is_empty());
    }

    #[test]
    fn an_unknown_status_is_an_error_not_a_guess() {
        let b = cb::Build::builder()
            .id("p:1")
            .build_status(cb::StatusType::from("PAUSED"))
            .build();
        let err = build_from_sdk("BatchGetBuilds", &b).unwrap_err();
        assert!(err.to_string().contains("`PAUSED`"), "{err}");
        let no_status = cb::Build::builder().id("p:2").build();
        assert!(build_from_sdk("BatchGetBuilds", &no_status).is_err());
    }

    #[test]
    fn a_log_without_a_stream_yet_is_none() {
        let b = cb::Build::builder()
            .id("p:1")
            .build_status(cb::StatusType::InProgress)
            .logs(cb::LogsLocation::builder().group_name("g").build())
            .build();
        assert_eq!(build_from_sdk("StartBuild", &b).unwrap().log, None);
    }
}
