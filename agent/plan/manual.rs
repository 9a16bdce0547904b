//! The plan of a manual `amagent deploy`: no diff between two models, just one service and an
//! image, with the snapshot policy applied to what is known. Pure.

use super::{Change, EnvironmentPlan, PlannedStage, ServicePlan, Trigger};
use crate::config::{Environment, Service, SnapshotPolicy, StageKind};

/// The stages a manual deploy of `image` runs: a snapshot if the policy asks (always; major
/// when the tag's major version goes up or the service runs migrations), deploy, lifecycle.
pub fn manual_deploy(env: &Environment, spec: &Service, image_tag: &str) -> EnvironmentPlan {
    let mut stages = Vec::new();
    let major_up = || {
        let parse = |t: &str| semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok();
        matches!((spec.source.version(), parse(image_tag)), (Some(a), Some(b)) if b.major > a.major)
    };
    let snapshot = match env.snapshot_policy() {
        SnapshotPolicy::Always => Some("policy: before every deploy"),
        SnapshotPolicy::Major if major_up() => Some("major version increases"),
        SnapshotPolicy::Major if spec.migrations => Some("service runs migrations"),
        _ => None,
    };
    if let Some(reason) = snapshot {
        stages.push(PlannedStage {
            stage: StageKind::Snapshot,
            reason: reason.into(),
        });
    }
    stages.push(PlannedStage {
        stage: StageKind::Deploy,
        reason: format!("manual deploy of {image_tag}"),
    });
    stages.push(PlannedStage {
        stage: StageKind::Lifecycle,
        reason: "after deploy".into(),
    });
    EnvironmentPlan {
        name: env.name.clone(),
        change: Change::Modified,
        trigger: Trigger::Merge,
        services: vec![ServicePlan {
            name: spec.name.clone(),
            change: Change::Modified,
            stages,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staging() -> Environment {
        crate::config::example().environments["staging"].clone()
    }

    fn kinds(p: &EnvironmentPlan) -> Vec<StageKind> {
        p.services[0].stage_kinds()
    }

    #[test]
    fn major_policy_snapshots_only_on_a_major_bump() {
        let env = staging();
        let api = &env.services[0];
        assert_eq!(
            kinds(&manual_deploy(&env, api, "v1.4.0")),
            [StageKind::Deploy, StageKind::Lifecycle]
        );
        assert_eq!(
            kinds(&manual_deploy(&env, api, "v2.0.0")),
            [StageKind::Snapshot, StageKind::Deploy, StageKind::Lifecycle]
        );
    }

    #[test]
    fn always_policy_snapshots_every_time() {
        let mut env = staging();
        env.database.as_mut().unwrap().snapshots.policy = SnapshotPolicy::Always;
        let api = env.services[0].clone();
        assert_eq!(
            kinds(&manual_deploy(&env, &api, "sha256:abc"))[0],
            StageKind::Snapshot
        );
    }
}
