//! The names amagent needs that AWS does not have: each service's `name`, and the
//! environment's `ssm.naming` — found in the SSM parameter paths the services already use, so
//! that the adopted secrets follow the convention `validate` checks. Pure.

use super::InitError;
use crate::config::names::is_amagent_name;

/// One service's candidates for its name, most telling first (the container, the last part of
/// its ECR repository, the ECS service), and the SSM parameter names its secrets use.
pub struct Naming<'a> {
    pub ecs_service: &'a str,
    pub candidates: Vec<String>,
    pub parameters: Vec<&'a str>,
}

/// Each service's `name`, and `ssm.naming`.
pub fn names(env: &str, services: &[Naming<'_>]) -> Result<(Vec<String>, String), InitError> {
    let mut chosen: Vec<String> = services.iter().map(|s| own_name(s)).collect();
    // Two services may not share a name: those fall back to their ECS service name.
    for i in 0..chosen.len() {
        if chosen.iter().filter(|n| **n == chosen[i]).count() > 1 {
            let twins: Vec<usize> = (0..chosen.len())
                .filter(|j| chosen[*j] == chosen[i])
                .collect();
            for j in twins {
                chosen[j] = services[j].ecs_service.to_string();
            }
        }
    }
    let mut naming: Option<(String, &str)> = None;
    for (s, name) in services.iter().zip(&chosen) {
        for parameter in &s.parameters {
            let template = template(env, name, parameter).ok_or_else(|| InitError::Naming {
                detail: format!(
                    "SSM parameter `{parameter}` (service {}) is not a path `/…/{name}/<secret>` that names the service",
                    s.ecs_service
                ),
            })?;
            match &naming {
                None => naming = Some((template, parameter)),
                Some((t, first)) if *t != template => {
                    return Err(InitError::Naming {
                        detail: format!(
                            "SSM parameters `{first}` and `{parameter}` follow different paths (`{t}` and `{template}`)"
                        ),
                    });
                }
                Some(_) => {}
            }
        }
    }
    let naming = naming
        .map(|(t, _)| t)
        .unwrap_or_else(|| "/{env}/{service}/{secret}".to_string());
    Ok((chosen, naming))
}

/// The service's name: the candidate its SSM parameter paths name (the segment before the
/// secret's own, counted from the end), else its first valid candidate.
fn own_name(s: &Naming<'_>) -> String {
    let valid = || s.candidates.iter().filter(|c| is_amagent_name(c));
    if let Some(parameter) = s.parameters.first() {
        let segments: Vec<&str> = parameter.split('/').collect();
        if let Some(found) = valid().find(|c| segments[..segments.len() - 1].contains(&c.as_str()))
        {
            return found.clone();
        }
        // A path like /org/env/<x>/secret: the parent segment names the service.
        if let Some(parent) = segments.len().checked_sub(2).map(|i| segments[i])
            && is_amagent_name(parent)
        {
            return parent.to_string();
        }
    }
    valid()
        .next()
        .cloned()
        .unwrap_or_else(|| s.ecs_service.to_string())
}

/// `parameter` as a naming template: its last segment `{secret}`, the segment naming the service
/// `{service}` (the last such), segments naming the environment `{env}`.
fn template(env: &str, service: &str, parameter: &str) -> Option<String> {
    let segments: Vec<&str> = parameter.strip_prefix('/')?.split('/').collect();
    let (secret, dir) = segments.split_last()?;
    let at = dir.iter().rposition(|s| *s == service)?;
    if secret.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (i, segment) in dir.iter().enumerate() {
        out.push('/');
        out.push_str(match *segment {
            _ if i == at => "{service}",
            s if s == env => "{env}",
            s => s,
        });
    }
    out.push_str("/{secret}");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming<'a>(ecs: &'a str, candidates: &[&str], parameters: &[&'a str]) -> Naming<'a> {
        Naming {
            ecs_service: ecs,
            candidates: candidates.iter().map(|c| c.to_string()).collect(),
            parameters: parameters.to_vec(),
        }
    }

    #[test]
    fn the_reference_layout() {
        let (names, ssm) = names(
            "staging",
            &[
                naming(
                    "aussie-markets-api-staging",
                    &["api", "api", "aussie-markets-api-staging"],
                    &[
                        "/aussie-markets/staging/api/database-url",
                        "/aussie-markets/staging/api/redis-url",
                    ],
                ),
                naming("aussie-markets-web-staging", &["web", "web"], &[]),
            ],
        )
        .unwrap();
        assert_eq!(names, ["api", "web"]);
        assert_eq!(ssm, "/aussie-markets/{env}/{service}/{secret}");
    }

    #[test]
    fn the_path_names_the_service_when_no_candidate_does() {
        let (names, ssm) = names(
            "prod",
            &[naming(
                "svc",
                &["app", "svc"],
                &["/acme/prod/billing/db-password"],
            )],
        )
        .unwrap();
        assert_eq!(names, ["billing"]);
        assert_eq!(ssm, "/acme/{env}/{service}/{secret}");
    }

    #[test]
    fn no_secrets_gives_the_default_convention_and_twins_their_ecs_names() {
        let (names, ssm) = names(
            "qa",
            &[
                naming("a-svc", &["app"], &[]),
                naming("b-svc", &["app"], &[]),
            ],
        )
        .unwrap();
        assert_eq!(names, ["a-svc", "b-svc"]);
        assert_eq!(ssm, "/{env}/{service}/{secret}");
    }

    #[test]
    fn paths_that_follow_no_one_convention_are_refused_naming_both() {
        let err = names(
            "staging",
            &[
                naming("a", &["api"], &["/one/staging/api/x"]),
                naming("b", &["web"], &["/two/staging/web/y"]),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/one/staging/api/x") && err.contains("/two/staging/web/y"),
            "{err}"
        );
        let err = names("staging", &[naming("a", &["api"], &["flat-name"])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("flat-name"), "{err}");
    }
}
