use super::*;
use crate::cloud::types::{TaskContainer, TaskDefinition};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn task(status: &str, started: bool, exit_code: Option<i32>, reason: Option<&str>) -> Task {
    let at = chrono::DateTime::from_timestamp(1_000, 0).unwrap();
    Task {
        task_arn: "arn:aws:ecs:ap-southeast-2:123456789012:task/main/abc123".into(),
        task_definition_arn: "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/api:43"
            .into(),
        started_by: "amagent-pre-deploy".into(),
        last_status: status.into(),
        desired_status: "RUNNING".into(),
        created_at: at,
        started_at: started.then_some(at),
        stopped_at: None,
        stopped_reason: reason.map(String::from),
        private_ip: String::new(),
        health_status: None,
        containers: vec![
            TaskContainer {
                name: "log-router".into(),
                last_status: status.into(),
                exit_code: Some(0),
                reason: None,
                health_status: None,
            },
            TaskContainer {
                name: "api".into(),
                last_status: status.into(),
                exit_code,
                reason: None,
                health_status: None,
            },
        ],
    }
}

fn watch() -> Watch {
    Watch::new(secs(300), "api")
}

#[test]
fn waits_while_the_task_runs_and_exit_zero_passes() {
    let mut w = watch();
    assert_eq!(
        w.decide(Some(&task("PENDING", false, None, None)), secs(0)),
        Action::Wait(POLL)
    );
    assert_eq!(
        w.decide(Some(&task("RUNNING", true, None, None)), secs(40)),
        Action::Wait(POLL)
    );
    let Action::Done(v) = w.decide(
        Some(&task(
            "STOPPED",
            true,
            Some(0),
            Some("Essential container in task exited"),
        )),
        secs(60),
    ) else {
        panic!("a stopped task is a verdict")
    };
    assert!(v.passed);
    assert_eq!(v.exit_code, Some(0));
}

#[test]
fn the_commands_container_decides_not_a_sidecar() {
    let mut w = watch();
    // The sidecar exited 0, the command's container 1.
    let Action::Done(v) = w.decide(
        Some(&task("STOPPED", true, Some(1), Some("exited"))),
        secs(30),
    ) else {
        panic!()
    };
    assert!(!v.passed);
    assert_eq!(v.exit_code, Some(1));
    assert_eq!(v.stopped_reason.as_deref(), Some("exited"));
    assert!(
        v.summary(secs(300)).contains("exit code 1"),
        "{}",
        v.summary(secs(300))
    );
}

#[test]
fn a_task_that_never_ran_has_no_exit_code_and_fails() {
    let mut w = watch();
    let reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s)";
    let Action::Done(v) = w.decide(Some(&task("STOPPED", false, None, Some(reason))), secs(30))
    else {
        panic!()
    };
    assert!(!v.passed && v.never_started && !v.timed_out);
    assert_eq!(v.exit_code, None);
}

#[test]
fn the_timeout_stops_the_task_once_and_its_end_is_a_timeout_failure() {
    let mut w = watch();
    // The wait is cut to the timeout.
    assert_eq!(
        w.decide(Some(&task("RUNNING", true, None, None)), secs(298)),
        Action::Wait(secs(2))
    );
    assert_eq!(
        w.decide(Some(&task("RUNNING", true, None, None)), secs(300)),
        Action::Stop
    );
    // Stopping: keep looking, never a second StopTask.
    assert_eq!(
        w.decide(Some(&task("RUNNING", true, None, None)), secs(305)),
        Action::Wait(POLL)
    );
    let Action::Done(v) = w.decide(
        Some(&task(
            "STOPPED",
            true,
            Some(137),
            Some("amagent: timed out"),
        )),
        secs(310),
    ) else {
        panic!()
    };
    // Even an exit 0 after the stop would not pass: the timeout decided.
    assert!(!v.passed && v.timed_out && !v.never_started);
    assert_eq!(v.exit_code, Some(137));
    assert!(v.summary(secs(300)).contains("timed out after 300 s"));
}

#[test]
fn a_task_that_never_starts_is_stopped_at_the_timeout_and_says_so() {
    let mut w = watch();
    let pending = task("PENDING", false, None, None);
    assert_eq!(w.decide(Some(&pending), secs(300)), Action::Stop);
    let Action::Done(v) = w.decide(
        Some(&task("STOPPED", false, None, Some("stopped"))),
        secs(305),
    ) else {
        panic!()
    };
    assert!(v.timed_out && v.never_started);
    assert!(
        v.summary(secs(300)).contains("never started"),
        "{}",
        v.summary(secs(300))
    );
}

#[test]
fn a_task_that_will_not_stop_fails_after_the_grace() {
    let mut w = watch();
    let running = task("RUNNING", true, None, None);
    assert_eq!(w.decide(Some(&running), secs(300)), Action::Stop);
    assert_eq!(
        w.decide(Some(&running), secs(300) + STOP_GRACE - secs(1)),
        Action::Wait(POLL)
    );
    let Action::Done(v) = w.decide(Some(&running), secs(300) + STOP_GRACE) else {
        panic!()
    };
    assert!(!v.passed && v.timed_out);
}

#[test]
fn the_awslogs_stream_is_prefix_container_task_id() {
    let td: TaskDefinition = serde_json::from_value(serde_json::json!({
        "family": "api",
        "containerDefinitions": [
            {"name": "api", "image": "x", "logConfiguration": {"logDriver": "awslogs",
              "options": {"awslogs-group": "/ecs/api", "awslogs-stream-prefix": "ecs"}}},
            {"name": "fluent", "image": "y", "logConfiguration": {"logDriver": "awsfirelens"}},
            {"name": "noprefix", "image": "z", "logConfiguration": {"logDriver": "awslogs",
              "options": {"awslogs-group": "/ecs/api"}}}
        ]
    }))
    .unwrap();
    let arn = "arn:aws:ecs:ap-southeast-2:123456789012:task/main/abc123";
    assert_eq!(
        awslogs_stream(&td, "api", arn),
        Some(("/ecs/api".into(), "ecs/api/abc123".into()))
    );
    assert_eq!(awslogs_stream(&td, "fluent", arn), None);
    assert_eq!(awslogs_stream(&td, "noprefix", arn), None);
    assert_eq!(awslogs_stream(&td, "missing", arn), None);
}
