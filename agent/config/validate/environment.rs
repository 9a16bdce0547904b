//! Rules for an environment's header: AWS account and region, cluster, database and its
//! snapshot policy, ECR lifecycle, SSM naming, and promotion.

use super::pipeline::check_header_common;
use super::shapes::{is_ecs_name, is_rds_identifier, is_region, name_rule};
use super::{Header, root};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Aws, Database, Lifecycle, Promotion, SnapshotPolicy};
use crate::config::position::FieldPath;
use crate::config::printable::short_name;
use crate::config::suggest::{did_you_mean, one_of};
use crate::config::units::Located;

pub(super) fn check_environment_header(
    at: &Located,
    h: &Header,
    env_names: &[&str],
    out: &mut Vec<Diagnostic>,
) {
    check_header_common(
        at,
        &h.api_version,
        &h.kind,
        &h.name,
        "Environment",
        "environments",
        out,
    );
    if !is_region(&h.aws.region) {
        out.push(at.at_value(
            &root().key("aws").key("region"),
            format!("`{}` is not an AWS region name", h.aws.region),
            Some("write a region code such as `ap-southeast-2`".into()),
        ));
    }
    if h.aws.account_id.len() != 12 || !h.aws.account_id.bytes().all(|b| b.is_ascii_digit()) {
        out.push(at.at_value(
            &root().key("aws").key("accountId"),
            "`aws.accountId` must be exactly 12 digits".into(),
            Some("write the account id in quotes, e.g. `accountId: \"123456789012\"`".into()),
        ));
    }
    name_rule(
        at,
        root().key("ecs").key("cluster"),
        &h.ecs.cluster,
        is_ecs_name(&h.ecs.cluster),
        "ECS cluster name",
        "use letters, digits, `-` and `_` (at most 255)",
        out,
    );
    check_role(at, &h.aws, out);
    if let Some(db) = &h.database {
        check_database(at, db, out);
    }
    check_ecr_lifecycle(at, &h.ecr.lifecycle, out);
    check_ssm_naming(at, &h.ssm.naming, out);
    if let Some(p) = &h.promotion {
        check_promotion(at, h, p, env_names, out);
    }
    super::notify::check_notify(at, h, out);
}

/// `aws.roleArn` must be an IAM role in the environment's own account: the agent acts there.
fn check_role(at: &Located, aws: &Aws, out: &mut Vec<Diagnostic>) {
    let path = root().key("aws");
    if let Some(arn) = &aws.role_arn {
        match role_account(arn) {
            None => out.push(at.at_value(
                &path.key("roleArn"),
                format!("`{}` is not an IAM role ARN", short_name(arn)),
                Some(format!(
                    "write e.g. `roleArn: arn:aws:iam::{}:role/amagent-deployer`",
                    aws.account_id
                )),
            )),
            Some(account) if account != aws.account_id => out.push(at.at_value(
                &path.key("roleArn"),
                format!(
                    "the role is in account {account}, but `aws.accountId` is {}",
                    aws.account_id
                ),
                Some("name a role in this environment's account (the agent acts in the role's account), or fix `accountId`".into()),
            )),
            Some(_) => {}
        }
    }
    if let Some(id) = &aws.external_id {
        let valid = (2..=1224).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/-_".contains(&b));
        if aws.role_arn.is_none() {
            out.push(at.at_key(
                &path.key("externalId"),
                "`externalId` is only used with `roleArn`".into(),
                Some("add the `roleArn` it belongs to, or remove `externalId`".into()),
            ));
        } else if !valid {
            // Not echoed: an external id is shared with the account owner only.
            out.push(at.at_key(
                &path.key("externalId"),
                "`externalId` must be 2 to 1224 letters, digits or `+=,.@:/-_`".into(),
                Some("copy it from the role's trust policy (`sts:ExternalId`)".into()),
            ));
        }
    }
}

/// `arn:aws:iam::123456789012:role/path/name` → the account; None when not a role ARN.
fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("role/")?;
    (arn_ == "arn"
        && ["aws", "aws-cn", "aws-us-gov"].contains(&partition)
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && !name.ends_with('/'))
    .then_some(account)
}

fn check_database(at: &Located, db: &Database, out: &mut Vec<Diagnostic>) {
    let path = root().key("database");
    name_rule(
        at,
        path.key("instanceId"),
        &db.instance_id,
        is_rds_identifier(&db.instance_id),
        "RDS instance identifier",
        "start with a letter; use letters, digits and single hyphens; no trailing hyphen",
        out,
    );
    if db.snapshots.policy != SnapshotPolicy::Never && db.snapshots.retain == 0 {
        out.push(at.at_value(
                &path.key("snapshots").key("retain"),
                "`retain: 0` would delete each snapshot as soon as it is taken".into(),
                Some("keep at least 1 (RDS allows 100 manual snapshots per region), or set `policy: never`".into()),
            ));
    }
    if db.snapshots.retain > 100 {
        out.push(at.at_value(
            &path.key("snapshots").key("retain"),
            format!(
                "`retain: {}` is more than RDS's default quota of 100 manual snapshots per region",
                db.snapshots.retain
            ),
            Some("keep at most 100".into()),
        ));
    }
}

fn check_ecr_lifecycle(at: &Located, rules: &Lifecycle, out: &mut Vec<Diagnostic>) {
    let lifecycle = root().key("ecr").key("lifecycle");
    if rules.keep_last_tagged == 0 {
        out.push(at.at_value(
            &lifecycle.key("keepLastTagged"),
            "`keepLastTagged: 0` would leave no image to roll back to".into(),
            Some(
                "keep at least 1 (images in use are always kept), e.g. `keepLastTagged: 10`".into(),
            ),
        ));
    }
    if rules.expire_untagged_after_days == 0 {
        out.push(at.at_value(
            &lifecycle.key("expireUntaggedAfterDays"),
            "`expireUntaggedAfterDays` must be at least 1".into(),
            Some("ECR counts whole days since push: write `expireUntaggedAfterDays: 1`".into()),
        ));
    }
}

fn check_promotion(
    at: &Located,
    h: &Header,
    p: &Promotion,
    env_names: &[&str],
    out: &mut Vec<Diagnostic>,
) {
    let path = root().key("promotion");
    if p.from == h.name {
        out.push(at.at_value(
            &path.key("from"),
            format!("environment `{}` cannot promote from itself", h.name),
            Some("name the environment whose verified images this one receives, e.g. `from: staging`".into()),
        ));
    } else if !env_names.contains(&p.from.as_str()) {
        let others: Vec<&str> = env_names.iter().copied().filter(|n| *n != h.name).collect();
        let hint = match did_you_mean(&p.from, &others) {
            Some(s) => format!("did you mean `{s}`?"),
            None if others.is_empty() => {
                "add environments/<name>.yaml for the source environment".into()
            }
            None => format!("environments here: {}", one_of(&others)),
        };
        out.push(at.at_value(
            &path.key("from"),
            format!("promotion source `{}` is not an environment", p.from),
            Some(hint),
        ));
    }
    check_tag_pattern(
        at,
        &path,
        &p.tag_pattern,
        p.version_requirement.as_deref(),
        out,
    );
}

fn check_ssm_naming(at: &Located, naming: &str, out: &mut Vec<Diagnostic>) {
    let path = root().key("ssm").key("naming");
    let hint = Some(
        "write a parameter path template such as `/my-app/{env}/{service}/{secret}`".to_string(),
    );
    let problem = if !naming.starts_with('/') {
        Some("`ssm.naming` must start with `/`".to_string())
    } else if !naming.contains("{service}") || naming.matches("{secret}").count() != 1 {
        Some("`ssm.naming` must contain `{service}` and `{secret}` once".to_string())
    } else {
        let stripped = naming
            .replace("{env}", "")
            .replace("{service}", "")
            .replace("{secret}", "");
        if stripped.contains('{') || stripped.contains('}') {
            Some(
                "`ssm.naming` may only use the placeholders `{env}`, `{service}` and `{secret}`"
                    .to_string(),
            )
        } else {
            None
        }
    };
    if let Some(message) = problem {
        out.push(at.at_value(&path, message, hint));
    }
}

fn check_tag_pattern(
    at: &Located,
    path: &FieldPath,
    pattern: &str,
    requirement: Option<&str>,
    out: &mut Vec<Diagnostic>,
) {
    let valid = pattern.strip_suffix('*').is_some_and(|prefix| {
        prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
    });
    if !valid {
        out.push(at.at_value(
            &path.key("tagPattern"),
            format!("`{pattern}` is not a semver tag pattern"),
            Some("write a literal prefix followed by `*`, where `*` stands for a whole semver version: `v*` matches v1.4.0".into()),
        ));
    }
    if let Some(req) = requirement
        && let Err(e) = semver::VersionReq::parse(req)
    {
        out.push(at.at_value(
            &path.key("versionRequirement"),
            format!("`{req}` is not a semver requirement: {e}"),
            Some("write a requirement such as `>=1.0.0` or `^2`".into()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::role_account;

    #[test]
    fn role_arns() {
        let ok = "arn:aws:iam::222222222222:role/amagent-deployer";
        assert_eq!(role_account(ok), Some("222222222222"));
        assert_eq!(
            role_account("arn:aws-us-gov:iam::222222222222:role/ci/amagent"),
            Some("222222222222")
        );
        assert_eq!(role_account("arn:aws:iam::222222222222:user/bob"), None);
        assert_eq!(role_account("arn:aws:iam::2222:role/x"), None);
        assert_eq!(role_account("arn:aws:sts::222222222222:role/x"), None);
        assert_eq!(role_account("amagent-deployer"), None);
        assert_eq!(role_account("arn:aws:iam::222222222222:role/"), None);
    }
}
