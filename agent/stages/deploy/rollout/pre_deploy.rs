//! Running the spec's pre-deploy task (`preDeploy`) between registering the new revision and
//! UpdateService: RunTask placed like the service's tasks, DescribeTasks until it stops
//! ([`Watch`] decides), StopTask at its timeout, then the end of its log. Anything but exit 0
//! ends the deploy before UpdateService: the service runs what it ran; the new revision stays
//! registered (unused).

use super::*;
use crate::cloud::types::{RunTask, TaskDefinition, TaskPlacement};
use crate::stages::deploy::pre_deploy::{Action, LOG_TAIL_LINES, Watch, awslogs_stream};

/// `startedBy` of the task: people (and the console) can tell it from the service's own.
pub(super) const STARTED_BY: &str = "amagent-pre-deploy";

/// What the pre-deploy task runs against: the service's placement and the new revision.
pub(super) struct PreDeployRun<'a> {
    pub placement: &'a TaskPlacement,
    /// The definition the new revision was registered from (its log configuration).
    pub td: &'a TaskDefinition,
    pub new_td: &'a str,
    /// What the service runs now (it keeps running it if the task fails).
    pub running_td: &'a str,
    /// A revision was registered (or reused): something new will run. A change of the
    /// service's settings alone (desired count, percentages) runs no pre-deploy task.
    pub new_revision: bool,
}

impl Rollout<'_> {
    /// Run the pre-deploy task, if the spec has one (never for a rollback to an existing
    /// revision). Err: it failed or could not run, and the deploy ended unchanged.
    pub(super) async fn pre_deploy(
        &self,
        target: &Target,
        run: PreDeployRun<'_>,
    ) -> Result<Option<PreDeployReport>, Box<DeployResult>> {
        let Some(pre) = target.spec.pre_deploy.as_ref() else {
            return Ok(None);
        };
        if target.revision.is_some() || !run.new_revision {
            return Ok(None);
        }
        let container = pre.container(&target.spec).to_string();
        if run.td.container(&container).is_none() {
            let reason = format!(
                "preDeploy runs in container `{container}`, which {} does not define",
                short_td(run.new_td)
            );
            return Err(self
                .end_before_update(target, &run, FailureKind::Config, reason, None)
                .await);
        }
        let detail = serde_json::json!({ "task_definition": run.new_td, "container": container });
        if let Err(e) = self
            .write_ahead(target, "pre-deploy", Phase::Started, None, detail)
            .await
        {
            let reason = not_deployed(&e);
            return Err(self
                .end_before_update(target, &run, FailureKind::Journal, reason, None)
                .await);
        }
        let (env, name) = (target.env.as_str(), target.spec.name.as_str());
        self.progress.step(
            env,
            name,
            &format!("running the pre-deploy task on {}", short_td(run.new_td)),
        );
        let timeout = Duration::from_secs(pre.timeout_seconds.into());
        let report = self
            .run_pre_deploy(target, &run, &container, &pre.command, timeout)
            .await;
        let outcome = if report.verdict.passed {
            "succeeded"
        } else {
            "failed"
        };
        // The log tail stays out of the journal: it is the application's output.
        let mut detail = serde_json::to_value(&report).unwrap_or_default();
        if let Some(map) = detail.as_object_mut() {
            map.remove("log_tail");
        }
        self.record(target, "pre-deploy", Phase::Finished, Some(outcome), detail)
            .await;
        if report.verdict.passed {
            self.progress.step(env, name, &report.summary);
            return Ok(Some(report));
        }
        let reason = format!(
            "{}; the service was not updated ({} stays registered, unused)",
            report.summary,
            short_td(run.new_td)
        );
        // RunTask refused (access denied, no such revision): AWS said no, nothing ran.
        let kind = match report.task {
            None => FailureKind::Refused,
            Some(_) => FailureKind::PreDeploy,
        };
        Err(self
            .end_before_update(target, &run, kind, reason, Some(report))
            .await)
    }

    /// RunTask, watch it to its end, read its log tail.
    async fn run_pre_deploy(
        &self,
        target: &Target,
        run: &PreDeployRun<'_>,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> PreDeployReport {
        let started = Instant::now();
        let request = RunTask {
            cluster: target.cluster.clone(),
            task_definition: run.new_td.to_string(),
            container: container.to_string(),
            command: command.to_vec(),
            placement: run.placement.clone(),
            started_by: STARTED_BY.into(),
        };
        let mut report = PreDeployReport {
            task: None,
            task_definition: run.new_td.to_string(),
            container: container.to_string(),
            verdict: Default::default(),
            summary: String::new(),
            log_tail: None,
            seconds: 0.0,
        };
        match self
            .call("RunTask", || self.cloud.ecs.run_task(&request))
            .await
        {
            Ok(task) => {
                let arn = task.task_arn.clone();
                report.verdict = self.watch_task(target, task, container, timeout).await;
                report.summary = report.verdict.summary(timeout);
                report.log_tail = self.log_tail(run.td, container, &arn).await;
                report.task = Some(arn);
            }
            Err(e) => {
                report.verdict.stopped_reason = Some(e.to_string());
                report.summary = format!("the pre-deploy task could not be started: {e}");
            }
        }
        report.seconds = started.elapsed().as_secs_f64();
        report
    }

    /// DescribeTasks until the watch decides; StopTask once at the timeout.
    async fn watch_task(
        &self,
        target: &Target,
        task: Task,
        container: &str,
        timeout: Duration,
    ) -> crate::stages::deploy::pre_deploy::Verdict {
        let started = Instant::now();
        let arn = task.task_arn.clone();
        let mut last = Some(task);
        let mut watch = Watch::new(timeout, container);
        loop {
            match watch.decide(last.as_ref(), started.elapsed()) {
                Action::Done(verdict) => return verdict,
                Action::Stop => {
                    let reason = format!(
                        "amagent: pre-deploy task timed out after {} s",
                        timeout.as_secs()
                    );
                    let stop = self
                        .call("StopTask", || {
                            self.cloud.ecs.stop_task(&target.cluster, &arn, &reason)
                        })
                        .await;
                    if let Err(e) = stop {
                        tracing::warn!(error = %e, task = %arn, "cannot stop the pre-deploy task");
                    }
                }
                Action::Wait(d) => {
                    tokio::time::sleep(d).await;
                    let wanted = std::slice::from_ref(&arn);
                    match self
                        .call("DescribeTasks", || {
                            self.cloud.ecs.describe_tasks(&target.cluster, wanted)
                        })
                        .await
                    {
                        // Unseen once is no verdict: keep what was last seen.
                        Ok(tasks) => last = tasks.into_iter().next().or(last),
                        Err(e) => tracing::warn!(error = %e, "cannot describe the pre-deploy task"),
                    }
                }
            }
        }
    }

    /// The last lines of the task's awslogs stream; None when there is none or it cannot be
    /// read ("log not available").
    async fn log_tail(
        &self,
        td: &TaskDefinition,
        container: &str,
        arn: &str,
    ) -> Option<Vec<String>> {
        let (group, stream) = awslogs_stream(td, container, arn)?;
        match self
            .call("GetLogEvents", || {
                self.cloud.logs.tail(&group, &stream, LOG_TAIL_LINES)
            })
            .await
        {
            Ok(lines) => lines,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the pre-deploy task's log");
                None
            }
        }
    }

    /// The deploy ended before UpdateService: journal and show it; the service is unchanged.
    async fn end_before_update(
        &self,
        target: &Target,
        run: &PreDeployRun<'_>,
        kind: FailureKind,
        reason: String,
        report: Option<PreDeployReport>,
    ) -> Box<DeployResult> {
        let mut result = DeployResult::failed(target, kind, reason);
        result.task_definition = Some(run.running_td.to_string());
        result.previous_task_definition = Some(run.running_td.to_string());
        result.new_task_definition = Some(run.new_td.to_string());
        result.pre_deploy = report;
        self.finish_failed(target, &result).await;
        Box::new(result)
    }
}
