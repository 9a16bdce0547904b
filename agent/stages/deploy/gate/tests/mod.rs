use super::*;

const BAKE: Duration = Duration::from_secs(120);
const TIMEOUT: Duration = Duration::from_secs(900);

fn gate() -> Gate {
    Gate::new(GateConfig {
        bake: BAKE,
        timeout: TIMEOUT,
        target_groups: 1,
        grace: Duration::ZERO,
        container_health_check: false,
        timing: None,
    })
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn deployment(state: RolloutState) -> DeploymentView {
    DeploymentView {
        is_primary: true,
        rollout_state: state,
        rollout_state_reason: None,
        desired_count: 2,
        failed_tasks: 0,
    }
}

fn task(n: u32, status: &str, target: Option<TargetState>) -> NewTask {
    NewTask {
        task_arn: format!("arn:aws:ecs:ap-southeast-2:123456789012:task/c/t{n}"),
        last_status: status.into(),
        stopped_reason: None,
        targets: vec![TargetView {
            target_group: "tg-a".into(),
            state: target,
            reason: None,
        }],
        health_status: Some("UNKNOWN".into()),
        unhealthy_containers: Vec::new(),
    }
}

fn obs(at: u64, tasks: Vec<NewTask>, old: u32) -> Observation {
    Observation {
        elapsed: secs(at),
        deployment: Some(deployment(RolloutState::InProgress)),
        old_tasks_remaining: old,
        new_tasks: tasks,
        stuck_event: None,
        alarms: Vec::new(),
    }
}

fn healthy(n: u32) -> NewTask {
    task(n, "RUNNING", Some(TargetState::Healthy))
}

#[test]
fn waits_while_tasks_start() {
    let mut g = gate();
    let d = g.observe(&obs(
        5,
        vec![task(1, "PENDING", None), task(2, "PENDING", None)],
        2,
    ));
    assert_eq!(d, Decision::Wait(MAX_POLL));
}

#[test]
fn initial_targets_are_not_yet_healthy() {
    let mut g = gate();
    let d = g.observe(&obs(
        40,
        vec![task(1, "RUNNING", Some(TargetState::Initial)), healthy(2)],
        2,
    ));
    assert_eq!(d, Decision::Wait(MAX_POLL));
    assert_eq!(g.healthy_since(), None);
}

#[test]
fn succeeds_after_all_healthy_bake_and_drain() {
    let mut g = gate();
    assert_eq!(
        g.observe(&obs(60, vec![healthy(1), healthy(2)], 2)),
        Decision::Wait(MAX_POLL)
    );
    assert_eq!(g.healthy_since(), Some(secs(60)));
    // Baking: no verdict before 60 + 120 even with the old tasks gone.
    assert!(matches!(
        g.observe(&obs(100, vec![healthy(1), healthy(2)], 0)),
        Decision::Wait(_)
    ));
    assert_eq!(
        g.observe(&obs(180, vec![healthy(1), healthy(2)], 0)),
        Decision::Succeeded
    );
}

#[test]
fn waits_exactly_until_the_bake_ends() {
    let mut g = gate();
    g.observe(&obs(60, vec![healthy(1), healthy(2)], 0));
    assert_eq!(
        g.observe(&obs(179, vec![healthy(1), healthy(2)], 0)),
        Decision::Wait(secs(1))
    );
}

#[test]
fn bake_done_but_old_tasks_draining_keeps_waiting() {
    let mut g = gate();
    g.observe(&obs(60, vec![healthy(1), healthy(2)], 2));
    assert_eq!(
        g.observe(&obs(200, vec![healthy(1), healthy(2)], 1)),
        Decision::Wait(MAX_POLL)
    );
    assert_eq!(
        g.observe(&obs(362, vec![healthy(1), healthy(2)], 0)),
        Decision::Succeeded
    );
}

#[test]
fn completed_rollout_counts_as_drained() {
    let mut g = gate();
    g.observe(&obs(60, vec![healthy(1), healthy(2)], 1));
    let mut o = obs(181, vec![healthy(1), healthy(2)], 1);
    o.deployment = Some(deployment(RolloutState::Completed));
    assert_eq!(g.observe(&o), Decision::Succeeded);
}

#[test]
fn new_task_exit_fails_with_its_reason() {
    let mut g = gate();
    let mut t = task(1, "STOPPED", None);
    t.stopped_reason = Some("Essential container in task exited".into());
    let d = g.observe(&obs(
        30,
        vec![t, task(2, "RUNNING", Some(TargetState::Initial))],
        2,
    ));
    assert_eq!(
        d,
        Decision::Failed(Failure::TaskExited {
            task: "arn:aws:ecs:ap-southeast-2:123456789012:task/c/t1".into(),
            reason: "Essential container in task exited".into()
        })
    );
    if let Decision::Failed(f) = d {
        assert_eq!(
            f.to_string(),
            "new task t1 stopped: Essential container in task exited"
        );
    }
}

#[test]
fn task_stopped_by_elb_is_a_health_failure() {
    let mut g = gate();
    let mut t = task(1, "DEACTIVATING", Some(TargetState::Draining));
    t.stopped_reason = Some("Task failed ELB health checks in (target-group arn:tg)".into());
    assert!(matches!(
        g.observe(&obs(90, vec![t], 2)),
        Decision::Failed(Failure::TargetUnhealthy { .. })
    ));
}

#[test]
fn unhealthy_target_during_bake_fails() {
    let mut g = gate();
    g.observe(&obs(60, vec![healthy(1), healthy(2)], 0));
    let mut sick = task(2, "RUNNING", Some(TargetState::Unhealthy));
    sick.targets[0].reason = Some("Target.ResponseCodeMismatch".into());
    assert_eq!(
        g.observe(&obs(150, vec![healthy(1), sick], 0)),
        Decision::Failed(Failure::TargetUnhealthy {
            task: "arn:aws:ecs:ap-southeast-2:123456789012:task/c/t2".into(),
            reason: "Target.ResponseCodeMismatch in target group tg-a".into()
        })
    );
}

#[test]
fn circuit_breaker_failure() {
    let mut g = gate();
    let mut o = obs(120, vec![task(1, "PENDING", None)], 1);
    let mut d = deployment(RolloutState::Failed);
    d.rollout_state_reason = Some("ECS deployment circuit breaker: tasks failed to start.".into());
    o.deployment = Some(d);
    assert_eq!(
        g.observe(&o),
        Decision::Failed(Failure::CircuitBreaker {
            reason: "ECS deployment circuit breaker: tasks failed to start.".into()
        })
    );
}

#[test]
fn replaced_when_not_primary_or_gone() {
    let mut g = gate();
    let mut o = obs(10, vec![], 1);
    o.deployment.as_mut().unwrap().is_primary = false;
    assert_eq!(g.observe(&o), Decision::Failed(Failure::Replaced));
    o.deployment = None;
    assert_eq!(g.observe(&o), Decision::Failed(Failure::Replaced));
}

#[test]
fn no_room_event_fails_at_once() {
    let mut g = gate();
    let mut o = obs(10, vec![], 1);
    o.stuck_event = Some("(service s) was unable to stop or start tasks during a deployment because of the service deployment configuration.".into());
    assert!(matches!(
        g.observe(&o),
        Decision::Failed(Failure::NoRoom { .. })
    ));
}

#[test]
fn timeout_says_what_it_waited_for() {
    let mut g = gate();
    let d = g.observe(&obs(900, vec![task(1, "PENDING", None), healthy(2)], 2));
    assert_eq!(
        d,
        Decision::Failed(Failure::Timeout {
            waiting_for: "2 of 2 new task(s) to be healthy (1 are)".into()
        })
    );
}

#[test]
fn never_waits_past_the_timeout() {
    let mut g = gate();
    assert_eq!(
        g.observe(&obs(899, vec![task(1, "PENDING", None)], 1)),
        Decision::Wait(secs(1))
    );
}

#[test]
fn a_replaced_task_restarts_the_bake() {
    let mut g = gate();
    g.observe(&obs(60, vec![healthy(1), healthy(2)], 0));
    g.observe(&obs(
        70,
        vec![healthy(1), task(3, "RUNNING", Some(TargetState::Initial))],
        0,
    ));
    assert_eq!(g.healthy_since(), None);
    g.observe(&obs(100, vec![healthy(1), healthy(3)], 0));
    assert_eq!(g.healthy_since(), Some(secs(100)));
    assert!(matches!(
        g.observe(&obs(181, vec![healthy(1), healthy(3)], 0)),
        Decision::Wait(_)
    ));
    assert_eq!(
        g.observe(&obs(220, vec![healthy(1), healthy(3)], 0)),
        Decision::Succeeded
    );
}

#[test]
fn without_a_load_balancer_running_is_healthy() {
    let mut g = Gate::new(GateConfig {
        bake: secs(0),
        timeout: TIMEOUT,
        target_groups: 0,
        grace: Duration::ZERO,
        container_health_check: false,
        timing: None,
    });
    let running = |n| NewTask {
        targets: Vec::new(),
        ..task(n, "RUNNING", None)
    };
    assert_eq!(
        g.observe(&obs(30, vec![running(1), running(2)], 0)),
        Decision::Succeeded
    );
}

#[test]
fn a_task_stopped_by_scale_in_is_not_a_failure() {
    let mut g = gate();
    let mut stopped = task(3, "STOPPED", None);
    stopped.stopped_reason =
        Some("Scaling activity initiated by (deployment ecs-svc/8143421110022225795)".into());
    let healthy = || {
        vec![
            task(1, "RUNNING", Some(TargetState::Healthy)),
            task(2, "RUNNING", Some(TargetState::Healthy)),
        ]
    };
    let mut tasks = healthy();
    tasks.push(stopped.clone());
    assert!(matches!(g.observe(&obs(10, tasks, 0)), Decision::Wait(_)));
    // Any other stop still fails the rollout.
    stopped.stopped_reason = Some("Essential container in task exited".into());
    let mut tasks = healthy();
    tasks.push(stopped);
    assert!(matches!(g.observe(&obs(20, tasks, 0)), Decision::Failed(_)));
}

#[test]
fn an_alarm_entering_alarm_during_the_bake_fails_the_gate_naming_it() {
    let mut g = gate();
    assert!(matches!(
        g.observe(&obs(60, vec![healthy(1), healthy(2)], 0)),
        Decision::Wait(_)
    ));
    let mut o = obs(90, vec![healthy(1), healthy(2)], 0);
    o.alarms = vec![AlarmSignal {
        name: "api-5xx".into(),
        in_alarm: true,
        changed_during_rollout: true,
        reason: "Threshold Crossed".into(),
    }];
    let d = g.observe(&o);
    assert_eq!(
        d,
        Decision::Failed(Failure::Alarm {
            alarm: "api-5xx".into(),
            reason: "Threshold Crossed".into()
        })
    );
    let Decision::Failed(f) = d else {
        unreachable!()
    };
    assert!(f.to_string().contains("api-5xx"), "{f}");
}

#[test]
fn an_alarm_that_fired_before_the_rollout_does_not_stop_success() {
    let mut g = gate();
    let firing = AlarmSignal {
        name: "api-5xx".into(),
        in_alarm: true,
        changed_during_rollout: false,
        reason: "old incident".into(),
    };
    let mut o = obs(60, vec![healthy(1), healthy(2)], 0);
    o.alarms = vec![firing.clone()];
    assert!(matches!(g.observe(&o), Decision::Wait(_)));
    let mut o = obs(60 + BAKE.as_secs(), vec![healthy(1), healthy(2)], 0);
    o.alarms = vec![firing];
    assert_eq!(g.observe(&o), Decision::Succeeded);
}

mod shapes;

/// The status page's numbers of a poll: counts of new, healthy and old tasks, targets, and the
/// bake left once all new tasks are healthy.
#[test]
fn rollout_view_counts_tasks_targets_and_the_bake_left() {
    use crate::stages::deploy::progress::RolloutView;
    let mut g = gate();
    let first = obs(
        40,
        vec![task(1, "RUNNING", Some(TargetState::Initial)), healthy(2)],
        2,
    );
    g.observe(&first);
    let view = RolloutView::of(false, &first, &g);
    assert_eq!(
        (
            view.desired,
            view.new_running,
            view.new_healthy,
            view.old_remaining
        ),
        (2, 2, 1, 2)
    );
    assert_eq!((view.targets, view.targets_healthy), (2, 1));
    assert_eq!(view.bake_left_seconds, None);
    assert_eq!((view.stage.as_str(), view.elapsed_seconds), ("rolling", 40));
    let baking = obs(60, vec![healthy(1), healthy(2)], 2);
    g.observe(&baking);
    let later = obs(100, vec![healthy(1), healthy(2)], 1);
    g.observe(&later);
    let view = RolloutView::of(true, &later, &g);
    assert_eq!(view.bake_left_seconds, Some(BAKE.as_secs() - 40));
    assert_eq!((view.new_healthy, view.old_remaining), (2, 1));
    assert_eq!(view.stage, "rolling back");
}
