//! The gate for the service shapes beyond one target group: several target groups, the health
//! check grace period, and container health checks.

use super::*;

fn shaped(target_groups: usize, grace: u64, container_health_check: bool) -> Gate {
    Gate::new(GateConfig {
        bake: BAKE,
        timeout: TIMEOUT,
        target_groups,
        grace: secs(grace),
        container_health_check,
        timing: None,
    })
}

/// A RUNNING task with one target per (group, state).
fn in_groups(n: u32, states: &[(&str, TargetState)]) -> NewTask {
    NewTask {
        targets: states
            .iter()
            .map(|(group, state)| TargetView {
                target_group: (*group).into(),
                state: Some(*state),
                reason: None,
            })
            .collect(),
        ..task(n, "RUNNING", None)
    }
}

fn no_lb(n: u32, health: &str) -> NewTask {
    NewTask {
        targets: Vec::new(),
        health_status: Some(health.into()),
        ..task(n, "RUNNING", None)
    }
}

#[test]
fn a_task_healthy_in_one_target_group_of_two_is_not_yet_healthy() {
    use TargetState::{Healthy, Initial};
    let mut g = shaped(2, 0, false);
    let half = || {
        vec![
            in_groups(1, &[("public", Healthy), ("internal", Initial)]),
            in_groups(2, &[("public", Healthy), ("internal", Healthy)]),
        ]
    };
    assert_eq!(g.observe(&obs(40, half(), 2)), Decision::Wait(MAX_POLL));
    assert_eq!(g.healthy_since(), None);
    let both = vec![
        in_groups(1, &[("public", Healthy), ("internal", Healthy)]),
        in_groups(2, &[("public", Healthy), ("internal", Healthy)]),
    ];
    g.observe(&obs(70, both, 2));
    assert_eq!(g.healthy_since(), Some(secs(70)));
}

#[test]
fn a_target_unhealthy_in_the_second_group_fails_naming_it() {
    use TargetState::{Healthy, Unhealthy};
    let mut g = shaped(2, 0, false);
    let sick = in_groups(1, &[("public", Healthy), ("internal", Unhealthy)]);
    match g.observe(&obs(60, vec![sick], 1)) {
        Decision::Failed(Failure::TargetUnhealthy { reason, .. }) => {
            assert!(reason.ends_with("in target group internal"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unhealthy_target_inside_the_grace_period_is_not_a_failure() {
    use TargetState::Unhealthy;
    let mut g = shaped(1, 90, false);
    // First seen RUNNING at 10 s: the grace period runs to 100 s.
    g.observe(&obs(10, vec![task(1, "RUNNING", None)], 1));
    let sick = || vec![in_groups(1, &[("tg-a", Unhealthy)])];
    assert_eq!(g.observe(&obs(60, sick(), 1)), Decision::Wait(MAX_POLL));
    assert_eq!(g.observe(&obs(98, sick(), 1)), Decision::Wait(MAX_POLL));
    assert!(matches!(
        g.observe(&obs(100, sick(), 1)),
        Decision::Failed(Failure::TargetUnhealthy { .. })
    ));
}

#[test]
fn the_grace_period_does_not_hide_a_task_that_stopped() {
    let mut g = shaped(1, 300, false);
    g.observe(&obs(10, vec![task(1, "RUNNING", None)], 1));
    let mut t = task(1, "STOPPED", None);
    t.stopped_reason = Some("Essential container in task exited".into());
    assert!(matches!(
        g.observe(&obs(20, vec![t], 1)),
        Decision::Failed(Failure::TaskExited { .. })
    ));
}

#[test]
fn an_unhealthy_essential_container_fails_naming_it() {
    let mut g = shaped(0, 0, true);
    let mut sick = no_lb(1, "UNHEALTHY");
    sick.unhealthy_containers = vec!["api".into()];
    assert_eq!(
        g.observe(&obs(50, vec![sick], 1)),
        Decision::Failed(Failure::ContainerUnhealthy {
            task: "arn:aws:ecs:ap-southeast-2:123456789012:task/c/t1".into(),
            containers: "api".into(),
        })
    );
}

#[test]
fn an_unhealthy_container_behind_a_load_balancer_fails_too() {
    let mut g = shaped(1, 0, false);
    let mut sick = healthy(1);
    sick.health_status = Some("UNHEALTHY".into());
    assert!(matches!(
        g.observe(&obs(50, vec![sick], 1)),
        Decision::Failed(Failure::ContainerUnhealthy { .. })
    ));
}

#[test]
fn an_unhealthy_container_inside_the_grace_period_waits() {
    let mut g = shaped(0, 60, true);
    g.observe(&obs(5, vec![no_lb(1, "UNKNOWN")], 1));
    assert_eq!(
        g.observe(&obs(30, vec![no_lb(1, "UNHEALTHY")], 1)),
        Decision::Wait(MAX_POLL)
    );
    assert!(matches!(
        g.observe(&obs(65, vec![no_lb(1, "UNHEALTHY")], 1)),
        Decision::Failed(Failure::ContainerUnhealthy { .. })
    ));
}

#[test]
fn with_a_container_health_check_running_is_not_enough() {
    let mut g = shaped(0, 0, true);
    g.observe(&obs(30, vec![no_lb(1, "HEALTHY"), no_lb(2, "UNKNOWN")], 0));
    assert_eq!(g.healthy_since(), None);
    g.observe(&obs(40, vec![no_lb(1, "HEALTHY"), no_lb(2, "HEALTHY")], 0));
    assert_eq!(g.healthy_since(), Some(secs(40)));
}

#[test]
fn without_a_container_health_check_running_is_healthy() {
    let mut g = shaped(0, 0, false);
    g.observe(&obs(30, vec![no_lb(1, "UNKNOWN"), no_lb(2, "UNKNOWN")], 0));
    assert_eq!(g.healthy_since(), Some(secs(30)));
}

#[test]
fn a_task_ecs_stopped_for_its_container_check_is_a_container_failure() {
    let mut g = shaped(0, 0, true);
    let mut t = no_lb(1, "UNHEALTHY");
    t.last_status = "STOPPED".into();
    t.stopped_reason = Some("Task failed container health checks".into());
    t.unhealthy_containers = vec!["api".into()];
    let d = g.observe(&obs(50, vec![t], 1));
    assert!(
        matches!(&d, Decision::Failed(f @ Failure::ContainerUnhealthy { .. }) if f.to_string().contains("essential container api")),
        "{d:?}"
    );
}
