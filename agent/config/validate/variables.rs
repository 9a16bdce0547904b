//! Rules for a service's `env` and `secrets`: variable names, credentials in plain text, and
//! the environment's SSM naming convention.

use super::Header;
use super::shapes::{is_env_var_name, url_has_password};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::Service;
use crate::config::position::FieldPath;
use crate::config::units::Located;

fn looks_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "PRIVATE_KEY"]
        .iter()
        .any(|w| upper.ends_with(w))
}

/// The SSM parameter name the convention gives for `variable` of `service`.
fn conventional_ssm_name(naming: &str, env: &str, service: &str, variable: &str) -> String {
    let secret = variable.to_ascii_lowercase().replace('_', "-");
    naming
        .replace("{env}", env)
        .replace("{service}", service)
        .replace("{secret}", &secret)
}

fn follows_convention(naming: &str, env: &str, service: &str, parameter: &str) -> bool {
    let Some((before, after)) = naming.split_once("{secret}") else {
        return false;
    };
    let fill = |t: &str| t.replace("{env}", env).replace("{service}", service);
    let (prefix, suffix) = (fill(before), fill(after));
    parameter
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(&suffix))
        .is_some_and(|middle| !middle.is_empty() && !middle.contains('/'))
}

pub(super) fn check_variables(
    at: &Located,
    header: Option<&Header>,
    path: &FieldPath,
    s: &Service,
    out: &mut Vec<Diagnostic>,
) {
    let naming = header.map(|h| (h.ssm.naming.as_str(), h.name.as_str()));
    let suggest = |var: &str| match naming {
        Some((n, env)) => format!("`{var}: {}`", conventional_ssm_name(n, env, &s.name, var)),
        None => format!("`{var}: <SSM parameter name>`"),
    };
    for (name, value) in &s.env {
        let p = path.key("env").key(name);
        if !is_env_var_name(name) {
            out.push(at.at_key(
                &p,
                format!("`{name}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit".into()),
            ));
        }
        if s.secrets.contains_key(name) {
            out.push(at.at_key(
                &p,
                format!("`{name}` is set both in `env` and in `secrets`"),
                Some("keep it in `secrets` only".into()),
            ));
        } else if url_has_password(value) || (looks_secret_name(name) && !value.is_empty()) {
            // The value is never printed: it is (or may be) a credential.
            out.push(at.at_key(
                &p,
                format!("`env.{name}` holds a credential in plain text"),
                Some(format!(
                    "store it in SSM Parameter Store and reference it under `secrets:`, e.g. {}",
                    suggest(name)
                )),
            ));
        }
    }
    for (name, parameter) in &s.secrets {
        let p = path.key("secrets").key(name);
        if !is_env_var_name(name) {
            out.push(at.at_key(
                &p,
                format!("`{name}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit".into()),
            ));
        }
        if let Some((n, env)) = naming
            && !follows_convention(n, env, &s.name, parameter)
        {
            out.push(at.at_value(
                    &p,
                    format!("SSM parameter `{parameter}` does not follow this environment's naming convention `{n}`"),
                    Some(format!("write {}", suggest(name))),
                ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssm_convention() {
        let n = "/aussie-markets/{env}/{service}/{secret}";
        assert!(follows_convention(
            n,
            "staging",
            "api",
            "/aussie-markets/staging/api/database-url"
        ));
        assert!(!follows_convention(
            n,
            "staging",
            "api",
            "/aussie-markets/production/api/database-url"
        ));
        assert!(!follows_convention(
            n,
            "staging",
            "api",
            "/aussie-markets/staging/api/"
        ));
        assert!(!follows_convention(
            n,
            "staging",
            "api",
            "/aussie-markets/staging/api/a/b"
        ));
        assert_eq!(
            conventional_ssm_name(n, "staging", "api", "DATABASE_URL"),
            "/aussie-markets/staging/api/database-url"
        );
    }
}
