//! PURE: (model at A, model at B) → [`Plan`]: per environment, per service, the stages to run and
//! why. No I/O, no clock: every rule is a unit test below.

use crate::config::{Environment, Model, Pipeline, Service, SnapshotPolicy, StageKind};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

mod changes;
mod manual;
pub use manual::manual_deploy;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub environments: Vec<EnvironmentPlan>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.environments.is_empty()
    }

    /// Total number of stages across all environments and services.
    pub fn stage_count(&self) -> usize {
        self.environments
            .iter()
            .flat_map(|e| &e.services)
            .map(|s| s.stages.len())
            .sum()
    }

    pub fn environment(&self, name: &str) -> Option<&EnvironmentPlan> {
        self.environments.iter().find(|e| e.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvironmentPlan {
    pub name: String,
    pub change: Change,
    /// How this environment's changes are applied: on merge, or on a promotion tag.
    pub trigger: Trigger,
    pub services: Vec<ServicePlan>,
}

impl EnvironmentPlan {
    pub fn service(&self, name: &str) -> Option<&ServicePlan> {
        self.services.iter().find(|s| s.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "on")]
pub enum Trigger {
    Merge,
    /// Applied when a tag matching `pattern` is pushed; receives `from`'s verified digests.
    Tag {
        pattern: String,
        from: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Modified,
    /// Gone from the spec. The agent never deletes AWS resources: that is left to a person.
    Removed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub change: Change,
    pub stages: Vec<PlannedStage>,
}

impl ServicePlan {
    pub fn stage_kinds(&self) -> Vec<StageKind> {
        self.stages.iter().map(|s| s.stage).collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedStage {
    pub stage: StageKind,
    pub reason: String,
}

/// What changed between the old and new model, and what to run for it.
pub fn plan(old: &Model, new: &Model) -> Plan {
    let mut environments = Vec::new();
    // Environments that others promote from come first: that is the order changes flow in.
    let mut ordered: Vec<(&String, &Environment)> = new.environments.iter().collect();
    ordered.sort_by_key(|(name, _)| (promotion_depth(new, name), *name));
    for (name, env) in ordered {
        let ep = match old.environments.get(name) {
            Some(before) => plan_environment(before, env, old, new, Change::Modified),
            None => plan_environment(&empty_like(env), env, old, new, Change::Added),
        };
        if !ep.services.is_empty() {
            environments.push(ep);
        }
    }
    for (name, env) in &old.environments {
        if !new.environments.contains_key(name) {
            environments.push(EnvironmentPlan {
                name: name.clone(),
                change: Change::Removed,
                trigger: trigger(env),
                services: env.services.iter().map(removed_service).collect(),
            });
        }
    }
    Plan { environments }
}

/// 0 for an environment that builds from source, 1 for one promoted from it, and so on.
fn promotion_depth(model: &Model, name: &str) -> usize {
    let mut depth = 0;
    let mut current = name;
    while let Some(from) = model
        .environments
        .get(current)
        .and_then(|e| e.promotion.as_ref())
        .map(|p| p.from.as_str())
    {
        depth += 1;
        current = from;
        if depth > model.environments.len() {
            break; // a cycle; validation rejects those
        }
    }
    depth
}

fn empty_like(env: &Environment) -> Environment {
    Environment {
        services: Vec::new(),
        ..env.clone()
    }
}

fn trigger(env: &Environment) -> Trigger {
    match &env.promotion {
        Some(p) => Trigger::Tag {
            pattern: p.tag_pattern.clone(),
            from: p.from.clone(),
        },
        None => Trigger::Merge,
    }
}

fn removed_service(s: &Service) -> ServicePlan {
    ServicePlan {
        name: s.name.clone(),
        change: Change::Removed,
        stages: Vec::new(),
    }
}

fn plan_environment(
    before: &Environment,
    after: &Environment,
    old: &Model,
    new: &Model,
    change: Change,
) -> EnvironmentPlan {
    let lifecycle_change = describe_lifecycle_change(before, after);
    let moved = describe_move(before, after);
    let mut services = Vec::new();
    // By name: environments with hundreds of services would otherwise plan in quadratic time.
    let previous: HashMap<&str, &Service> = before
        .services
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let current: HashSet<&str> = after.services.iter().map(|s| s.name.as_str()).collect();
    for s in &after.services {
        let prev = previous.get(s.name.as_str()).copied();
        let sp = plan_service(
            prev,
            s,
            prev.and_then(|p| old.pipelines.get(&p.pipeline)),
            new.pipelines.get(&s.pipeline),
            after,
            lifecycle_change.as_deref(),
            &moved,
        );
        if !sp.stages.is_empty() {
            services.push(sp);
        }
    }
    for s in &before.services {
        if !current.contains(s.name.as_str()) {
            services.push(removed_service(s));
        }
    }
    EnvironmentPlan {
        name: after.name.clone(),
        change,
        trigger: trigger(after),
        services,
    }
}

/// An environment whose account, region or cluster changed must be deployed anew; a new
/// account or region is also a new registry, which needs the image pushed to it.
#[derive(Default)]
struct Move {
    registry: Option<String>,
    cluster: Option<String>,
}

fn describe_move(before: &Environment, after: &Environment) -> Move {
    if before.services.is_empty() {
        return Move::default();
    }
    let registry = if before.aws != after.aws {
        Some(format!(
            "environment moved to account {} in {}",
            after.aws.account_id, after.aws.region
        ))
    } else {
        None
    };
    let cluster = registry.clone().or_else(|| {
        (before.ecs.cluster != after.ecs.cluster)
            .then(|| format!("ECS cluster changed to {}", after.ecs.cluster))
    });
    Move { registry, cluster }
}

fn describe_lifecycle_change(before: &Environment, after: &Environment) -> Option<String> {
    let (b, a) = (&before.ecr.lifecycle, &after.ecr.lifecycle);
    if before.services.is_empty() || b == a {
        return None;
    }
    let mut parts = Vec::new();
    if b.keep_last_tagged != a.keep_last_tagged {
        parts.push(format!(
            "keep last {} → {} tagged images",
            b.keep_last_tagged, a.keep_last_tagged
        ));
    }
    if b.expire_untagged_after_days != a.expire_untagged_after_days {
        parts.push(format!(
            "expire untagged after {} → {} days",
            b.expire_untagged_after_days, a.expire_untagged_after_days
        ));
    }
    Some(format!("lifecycle rules changed: {}", parts.join(", ")))
}

/// The stages for one service. `prev` is None for a new service.
fn plan_service(
    prev: Option<&Service>,
    s: &Service,
    prev_pipeline: Option<&Pipeline>,
    pipeline: Option<&Pipeline>,
    env: &Environment,
    lifecycle_change: Option<&str>,
    moved: &Move,
) -> ServicePlan {
    let runs = |stage| pipeline.is_none_or(|p| p.runs(stage));
    let build_reason = build_reason(prev, s, prev_pipeline, pipeline).or(moved.registry.clone());
    let deploy_reason = deploy_reason(prev, s, build_reason.is_some())
        .or(moved.cluster.clone())
        .map(|r| match &env.promotion {
            Some(p) => r.replacen("new image", &format!("{}'s verified image", p.from), 1),
            _ => r,
        });
    let mut stages = Vec::new();
    // A promoted environment never builds: it receives the digests its source verified.
    let promoted = env.promotion.as_ref();
    if let Some(reason) = &build_reason
        && runs(StageKind::Build)
        && promoted.is_none()
    {
        stages.push(PlannedStage {
            stage: StageKind::Build,
            reason: reason.clone(),
        });
    }
    if let Some(reason) = &deploy_reason {
        // A snapshot protects a deploy: without the deploy stage there is nothing to protect.
        if runs(StageKind::Snapshot)
            && runs(StageKind::Deploy)
            && let Some(why) = snapshot_reason(prev, s, env)
        {
            stages.push(PlannedStage {
                stage: StageKind::Snapshot,
                reason: why,
            });
        }
        if runs(StageKind::Deploy) {
            stages.push(PlannedStage {
                stage: StageKind::Deploy,
                reason: reason.clone(),
            });
        }
    }
    let lifecycle = match (lifecycle_change, &deploy_reason) {
        (Some(why), _) => Some(why.to_string()),
        (None, Some(_)) if runs(StageKind::Deploy) => Some("after deploy".to_string()),
        _ => None,
    };
    if let Some(reason) = lifecycle
        && runs(StageKind::Lifecycle)
    {
        stages.push(PlannedStage {
            stage: StageKind::Lifecycle,
            reason,
        });
    }
    ServicePlan {
        name: s.name.clone(),
        change: if prev.is_some() {
            Change::Modified
        } else {
            Change::Added
        },
        stages,
    }
}

/// A new image is needed when the source or the recipe that builds it changed.
fn build_reason(
    prev: Option<&Service>,
    s: &Service,
    prev_pipeline: Option<&Pipeline>,
    pipeline: Option<&Pipeline>,
) -> Option<String> {
    let Some(prev) = prev else {
        return Some(format!("new service at {}", s.source.reference));
    };
    if prev.source.url != s.source.url {
        return Some(format!("source repository changed to {}", s.source.url));
    }
    if prev.source.reference != s.source.reference {
        return Some(format!(
            "source ref {} → {}",
            prev.source.reference, s.source.reference
        ));
    }
    if prev.pipeline != s.pipeline {
        return Some(format!("pipeline {} → {}", prev.pipeline, s.pipeline));
    }
    if prev.image != s.image {
        return Some(format!(
            "image repository changed to {}",
            s.image.repository
        ));
    }
    match (prev_pipeline, pipeline) {
        (Some(a), Some(b)) if a.build != b.build => {
            Some(format!("pipeline {} build settings changed", b.name))
        }
        _ => None,
    }
}

/// A deploy is needed when anything the task definition or the service is rendered from
/// changed; the reason names each field with its old and new value.
fn deploy_reason(prev: Option<&Service>, s: &Service, new_image: bool) -> Option<String> {
    let Some(prev) = prev else {
        return Some("new service".into());
    };
    let mut parts = Vec::new();
    if new_image {
        parts.push("new image".to_string());
    }
    parts.extend(changes::deploy_changes(prev, s));
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Snapshot policy, applied only when a deploy happens.
fn snapshot_reason(prev: Option<&Service>, s: &Service, env: &Environment) -> Option<String> {
    match env.snapshot_policy() {
        SnapshotPolicy::Never => None,
        SnapshotPolicy::Always => Some("policy: before every deploy".into()),
        SnapshotPolicy::Major => {
            let old = prev.and_then(|p| p.source.version());
            let new = s.source.version();
            match (old, new) {
                (Some(o), Some(n)) if n.major > o.major => {
                    Some(format!("major version {} → {}", o.major, n.major))
                }
                _ if s.migrations => Some("service runs migrations".into()),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests;
