//! The shapes AWS and git give names: regions, ECS, RDS and ECR names, tag names, and URLs
//! that carry credentials. Pure predicates, plus the rule that reports a bad name.

use crate::config::diagnostic::Diagnostic;
use crate::config::position::FieldPath;
use crate::config::printable::short_name;
use crate::config::units::Located;

pub(super) fn is_region(s: &str) -> bool {
    // e.g. ap-southeast-2, us-gov-west-1, eu-central-1
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// ECS cluster, service, task family and container names: letters, digits, `-`, `_`.
pub(super) fn is_ecs_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RDS DB instance identifier rules.
pub(super) fn is_rds_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// ECR repository names: lowercase path components separated by `/`.
pub(super) fn is_ecr_repository(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 256
        && s.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
}

pub(super) fn name_rule(
    at: &Located,
    path: FieldPath,
    value: &str,
    ok: bool,
    what: &str,
    rule: &str,
    out: &mut Vec<Diagnostic>,
) {
    if !ok {
        out.push(at.at_value(
            &path,
            format!("`{}` is not a valid {what}", short_name(value)),
            Some(rule.to_string()),
        ));
    }
}

/// git's rules for a tag name, as far as they matter here.
pub(super) fn is_tag_name(r: &str) -> bool {
    !r.starts_with('-')
        && !r.starts_with('/')
        && !r.ends_with('/')
        && !r.ends_with('.')
        && !r.ends_with(".lock")
        && !r.contains("..")
        && !r.contains("@{")
        && !r.contains("//")
        && r.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"~^:?*[\\".contains(c))
}

/// A git URL over http(s) that names a user (a token is often passed as the user name) or
/// any URL with a password. `ssh://git@host` is fine: that user is not a secret.
pub(super) fn url_has_credentials(url: &str) -> bool {
    let http = url.starts_with("https://") || url.starts_with("http://");
    url_has_password(url)
        || (http
            && url
                .split_once("://")
                .and_then(|(_, rest)| rest.split('/').next())
                .is_some_and(|authority| authority.contains('@')))
}

/// `scheme://user:password@host` — the password part is what must not be in config.
pub(super) fn url_has_password(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo.contains(':'),
        None => false,
    }
}

pub(super) fn is_env_var_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        assert!(is_region("ap-southeast-2"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("ap-southeast"));
        assert!(!is_region("Sydney"));
    }

    #[test]
    fn rds_identifiers() {
        assert!(is_rds_identifier("aussie-markets-staging-db"));
        assert!(!is_rds_identifier("1db"));
        assert!(!is_rds_identifier("db--x"));
        assert!(!is_rds_identifier("db-"));
    }

    #[test]
    fn ecr_names() {
        assert!(is_ecr_repository("aussie-markets/api"));
        assert!(!is_ecr_repository("Aussie/api"));
        assert!(!is_ecr_repository("a//b"));
    }

    #[test]
    fn credentials_in_urls() {
        assert!(url_has_password("postgresql://admin:pw@host:5432/db"));
        assert!(!url_has_password("redis://host:6379"));
        assert!(!url_has_password("https://git@github.com/x.git"));
    }

    #[test]
    fn tag_names() {
        assert!(is_tag_name("v1.4.0"));
        assert!(is_tag_name("release/2026-11"));
        assert!(!is_tag_name("v1..0"));
        assert!(!is_tag_name("has space"));
    }
}
