//! CodeBuild through aws-sdk-codebuild: the project builds run in (read, or created with
//! `create:`), and builds started with the agent's own source, buildspec and environment as
//! overrides, polled, and stopped.
//!
//! Retries: the SDK retries transient failures itself and the stages wrap calls in
//! `cloud::retry`. StartBuild is among them safely because every request carries the
//! caller's idempotency token: CodeBuild answers a repeat within 5 minutes with the build the
//! first one started instead of starting another.

use super::codebuild_shapes::*;
use super::error::{self, Subject};
use crate::cloud::types::*;
use crate::cloud::{Builds, CloudError, CloudResult, ResourceKind};
use async_trait::async_trait;
use aws_sdk_codebuild::config::http::HttpResponse;
use aws_sdk_codebuild::error::SdkError;
use aws_sdk_codebuild::types as cb;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub struct AwsBuilds {
    pub(super) client: aws_sdk_codebuild::Client,
}

fn project(name: &str) -> Subject<'_> {
    Subject {
        kind: ResourceKind::BuildProject,
        name,
    }
}

fn build(id: &str) -> Subject<'_> {
    Subject {
        kind: ResourceKind::Build,
        name: id,
    }
}

/// [`error::map`], plus what CodeBuild's errors need besides: any 5xx is transient whatever
/// its code, and a refused `iam:PassRole` (CreateProject hands CodeBuild the service role)
/// names that action rather than the operation's own.
fn map<E>(operation: &str, subject: Subject<'_>, err: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let SdkError::ServiceError(s) = &err {
        if s.raw().status().is_server_error() {
            return CloudError::Unavailable {
                operation: operation.to_string(),
                message: format!(
                    "HTTP {} {}: {}",
                    s.raw().status().as_u16(),
                    err.code().unwrap_or_default(),
                    err.message().unwrap_or_default()
                ),
            };
        }
        if err.message().is_some_and(|m| m.contains("iam:PassRole")) {
            return CloudError::AccessDenied {
                action: super::iam::PASS_ROLE.to_string(),
                resource: subject.name.to_string(),
            };
        }
    }
    error::map(operation, subject, err)
}

#[async_trait]
impl Builds for AwsBuilds {
    async fn project(&self, name: &str) -> CloudResult<Option<BuildProject>> {
        let out = self
            .client
            .batch_get_projects()
            .names(name)
            .send()
            .await
            .map_err(|e| map("BatchGetProjects", project(name), e))?;
        // A missing project is listed in projectsNotFound, not an error.
        Ok(out
            .projects()
            .iter()
            .find(|p| p.name() == Some(name) || p.arn() == Some(name))
            .map(project_from_sdk))
    }

    async fn create_project(&self, p: &NewBuildProject) -> CloudResult<BuildProject> {
        let out = self
            .client
            .create_project()
            .name(&p.name)
            .source(source_to_sdk(&p.source_location))
            .artifacts(artifacts_to_sdk())
            .environment(environment_to_sdk(p))
            .service_role(&p.service_role)
            .timeout_in_minutes(minutes(p.timeout_minutes))
            .logs_config(logs_to_sdk())
            .set_tags(Some(tags_to_sdk(&p.tags)))
            .send()
            .await
            .map_err(|e| {
                // PassRole is refused on the role, everything else on the project.
                let denied_role = e.message().is_some_and(|m| m.contains("iam:PassRole"));
                let subject = if denied_role {
                    p.service_role.as_str()
                } else {
                    p.name.as_str()
                };
                map("CreateProject", project(subject), e)
            })?;
        out.project()
            .map(project_from_sdk)
            .ok_or_else(|| CloudError::invalid("CreateProject", "CodeBuild returned no project"))
    }

    async fn start_build(&self, r: &StartBuild) -> CloudResult<BuildRun> {
        let out = self
            .client
            .start_build()
            .project_name(&r.project)
            .source_type_override(cb::SourceType::S3)
            .source_location_override(&r.source_location)
            .buildspec_override(&r.buildspec)
            .environment_type_override(cb::EnvironmentType::from(r.environment_type.as_str()))
            .image_override(&r.image)
            .compute_type_override(cb::ComputeType::from(r.compute_type.as_str()))
            .privileged_mode_override(r.privileged)
            .set_environment_variables_override(Some(variables_to_sdk(&r.environment)))
            .timeout_in_minutes_override(minutes(r.timeout_minutes))
            .idempotency_token(&r.idempotency_token)
            .send()
            .await
            .map_err(|e| map("StartBuild", project(&r.project), e))?;
        let started = out
            .build_value()
            .ok_or_else(|| CloudError::invalid("StartBuild", "CodeBuild returned no build"))?;
        build_from_sdk("StartBuild", started)
    }

    async fn batch_get_builds(&self, ids: &[String]) -> CloudResult<Vec<BuildRun>> {
        if ids.len() > BATCH_GET_BUILDS {
            return Err(CloudError::invalid(
                "BatchGetBuilds",
                "at most 100 build ids per call",
            ));
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .batch_get_builds()
            .set_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| map("BatchGetBuilds", build(&ids.join(", ")), e))?;
        // Unknown ids come back in buildsNotFound: absent from the answer, as the port says.
        out.builds()
            .iter()
            .map(|b| build_from_sdk("BatchGetBuilds", b))
            .collect()
    }

    async fn stop_build(&self, id: &str) -> CloudResult<BuildRun> {
        let out = self
            .client
            .stop_build()
            .id(id)
            .send()
            .await
            .map_err(|e| map("StopBuild", build(id), e))?;
        let stopped = out
            .build_value()
            .ok_or_else(|| CloudError::not_found(ResourceKind::Build, id))?;
        build_from_sdk("StopBuild", stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codebuild::operation::start_build::StartBuildError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(status: u16, code: &str, message: &str) -> SdkError<StartBuildError> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(
            StartBuildError::generic(meta),
            HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()),
        )
    }

    const P: Subject = Subject {
        kind: ResourceKind::BuildProject,
        name: "amagent-builds",
    };

    #[test]
    fn codebuild_errors_map_to_what_a_person_can_act_on() {
        let denied = map(
            "StartBuild",
            P,
            service_error(400, "AccessDeniedException", "not authorized"),
        );
        assert_eq!(
            denied,
            CloudError::AccessDenied {
                action: "codebuild:StartBuild".into(),
                resource: "amagent-builds".into()
            }
        );
        let missing = map(
            "StartBuild",
            P,
            service_error(400, "ResourceNotFoundException", "Project cannot be found"),
        );
        assert_eq!(
            missing,
            CloudError::not_found(ResourceKind::BuildProject, "amagent-builds")
        );
        let throttled = map(
            "BatchGetBuilds",
            P,
            service_error(400, "ThrottlingException", "Rate exceeded"),
        );
        assert!(matches!(throttled, CloudError::Throttled { .. }));
        // A 5xx with a code error.rs does not know is still transient.
        let unavailable = map(
            "StartBuild",
            P,
            service_error(502, "BadGateway", "try again"),
        );
        assert!(unavailable.is_retryable(), "{unavailable}");
        assert!(
            unavailable.to_string().contains("HTTP 502"),
            "{unavailable}"
        );
        let bad_input = map(
            "StartBuild",
            P,
            service_error(400, "InvalidInputException", "Invalid compute type"),
        );
        assert!(!bad_input.is_retryable());
    }

    #[test]
    fn a_refused_pass_role_names_iam_pass_role_and_the_role() {
        let err = map(
            "CreateProject",
            project("arn:aws:iam::123456789012:role/amagent-codebuild"),
            service_error(
                400,
                "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/amagent/x is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/amagent-codebuild",
            ),
        );
        assert_eq!(
            err.to_string(),
            "access denied: iam:PassRole on arn:aws:iam::123456789012:role/amagent-codebuild (grant it to the agent's role; see docs/iam-policy.json)"
        );
    }
}
