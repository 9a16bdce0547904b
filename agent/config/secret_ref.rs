//! What a `services[].secrets` value names: an SSM parameter (by name), or a Secrets Manager
//! secret by ARN with ECS's optional `:json-key:version-stage:version-id` suffix. Pure: the
//! shape only — whether it exists is preflight's question, and values are never read.

/// One value of `services[].secrets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// An SSM parameter name, e.g. `/aussie-markets/staging/api/database-url`.
    Parameter(String),
    SecretsManager(SecretsManagerRef),
}

/// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>[:<json-key>[:<version-stage>[:<version-id>]]]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretsManagerRef {
    /// The secret's own ARN (the first seven parts): what DescribeSecret takes.
    pub secret_arn: String,
    pub json_key: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
}

/// The shape ECS takes, for hints.
pub const SECRETS_MANAGER_SHAPE: &str = "arn:aws:secretsmanager:<region>:<account>:secret:<name>[:<json-key>[:<version-stage>[:<version-id>]]]";

/// Why a value that starts with `arn:` is not a Secrets Manager reference.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretArnError {
    #[error("is an SSM parameter ARN; write the parameter name `{0}` instead")]
    SsmArn(String),
    #[error("is an ARN of `{0}`, not of Secrets Manager (`secretsmanager`)")]
    OtherService(String),
    #[error("is not a Secrets Manager ARN: {0}")]
    Shape(&'static str),
}

/// True when `value` is written as an ARN (then it must be a Secrets Manager one).
pub fn is_arn(value: &str) -> bool {
    value.starts_with("arn:")
}

/// What `value` names. Values not starting with `arn:` are SSM parameter names.
pub fn parse(value: &str) -> Result<SecretSource, SecretArnError> {
    if !is_arn(value) {
        return Ok(SecretSource::Parameter(value.to_string()));
    }
    let parts: Vec<&str> = value.split(':').collect();
    let service = parts.get(2).copied().unwrap_or("");
    if service == "ssm" {
        let name = parts[5..].join(":");
        let name = name.strip_prefix("parameter").unwrap_or(&name);
        return Err(SecretArnError::SsmArn(name.to_string()));
    }
    if service != "secretsmanager" {
        return Err(SecretArnError::OtherService(service.to_string()));
    }
    if !(7..=10).contains(&parts.len()) {
        return Err(SecretArnError::Shape(
            "expected 7 to 10 `:`-separated parts",
        ));
    }
    let [_, partition, _, region, account, kind, name] = [0, 1, 2, 3, 4, 5, 6].map(|i| parts[i]);
    if partition.is_empty()
        || !partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
    {
        return Err(SecretArnError::Shape(
            "the partition (e.g. `aws`) is missing",
        ));
    }
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(SecretArnError::Shape("the region is missing or malformed"));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SecretArnError::Shape("the account id must be 12 digits"));
    }
    if kind != "secret" {
        return Err(SecretArnError::Shape(
            "the resource must be `secret:<name>`",
        ));
    }
    if name.is_empty() || !name.bytes().all(is_secret_name_byte) {
        return Err(SecretArnError::Shape(
            "the secret name must be letters, digits and /_+=.@-",
        ));
    }
    let optional = |i: usize| {
        parts
            .get(i)
            .filter(|p| !p.is_empty())
            .map(|p| p.to_string())
    };
    let reference = SecretsManagerRef {
        secret_arn: parts[..7].join(":"),
        json_key: optional(7),
        version_stage: optional(8),
        version_id: optional(9),
    };
    if reference.version_stage.is_some() && reference.version_id.is_some() {
        return Err(SecretArnError::Shape(
            "give a version stage or a version id, not both",
        ));
    }
    Ok(SecretSource::SecretsManager(reference))
}

fn is_secret_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b)
}

/// True for a well-formed Secrets Manager reference (ECS takes it as `valueFrom` unchanged).
pub fn is_secrets_manager(value: &str) -> bool {
    matches!(parse(value), Ok(SecretSource::SecretsManager(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:api/stripe-AbCdEf";

    fn sm(value: &str) -> SecretsManagerRef {
        match parse(value) {
            Ok(SecretSource::SecretsManager(r)) => r,
            other => panic!("{value}: {other:?}"),
        }
    }

    #[test]
    fn names_are_ssm_parameters() {
        assert_eq!(
            parse("/aussie-markets/staging/api/database-url"),
            Ok(SecretSource::Parameter(
                "/aussie-markets/staging/api/database-url".into()
            ))
        );
        assert!(!is_secrets_manager("/a/b"));
    }

    #[test]
    fn a_bare_secret_arn() {
        let r = sm(ARN);
        assert_eq!(r.secret_arn, ARN);
        assert_eq!(
            (r.json_key, r.version_stage, r.version_id),
            (None, None, None)
        );
    }

    #[test]
    fn json_key_and_version_suffixes_as_ecs_writes_them() {
        let r = sm(&format!("{ARN}:password::"));
        assert_eq!(r.secret_arn, ARN);
        assert_eq!(r.json_key.as_deref(), Some("password"));
        assert_eq!(r.version_stage, None);
        let r = sm(&format!("{ARN}:password:AWSPREVIOUS:"));
        assert_eq!(r.version_stage.as_deref(), Some("AWSPREVIOUS"));
        let r = sm(&format!("{ARN}:::0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"));
        assert_eq!(r.json_key, None);
        assert_eq!(
            r.version_id.as_deref(),
            Some("0f1e2d3c-aaaa-bbbb-cccc-1234567890ab")
        );
        assert!(is_secrets_manager(&format!("{ARN}:key")));
    }

    #[test]
    fn malformed_arns_say_what_is_wrong() {
        let ssm = "arn:aws:ssm:ap-southeast-2:123456789012:parameter/aussie/db";
        assert_eq!(parse(ssm), Err(SecretArnError::SsmArn("/aussie/db".into())));
        assert_eq!(
            parse("arn:aws:kms:ap-southeast-2:123456789012:key/abc"),
            Err(SecretArnError::OtherService("kms".into()))
        );
        for (value, reason) in [
            (
                "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret",
                "7 to 10",
            ),
            (
                "arn:aws:secretsmanager:ap-southeast-2:1234:secret:x",
                "12 digits",
            ),
            ("arn:aws:secretsmanager::123456789012:secret:x", "region"),
            (
                "arn:aws:secretsmanager:ap-southeast-2:123456789012:key:x",
                "`secret:<name>`",
            ),
            (
                "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:a b",
                "letters",
            ),
            (
                "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:x:k:AWSCURRENT:id",
                "not both",
            ),
            (
                "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:x:k:s:i:extra",
                "7 to 10",
            ),
        ] {
            let err = parse(value).unwrap_err().to_string();
            assert!(err.contains(reason), "{value}: {err}");
        }
    }
}
