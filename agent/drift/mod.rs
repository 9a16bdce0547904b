//! What Git says versus what runs, field by field — `amagent diff`, and the agent's drift
//! detection. `compare` is pure: the spec and the image Git points at on one side, what ECS
//! runs on the other (read by [`observe`]). Secret *values* are never involved: secrets are
//! compared by variable and parameter name.

pub mod observe;

use crate::cloud::types::{EcsService, TaskDefinition};
use crate::config::Service;
use serde::Serialize;
use std::collections::BTreeMap;

/// One field that differs. `git` is what the spec renders, `running` what ECS has; None when
/// the field is absent on that side (e.g. an env var only one side sets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    pub field: String,
    pub git: Option<String>,
    pub running: Option<String>,
}

/// What ECS runs for one service, as far as the spec manages it.
#[derive(Clone, Debug)]
pub struct Live {
    pub service: EcsService,
    pub task_definition: TaskDefinition,
    /// Target group ARN → name, for the service's load balancers.
    pub target_groups: BTreeMap<String, String>,
}

/// The image Git points at: the digest the spec's ref was pushed as, when it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    Digest(String),
    /// The ref has no image in the registry yet (not built, or expired).
    NotBuilt(String),
}

/// Every field the spec manages that differs between Git and `live`, in a stable order.
pub fn compare(
    spec: &Service,
    image: &Wanted,
    ssm_arn: impl Fn(&str) -> String,
    live: &Live,
) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    let td = &live.task_definition;
    let family = td.family.clone();
    push(
        &mut out,
        "taskDefinition.family",
        Some(spec.ecs.task_family.clone()),
        Some(family),
    );
    let Some(container) = td.container(&spec.ecs.container) else {
        push(
            &mut out,
            "container",
            Some(spec.ecs.container.clone()),
            None,
        );
        return out;
    };
    let running_digest = container.image.split_once('@').map(|(_, d)| d.to_string());
    let wanted = match image {
        Wanted::Digest(d) => d.clone(),
        Wanted::NotBuilt(r) => format!("{r} (not in the registry)"),
    };
    push(
        &mut out,
        "image",
        Some(wanted),
        Some(running_digest.unwrap_or_else(|| container.image.clone())),
    );
    push(&mut out, "cpu", Some(spec.cpu.to_string()), td.cpu.clone());
    push(
        &mut out,
        "memory",
        Some(spec.memory.to_string()),
        td.memory.clone(),
    );
    let env: BTreeMap<String, String> = container
        .environment
        .iter()
        .map(|kv| (kv.name.clone(), kv.value.clone()))
        .collect();
    keyed(&mut out, "env", &spec.env, &env);
    let wanted: BTreeMap<String, String> = spec
        .secrets
        .iter()
        .map(|(k, p)| (k.clone(), ssm_arn(p)))
        .collect();
    let secrets: BTreeMap<String, String> = container
        .secrets
        .iter()
        .map(|s| (s.name.clone(), s.value_from.clone()))
        .collect();
    keyed(&mut out, "secrets", &wanted, &secrets);
    service_fields(&mut out, spec, live);
    out
}

/// Desired count, deployment settings and target groups: the service, not its definition.
fn service_fields(out: &mut Vec<FieldDiff>, spec: &Service, live: &Live) {
    let s = &live.service;
    let config = &s.deployment_configuration;
    // `managed`: an autoscaler sets the count; whatever it is, it is not drift.
    if let Some(count) = spec.desired_count.fixed() {
        push(
            out,
            "desiredCount",
            Some(count.to_string()),
            Some(s.desired_count.to_string()),
        );
    }
    push(
        out,
        "deploy.minimumHealthyPercent",
        Some(spec.deploy.minimum_healthy_percent.to_string()),
        Some(config.minimum_healthy_percent.to_string()),
    );
    push(
        out,
        "deploy.maximumPercent",
        Some(spec.deploy.maximum_percent.to_string()),
        Some(config.maximum_percent.to_string()),
    );
    if let Some(grace) = spec.deploy.health_check_grace_period_seconds {
        push(
            out,
            "deploy.healthCheckGracePeriodSeconds",
            Some(grace.to_string()),
            s.health_check_grace_period_seconds.map(|g| g.to_string()),
        );
    }
    // Every target group, as sorted sets: the order of registration is not a difference.
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let wanted = sorted(
        spec.target_groups()
            .iter()
            .map(|lb| format!("{}:{}", lb.target_group, lb.container_port))
            .collect(),
    );
    let running = sorted(
        s.load_balancers
            .iter()
            .map(|lb| {
                let name = live
                    .target_groups
                    .get(&lb.target_group_arn)
                    .unwrap_or(&lb.target_group_arn);
                format!("{name}:{}", lb.container_port)
            })
            .collect(),
    );
    // A spec naming the target group by ARN matches the ARN.
    let by_arn = sorted(
        s.load_balancers
            .iter()
            .map(|lb| format!("{}:{}", lb.target_group_arn, lb.container_port))
            .collect(),
    );
    if wanted != running && wanted != by_arn {
        let joined = |v: Vec<String>| (!v.is_empty()).then(|| v.join(", "));
        push(out, "loadBalancer", joined(wanted), joined(running));
    }
}

/// Per key of a map (env vars, secrets): added, removed or changed.
fn keyed(
    out: &mut Vec<FieldDiff>,
    what: &str,
    git: &BTreeMap<String, String>,
    running: &BTreeMap<String, String>,
) {
    let mut keys: Vec<&String> = git.keys().chain(running.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        push(
            out,
            &format!("{what}.{k}"),
            git.get(k).cloned(),
            running.get(k).cloned(),
        );
    }
}

fn push(out: &mut Vec<FieldDiff>, field: &str, git: Option<String>, running: Option<String>) {
    if git != running {
        out.push(FieldDiff {
            field: field.to_string(),
            git,
            running,
        });
    }
}

#[cfg(test)]
mod tests;
