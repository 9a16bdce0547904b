//! The secrets preflight and `doctor` look up: every secret a service's new task definition
//! will reference must exist before anything changes — SSM parameters by name (GetParameters, ≤ 10 a call, without decryption,
//! values dropped unread) and Secrets Manager secrets by ARN (DescribeSecret, whose answer has
//! no value), including the version id or stage a reference pins. A JSON key cannot be checked
//! without reading the value, so it is not.

use crate::cloud::retry::RetryPolicy;
use crate::cloud::types::SecretDescription;
use crate::cloud::{Cloud, CloudError, GET_PARAMETERS_BATCH};
use crate::config::secret_ref::{self, SecretSource, SecretsManagerRef};
use std::collections::BTreeMap;

/// What is missing, by kind, in the order the spec names them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Missing {
    pub parameters: Vec<String>,
    pub secrets: Vec<String>,
}

impl Missing {
    pub fn is_empty(&self) -> bool {
        self.parameters.is_empty() && self.secrets.is_empty()
    }

    /// e.g. `SSM parameter(s) missing: /a/b; Secrets Manager secret(s) missing: arn:…`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.parameters.is_empty() {
            parts.push(format!(
                "SSM parameter(s) missing: {}",
                self.parameters.join(", ")
            ));
        }
        if !self.secrets.is_empty() {
            parts.push(format!(
                "Secrets Manager secret(s) missing: {}",
                self.secrets.join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// Looks up every value of `secrets` (variable → reference). Values validate rejected never
/// get here; one that does not parse is looked up as an SSM name and reported missing.
pub async fn missing_secrets(
    cloud: &Cloud,
    retry: &RetryPolicy,
    secrets: &BTreeMap<String, String>,
) -> Result<Missing, CloudError> {
    let mut names = Vec::new();
    let mut arns = Vec::new();
    for reference in secrets.values() {
        match secret_ref::parse(reference) {
            Ok(SecretSource::SecretsManager(r)) => arns.push(r),
            _ => names.push(reference.clone()),
        }
    }
    let mut missing = Missing::default();
    for chunk in names.chunks(GET_PARAMETERS_BATCH) {
        let absent = retry
            .run("GetParameters", || cloud.ssm.missing(chunk))
            .await?;
        missing.parameters.extend(absent);
    }
    for reference in &arns {
        let found = retry
            .run("DescribeSecret", || {
                cloud.ssm.describe_secret(&reference.secret_arn)
            })
            .await?;
        if let Some(what) = absent_part(reference, found.as_ref()) {
            missing.secrets.push(what);
        }
    }
    Ok(missing)
}

/// What of `reference` the description lacks: the secret, or the version it pins.
pub fn absent_part(
    reference: &SecretsManagerRef,
    found: Option<&SecretDescription>,
) -> Option<String> {
    let arn = &reference.secret_arn;
    let Some(found) = found else {
        return Some(arn.clone());
    };
    if let Some(id) = &reference.version_id
        && !found.versions.contains_key(id)
    {
        return Some(format!("version id {id} of {arn}"));
    }
    if let Some(stage) = &reference.version_stage
        && !found.versions.values().flatten().any(|s| s == stage)
    {
        return Some(format!("version stage {stage} of {arn}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(suffix: &str) -> SecretsManagerRef {
        let value = format!(
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:api/stripe-AbCdEf{suffix}"
        );
        match secret_ref::parse(&value).unwrap() {
            SecretSource::SecretsManager(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn found() -> SecretDescription {
        SecretDescription {
            arn: reference("").secret_arn,
            versions: BTreeMap::from([
                ("v-current".into(), vec!["AWSCURRENT".into()]),
                ("v-old".into(), vec!["AWSPREVIOUS".into()]),
            ]),
        }
    }

    #[test]
    fn a_missing_secret_or_version_is_named() {
        let arn = reference("").secret_arn;
        assert_eq!(absent_part(&reference(""), None), Some(arn.clone()));
        assert_eq!(absent_part(&reference(""), Some(&found())), None);
        assert_eq!(
            absent_part(&reference(":key:AWSPREVIOUS:"), Some(&found())),
            None
        );
        assert_eq!(absent_part(&reference(":::v-old"), Some(&found())), None);
        assert_eq!(
            absent_part(&reference(":key:BLUE:"), Some(&found())),
            Some(format!("version stage BLUE of {arn}"))
        );
        assert_eq!(
            absent_part(&reference(":::v-gone"), Some(&found())),
            Some(format!("version id v-gone of {arn}"))
        );
    }

    #[test]
    fn the_message_keeps_the_kinds_apart() {
        let m = Missing {
            parameters: vec!["/a/b".into()],
            secrets: vec!["arn:x".into()],
        };
        assert_eq!(
            m.describe(),
            "SSM parameter(s) missing: /a/b; Secrets Manager secret(s) missing: arn:x"
        );
    }
}
