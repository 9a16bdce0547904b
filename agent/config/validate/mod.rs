//! Semantic rules: what serde cannot see. Each rule pins its diagnostic to the field it is
//! about and says what to write instead. Rules never echo values that could be secrets.

mod environment;
mod gates;
mod load_balancers;
mod notify;
mod pipeline;
mod service;
mod shapes;
mod variables;

// Shared with `init`, which refuses to write a credential-looking plain variable.
pub(crate) use shapes::url_has_password;
pub(crate) use variables::looks_secret_name;

use super::diagnostic::Diagnostic;
use super::model::EnvironmentSpec;
use super::names::{check_name, is_amagent_name};
use super::position::FieldPath;
use super::units::{PartialEnvironment, PartialPipeline};
use environment::check_environment_header;
use pipeline::check_pipeline;
use serde_yaml::Value;
use service::{check_duplicates, check_service};
use std::collections::HashMap;

pub(super) type Header = EnvironmentSpec<Value>;

/// `env_names` and `pipeline_names` are the stems of every such file, readable or not: a file
/// that exists counts as existing even when it has errors of its own (those are reported there,
/// not again as "unknown pipeline" on every service).
pub fn check(
    envs: &[PartialEnvironment],
    pipelines: &[PartialPipeline],
    env_names: &[&str],
    pipeline_names: &[&str],
    out: &mut Vec<Diagnostic>,
) {
    for p in pipelines {
        if let Some(pipeline) = &p.pipeline {
            check_name(
                &p.at,
                &root().key("name"),
                &pipeline.name,
                "pipeline name",
                out,
            );
            check_pipeline(&p.at, pipeline, out);
        }
    }
    for env in envs {
        if let Some(header) = &env.header {
            check_name(
                &env.at,
                &root().key("name"),
                &header.name,
                "environment name",
                out,
            );
            check_environment_header(&env.at, header, env_names, out);
        }
        check_duplicates(env, out);
        // With a name that disagrees with the file, per-environment names (SSM) are ambiguous:
        // report the name alone.
        let header = env.header.as_ref().filter(|h| h.name == env.at.stem());
        for (i, service) in &env.services {
            let path = FieldPath::root().key("services").index(*i);
            check_name(
                &env.at,
                &path.key("name"),
                &service.name,
                "service name",
                out,
            );
            // An invalid service name would only be echoed into suggested SSM names.
            let header = header.filter(|_| is_amagent_name(&service.name));
            check_service(&env.at, header, &path, service, pipeline_names, out);
        }
    }
    super::shared::check_shared_resources(envs, out);
    check_promotion_cycles(envs, out);
    super::promotion_rules::check_cross_account_access(envs, out);
}

/// `staging` from `production` and `production` from `staging`: nothing would ever be built.
fn check_promotion_cycles(envs: &[PartialEnvironment], out: &mut Vec<Diagnostic>) {
    let from: HashMap<&str, &str> = envs
        .iter()
        .filter_map(|e| e.header.as_ref())
        .filter_map(|h| {
            h.promotion
                .as_ref()
                .map(|p| (h.name.as_str(), p.from.as_str()))
        })
        .collect();
    for env in envs {
        let Some(h) = &env.header else { continue };
        if h.promotion.as_ref().is_none_or(|p| p.from == h.name) {
            continue; // promoting from itself is reported on its own
        }
        let mut chain = vec![h.name.as_str()];
        let mut current = h.name.as_str();
        while let Some(next) = from.get(current).copied() {
            chain.push(next);
            if next == h.name {
                out.push(env.at.at_value(
                    &root().key("promotion").key("from"),
                    format!("promotion cycle: {}", chain.join(" → ")),
                    Some(
                        "one environment must build from source: remove `promotion` from it".into(),
                    ),
                ));
                break;
            }
            if chain.len() > from.len() + 1 {
                break; // a cycle that does not pass through this environment
            }
            current = next;
        }
    }
}

pub(super) fn root() -> FieldPath {
    FieldPath::root()
}
