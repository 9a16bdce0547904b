//! What the deploy gates look at besides the rollout itself: one-off tasks (RunTask, StopTask,
//! their containers' exit codes and awslogs log lines) and CloudWatch alarms.
//!
//! Neither needs events: a one-off task's state and an alarm's state are functions of the
//! world's second `t` (when the task was run, how its rule says it behaves, whether it was
//! stopped; when its service was first updated), read when someone looks.

use super::Simulator;
use super::world::World;
use crate::cloud::ports::{Alarms, CloudResult, DESCRIBE_ALARMS_BATCH, Logs};
use crate::cloud::types::*;
use crate::cloud::{CloudError, ResourceKind};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// How one-off tasks whose command matches behave (fault scripts' `oneOffTasks`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OneOffRule {
    /// A substring of the command (its words joined by spaces); `*` matches any.
    #[serde(rename = "match")]
    pub pattern: String,
    #[serde(default)]
    pub exit_code: i32,
    /// From RUNNING to the container's exit.
    #[serde(default = "default_run_seconds")]
    pub run_seconds: u64,
    /// The task stays PENDING (no capacity, an image that cannot be pulled, …).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_starts: bool,
    /// What the container writes to its awslogs stream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_lines: Vec<String>,
}

fn default_run_seconds() -> u64 {
    30
}

impl OneOffRule {
    pub fn new(pattern: impl Into<String>) -> Self {
        OneOffRule {
            pattern: pattern.into(),
            exit_code: 0,
            run_seconds: default_run_seconds(),
            never_starts: false,
            log_lines: Vec::new(),
        }
    }
    pub fn exit_code(mut self, code: i32) -> Self {
        self.exit_code = code;
        self
    }
    pub fn run_seconds(mut self, s: u64) -> Self {
        self.run_seconds = s;
        self
    }
    pub fn never_starts(mut self) -> Self {
        self.never_starts = true;
        self
    }
    pub fn log_lines(mut self, lines: &[&str]) -> Self {
        self.log_lines = lines.iter().map(|l| l.to_string()).collect();
        self
    }

    fn matches(&self, command: &[String]) -> bool {
        self.pattern == "*" || command.join(" ").contains(&self.pattern)
    }
}

/// An alarm that goes into ALARM `afterUpdateSeconds` after the first UpdateService of
/// `service` (any service when absent), for `forSeconds` (for good when absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmRule {
    pub name: String,
    pub after_update_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_seconds: Option<u64>,
    #[serde(default = "default_alarm_reason")]
    pub reason: String,
}

fn default_alarm_reason() -> String {
    "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).".into()
}

impl AlarmRule {
    pub fn new(name: &str, after_update_seconds: u64) -> Self {
        AlarmRule {
            name: name.into(),
            after_update_seconds,
            service: None,
            for_seconds: None,
            reason: default_alarm_reason(),
        }
    }
}

/// A task started by RunTask (not by a service).
pub(super) struct OneOffTask {
    pub arn: String,
    pub cluster: String,
    pub task_definition: String,
    pub container: String,
    pub started_by: String,
    pub created: u64,
    /// None: it never starts.
    pub running_at: Option<u64>,
    pub exit_at: u64,
    pub exit_code: i32,
    /// StopTask: when, and the reason given.
    pub stopped_by_user: Option<(u64, String)>,
    /// (group, stream) of its awslogs stream, if its container logs there.
    pub log: Option<(String, String)>,
    pub log_lines: Vec<String>,
}

/// The state of one-off tasks and alarms, in the world.
#[derive(Default)]
pub(super) struct GateWorld {
    pub one_off: Vec<OneOffTask>,
    /// Alarms that exist, with the second they were created.
    pub alarms: std::collections::BTreeMap<String, u64>,
    /// Service name → the second of its first UpdateService (what alarm rules count from).
    pub first_update: std::collections::BTreeMap<String, u64>,
}

impl OneOffTask {
    fn running(&self, t: u64) -> bool {
        self.running_at.is_some_and(|r| r <= t) && t < self.exit_at
    }

    /// (lastStatus, stoppedReason, exit code) at second `t`.
    fn state(&self, t: u64) -> (&'static str, Option<String>, Option<i32>) {
        if let Some((at, reason)) = &self.stopped_by_user
            && *at <= t
        {
            // SIGKILL after the stop timeout: 137, if the container ever ran.
            let code = self.running(*at).then_some(137);
            return ("STOPPED", Some(reason.clone()), code);
        }
        match self.running_at {
            Some(r) if t >= self.exit_at && r <= t => (
                "STOPPED",
                Some(super::ecs::CRASH_REASON.into()),
                Some(self.exit_code),
            ),
            Some(r) if r <= t => ("RUNNING", None, None),
            _ => ("PENDING", None, None),
        }
    }

    fn view(&self, w: &World) -> Task {
        let (status, reason, code) = self.state(w.t);
        let stopped_at = match (&self.stopped_by_user, status) {
            (Some((at, _)), "STOPPED") if *at <= w.t => Some(w.time(*at)),
            (_, "STOPPED") => Some(w.time(self.exit_at)),
            _ => None,
        };
        Task {
            task_arn: self.arn.clone(),
            task_definition_arn: self.task_definition.clone(),
            started_by: self.started_by.clone(),
            last_status: status.into(),
            desired_status: if status == "STOPPED" || self.stopped_by_user.is_some() {
                "STOPPED"
            } else {
                "RUNNING"
            }
            .into(),
            created_at: w.time(self.created),
            started_at: self.running_at.filter(|r| *r <= w.t).map(|r| w.time(r)),
            stopped_at,
            stopped_reason: reason,
            private_ip: String::new(),
            health_status: None,
            containers: vec![TaskContainer {
                name: self.container.clone(),
                last_status: status.into(),
                exit_code: code,
                reason: None,
                health_status: None,
            }],
        }
    }
}

impl World {
    /// RunTask: the task definition's container, run with `command` as the fault script says.
    pub(super) fn run_one_off(&mut self, request: &RunTask) -> CloudResult<Task> {
        let cluster = super::ecs::short(&request.cluster).to_string();
        if !self.clusters.contains_key(&cluster) {
            return Err(CloudError::not_found(ResourceKind::Cluster, &cluster));
        }
        let td = self
            .find_task_definition(&request.task_definition)
            .cloned()
            .ok_or_else(|| {
                CloudError::not_found(ResourceKind::TaskDefinition, &request.task_definition)
            })?;
        let Some(container) = td.container(&request.container) else {
            return Err(CloudError::invalid(
                "RunTask",
                format!(
                    "the container overrides name `{}`, which the task definition does not define",
                    request.container
                ),
            ));
        };
        if td.network_mode.as_deref() == Some("awsvpc") && request.placement.network.is_none() {
            return Err(CloudError::invalid(
                "RunTask",
                "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
            ));
        }
        let rule = self
            .faults
            .one_off_tasks
            .iter()
            .find(|r| r.matches(&request.command))
            .cloned()
            .unwrap_or_else(|| OneOffRule::new("*"));
        let id = format!("{:032x}", self.seq() as u128 * 0x9e37_79b9_7f4a_7c15);
        let arn = self.task_arn(&cluster, &id);
        let created = self.t;
        let running_at = (!rule.never_starts).then_some(created + self.faults.task_start_seconds);
        let log = awslogs_stream(container, &id);
        let task = OneOffTask {
            arn,
            cluster,
            task_definition: td.arn.clone(),
            container: request.container.clone(),
            started_by: request.started_by.clone(),
            created,
            running_at,
            exit_at: running_at.map_or(u64::MAX, |r| r + rule.run_seconds),
            exit_code: rule.exit_code,
            stopped_by_user: None,
            log,
            log_lines: rule.log_lines,
        };
        let view = task.view(self);
        self.gates.one_off.push(task);
        Ok(view)
    }

    pub(super) fn one_off_view(&self, cluster: &str, id: &str) -> Option<Task> {
        self.gates
            .one_off
            .iter()
            .find(|x| x.cluster == cluster && x.arn.rsplit('/').next() == Some(id))
            .map(|x| x.view(self))
    }

    pub(super) fn stop_one_off(&mut self, cluster: &str, task: &str, reason: &str) -> bool {
        let t = self.t;
        let id = task.rsplit('/').next().unwrap_or(task);
        match self
            .gates
            .one_off
            .iter_mut()
            .find(|x| x.cluster == cluster && x.arn.rsplit('/').next() == Some(id))
        {
            Some(x) => {
                if x.stopped_by_user.is_none() && x.state(t).0 != "STOPPED" {
                    x.stopped_by_user = Some((t, reason.to_string()));
                }
                true
            }
            None => false,
        }
    }

    fn log_tail(&self, group: &str, stream: &str, limit: u32) -> Option<Vec<String>> {
        let Some(task) = self.gates.one_off.iter().find(|x| {
            x.log
                .as_ref()
                .is_some_and(|(g, s)| g == group && s == stream)
        }) else {
            return self.build_log_tail(group, stream, limit);
        };
        // The stream exists once the container has started.
        task.running_at.filter(|r| *r <= self.t)?;
        let skip = task.log_lines.len().saturating_sub(limit as usize);
        Some(task.log_lines[skip..].to_vec())
    }

    fn alarm_state(&self, name: &str, created: u64) -> AlarmState {
        let ok = |since: u64| AlarmState {
            name: name.into(),
            state: "OK".into(),
            reason: "Threshold Crossed: no datapoints were breaching the threshold.".into(),
            updated_at: self.time(since),
        };
        for rule in self.faults.alarms.iter().filter(|r| r.name == name) {
            let first = match &rule.service {
                Some(s) => self.gates.first_update.get(s).copied(),
                None => self.gates.first_update.values().min().copied(),
            };
            let Some(from) = first.map(|u| u + rule.after_update_seconds) else {
                continue;
            };
            let until = rule.for_seconds.map(|d| from + d);
            if from <= self.t && until.is_none_or(|u| self.t < u) {
                return AlarmState {
                    name: name.into(),
                    state: "ALARM".into(),
                    reason: rule.reason.clone(),
                    updated_at: self.time(from),
                };
            }
            if let Some(u) = until.filter(|u| *u <= self.t) {
                return ok(u);
            }
        }
        ok(created)
    }
}

/// The awslogs stream a container's task `id` writes to: `<prefix>/<container>/<id>`.
fn awslogs_stream(c: &ContainerDefinition, id: &str) -> Option<(String, String)> {
    let config = c.extra.get("logConfiguration")?;
    if config.get("logDriver")?.as_str()? != "awslogs" {
        return None;
    }
    let options = config.get("options")?;
    let group = options.get("awslogs-group")?.as_str()?;
    let prefix = options.get("awslogs-stream-prefix")?.as_str()?;
    Some((group.into(), format!("{prefix}/{}/{id}", c.name)))
}

impl Simulator {
    /// A CloudWatch alarm, OK (fault script rules with its name make it fire).
    pub fn add_alarm(&self, name: &str) {
        let mut w = self.world();
        let t = w.t;
        w.gates.alarms.entry(name.into()).or_insert(t);
    }

    /// ECS deployment alarms on a service (`deploymentConfiguration.alarms`).
    pub fn set_deployment_alarms(&self, cluster: &str, service: &str, alarms: DeploymentAlarms) {
        let mut w = self.world();
        if let Some(svc) = w.clusters.get_mut(cluster).and_then(|s| s.get_mut(service)) {
            svc.alarms = Some(alarms);
        }
    }

    /// Every one-off task run so far, as DescribeTasks shows it (not counted).
    pub fn one_off_tasks(&self) -> Vec<Task> {
        let w = self.world();
        w.gates.one_off.iter().map(|x| x.view(&w)).collect()
    }
}

/// The CloudWatch Logs port of the simulator.
pub struct SimLogs(pub(super) Simulator);

/// The CloudWatch alarms port of the simulator.
pub struct SimAlarms(pub(super) Simulator);

#[async_trait]
impl Logs for SimLogs {
    async fn tail(
        &self,
        group: &str,
        stream: &str,
        limit: u32,
    ) -> CloudResult<Option<Vec<String>>> {
        self.0.call(
            "GetLogEvents",
            |_| format!("{group}:{stream}"),
            |w| Ok(w.log_tail(group, stream, limit)),
        )
    }
}

#[async_trait]
impl Alarms for SimAlarms {
    async fn describe_alarms(&self, names: &[String]) -> CloudResult<Vec<AlarmState>> {
        self.0.call(
            "DescribeAlarms",
            |_| "*".into(),
            |w| {
                if names.len() > DESCRIBE_ALARMS_BATCH {
                    return Err(CloudError::invalid(
                        "DescribeAlarms",
                        "at most 100 alarm names per call",
                    ));
                }
                Ok(names
                    .iter()
                    .filter_map(|n| {
                        let ruled = w.faults.alarms.iter().any(|r| &r.name == n);
                        let created = w.gates.alarms.get(n).copied().or(ruled.then_some(0))?;
                        Some(w.alarm_state(n, created))
                    })
                    .collect())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::cloud::sim::FaultScript;

    #[test]
    fn the_documented_one_off_and_alarm_rules_parse() {
        let s = FaultScript::from_yaml(
            r#"
oneOffTasks:
  - match: migrate
    exitCode: 1
    runSeconds: 30
    neverStarts: false
    logLines: ["applying 0042_orders.sql"]
alarms:
  - name: api-5xx
    afterUpdateSeconds: 200
    service: aussie-markets-api-staging
    forSeconds: 600
    reason: "Threshold Crossed"
"#,
        )
        .unwrap();
        assert_eq!(s.one_off_tasks[0].exit_code, 1);
        assert_eq!(s.alarms[0].for_seconds, Some(600));
        let e = FaultScript::from_yaml("oneOffTasks:\n  - match: \"\"\n").unwrap_err();
        assert!(e.contains("empty `match`"), "{e}");
        let e = FaultScript::from_yaml("alarms:\n  - name: a\n    after: 5\n").unwrap_err();
        assert!(e.contains("after"), "{e}");
    }
}
