//! SDK errors → [`CloudError`]: throttling and transient failures become retryable, access
//! denied names the IAM action and resource, missing things say what was missing.

use super::iam;
use crate::cloud::{CloudError, ResourceKind};
use aws_sdk_ecs::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What to call a missing resource, when the error code alone does not say.
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    pub kind: ResourceKind,
    pub name: &'a str,
}

pub fn map<E, R>(operation: &str, subject: Subject<'_>, err: SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().unwrap_or_default().to_string();
    let message = err
        .message()
        .map(String::from)
        .unwrap_or_else(|| describe(&err));
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return CloudError::Unavailable {
                operation: operation.to_string(),
                message: describe(&err),
            };
        }
        _ => {}
    }
    classify(operation, subject, &code, &message)
}

fn describe<E: std::error::Error + 'static, R: std::fmt::Debug>(err: &SdkError<E, R>) -> String {
    // The source chain says more than the top-level "service error".
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The decision, on the error code and message alone (unit-testable).
pub fn classify(operation: &str, subject: Subject<'_>, code: &str, message: &str) -> CloudError {
    let lower = code.to_ascii_lowercase();
    if lower.contains("throttl")
        || lower.contains("toomanyrequests")
        || lower.contains("requestlimitexceeded")
        || lower == "slowdown"
        || lower.contains("ratelimit")
    {
        return CloudError::Throttled {
            operation: operation.to_string(),
        };
    }
    if lower.contains("accessdenied")
        || lower.contains("unauthorized")
        || lower == "authfailure"
        || lower.contains("notauthorized")
    {
        return CloudError::AccessDenied {
            action: iam::action(operation).to_string(),
            resource: subject.name.to_string(),
        };
    }
    if lower.contains("notfound")
        || lower.starts_with("nosuch")
        || lower == "invalidparameters"
        || (lower == "clientexception"
            && message
                .to_ascii_lowercase()
                .contains("unable to describe task definition"))
    {
        return CloudError::NotFound {
            kind: subject.kind,
            name: subject.name.to_string(),
        };
    }
    if lower.contains("serviceunavailable") || lower.contains("internal") || lower == "servererror"
    {
        return CloudError::Unavailable {
            operation: operation.to_string(),
            message: format!("{code}: {message}"),
        };
    }
    CloudError::InvalidRequest {
        operation: operation.to_string(),
        message: if code.is_empty() {
            message.to_string()
        } else {
            format!("{code}: {message}")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVC: Subject = Subject {
        kind: ResourceKind::Service,
        name: "aussie-markets-api-staging",
    };

    #[test]
    fn codes_map_to_what_a_person_can_act_on() {
        assert!(matches!(
            classify(
                "DescribeServices",
                SVC,
                "ThrottlingException",
                "Rate exceeded"
            ),
            CloudError::Throttled { .. }
        ));
        assert_eq!(
            classify("UpdateService", SVC, "AccessDeniedException", "no").to_string(),
            "access denied: ecs:UpdateService on aussie-markets-api-staging (grant it to the agent's role; see docs/iam-policy.json)"
        );
        assert_eq!(
            classify("DescribeServices", SVC, "ServiceNotFoundException", "x").to_string(),
            "ECS service `aussie-markets-api-staging` not found"
        );
        assert!(matches!(
            classify(
                "PutObject",
                SVC,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold"
            ),
            CloudError::InvalidRequest { .. }
        ));
        assert!(classify("GetObject", SVC, "InternalError", "x").is_retryable());
    }
}
