//! The pre-deploy task (`preDeploy`), decided: a pure state machine fed what DescribeTasks
//! last showed of the one-off task and the time since RunTask, answering wait, stop it (its
//! timeout passed), or the verdict. The shell (`rollout/pre_deploy.rs`) makes the calls.
//!
//! Passed: the task stopped and its container exited 0. Failed: any other exit code, no exit
//! code (it never ran: an image that cannot be pulled, no capacity), stopped at the timeout
//! (a task that never left PENDING included), or still not stopped a grace period after the
//! StopTask.

use crate::cloud::types::Task;
use serde::Serialize;
use std::time::Duration;

/// How often DescribeTasks is asked while the task runs.
pub const POLL: Duration = Duration::from_secs(5);
/// How long a stopped task may take to reach STOPPED (ECS sends SIGTERM, then SIGKILL after
/// the container's stop timeout, at most 120 s).
pub const STOP_GRACE: Duration = Duration::from_secs(150);
/// Log lines shown in the PR comment.
pub const LOG_TAIL_LINES: u32 = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Look again after this long.
    Wait(Duration),
    /// The timeout passed: StopTask, then keep looking.
    Stop,
    Done(Verdict),
}

/// How the task ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// Stopped by the agent at its timeout.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// Its container never started.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub never_started: bool,
}

impl Verdict {
    /// One line for people: what happened to the task.
    pub fn summary(&self, timeout: Duration) -> String {
        let code = match self.exit_code {
            Some(c) => format!("exit code {c}"),
            None => "no exit code".into(),
        };
        let reason = self
            .stopped_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        match (self.passed, self.timed_out, self.never_started) {
            // ECS's "Essential container in task exited" says nothing more after exit 0.
            (true, _, _) => "pre-deploy task exited 0".to_string(),
            (false, true, true) => format!(
                "pre-deploy task never started within {} s and was stopped{reason}",
                timeout.as_secs()
            ),
            (false, true, false) => format!(
                "pre-deploy task timed out after {} s and was stopped: {code}{reason}",
                timeout.as_secs()
            ),
            (false, false, _) => format!("pre-deploy task failed: {code}{reason}"),
        }
    }
}

/// The decision's memory: when the agent asked ECS to stop the task, if it did.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    pub timeout: Duration,
    /// The container the command ran in: its exit code is the verdict.
    pub container: String,
    pub stop_requested_at: Option<Duration>,
}

impl Watch {
    pub fn new(timeout: Duration, container: &str) -> Self {
        Watch {
            timeout,
            container: container.to_string(),
            stop_requested_at: None,
        }
    }

    /// What to do, given the task as last described (None: DescribeTasks did not list it) at
    /// `elapsed` since RunTask.
    pub fn decide(&mut self, task: Option<&Task>, elapsed: Duration) -> Action {
        if let Some(task) = task.filter(|t| t.last_status == "STOPPED") {
            return Action::Done(self.verdict(task));
        }
        if let Some(at) = self.stop_requested_at {
            if elapsed >= at + STOP_GRACE {
                return Action::Done(Verdict {
                    stopped_reason: Some(format!(
                        "still not stopped {} s after StopTask",
                        STOP_GRACE.as_secs()
                    )),
                    timed_out: true,
                    never_started: task.is_none_or(|t| t.started_at.is_none()),
                    ..Verdict::default()
                });
            }
            return Action::Wait(POLL);
        }
        if elapsed >= self.timeout {
            self.stop_requested_at = Some(elapsed);
            return Action::Stop;
        }
        Action::Wait(POLL.min(self.timeout - elapsed))
    }

    fn verdict(&self, task: &Task) -> Verdict {
        let exit_code = task
            .containers
            .iter()
            .find(|c| c.name == self.container)
            .and_then(|c| c.exit_code);
        let timed_out = self.stop_requested_at.is_some();
        Verdict {
            passed: !timed_out && exit_code == Some(0),
            exit_code,
            stopped_reason: task.stopped_reason.clone(),
            timed_out,
            never_started: task.started_at.is_none(),
        }
    }
}

/// The awslogs stream the task's container writes to (`<prefix>/<container>/<task id>`), from
/// the task definition's logConfiguration; None for other drivers or without a prefix (then
/// the stream name cannot be known).
pub fn awslogs_stream(
    td: &crate::cloud::types::TaskDefinition,
    container: &str,
    task_arn: &str,
) -> Option<(String, String)> {
    let config = td.container(container)?.extra.get("logConfiguration")?;
    if config.get("logDriver")?.as_str()? != "awslogs" {
        return None;
    }
    let options = config.get("options")?;
    let group = options.get("awslogs-group")?.as_str()?;
    let prefix = options.get("awslogs-stream-prefix")?.as_str()?;
    let id = task_arn.rsplit('/').next()?;
    Some((group.to_string(), format!("{prefix}/{container}/{id}")))
}

/// What the pre-deploy task did, for the deploy's result and the PR comment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PreDeployReport {
    /// Its ARN (None: RunTask refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The revision it ran (the deploy's new one).
    pub task_definition: String,
    pub container: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// One line: exit code, stopped reason, timeout.
    pub summary: String,
    /// The last lines of its log (awslogs driver); None: log not available. Never journalled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<Vec<String>>,
    pub seconds: f64,
}

#[cfg(test)]
#[path = "pre_deploy_tests.rs"]
mod tests;
