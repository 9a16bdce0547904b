//! A merge, applied to one environment: plan from the commit last applied, hold pinned
//! services, build, then deliver (execute, report, journal the decision).

use super::*;

impl Agent {
    /// Apply `head` to one environment, planned from `from`.
    pub(super) async fn apply(
        &mut self,
        model: &Model,
        records: &[Record],
        env_name: &str,
        from: &str,
        head: &str,
        as_new: bool,
    ) -> Result<Option<EnvReport>, AgentError> {
        let repo = self.repo.as_ref().expect("fetched");
        let mut old = repo.model_at(from).unwrap_or_default();
        if as_new {
            old.environments.remove(env_name);
        }
        let plan = crate::plan::plan(&old, model);
        let landed = repo.landed_between(from, head).unwrap_or_default();
        let run = format!(
            "{env_name}-apply-{}-{}",
            &head[..7],
            self.clock.now().format("%Y%m%dT%H%M%SZ")
        );
        let Some(env_plan) = plan.environment(env_name).cloned() else {
            self.record_unchanged(env_name, &run, head, from).await;
            return Ok(None);
        };
        // Services pinned by `amagent rollback` whose spec is unchanged stay as they are.
        let env_plan = self.hold_pinned(model, env_plan, from, head, &run).await;
        let env = model.environments[env_name].clone();
        let resume_since = applied::interrupted_since(records, env_name, head);
        let pull_requests = self.pull_requests(&landed).await;
        tracing::info!(env = env_name, from = %&from[..7.min(from.len())], to = %&head[..7], ?pull_requests, services = env_plan.services.len(), "applying");
        // Write-ahead: no build, push or deploy unless the journal took the apply's start.
        let detail = serde_json::json!({ "commit": head, "from": from, "pull_requests": pull_requests, "plan": env_plan });
        self.begin(env_name, &run, head, &pull_requests, detail)
            .await?;
        let status_commits = status_commits(&landed, head);
        let builds = env_plan
            .services
            .iter()
            .any(|s| s.stage_kinds().contains(&StageKind::Build));
        let doing = if builds { "building" } else { "deploying" };
        let body = report::render_in_progress(&env_plan, head, doing, &BTreeMap::new());
        self.comment(&pull_requests, env_name, &body).await;
        self.status(&status_commits, env_name, Status::Pending, doing)
            .await;
        let (images, build_failures) = self.build(model, &env, &env_plan, &run).await;
        let mut exec_plan = env_plan.clone();
        exec_plan
            .services
            .retain(|s| !build_failures.iter().any(|f| f.service == s.name));
        if builds {
            self.comment(
                &pull_requests,
                env_name,
                &report::render_in_progress(&exec_plan, head, "deploying", &images),
            )
            .await;
        }

        let report = self
            .deliver(Delivery {
                env: &env,
                plan: &exec_plan,
                images,
                failures: build_failures,
                commit: head,
                run: &run,
                pull_requests: &pull_requests,
                status_commits: &status_commits,
                detail: serde_json::json!({ "commit": head, "from": from }),
                resume_since,
                notes: None,
            })
            .await;
        self.metrics.applied(env_name, head, Some(from));
        Ok(Some(report))
    }

    /// Nothing in this environment changed between `from` and `head`: recorded as applied.
    async fn record_unchanged(&mut self, env_name: &str, run: &str, head: &str, from: &str) {
        let detail = serde_json::json!({ "commit": head, "from": from });
        self.record(
            env_name,
            run,
            Phase::Finished,
            Some(outcome::UNCHANGED),
            detail,
        )
        .await;
        self.metrics.applied(env_name, head, Some(from));
    }

    /// Journals the start of an apply or promotion (write-ahead: nothing acts unless the
    /// journal took it) and remembers it as in flight, for a shutdown to report.
    pub(super) async fn begin(
        &mut self,
        env_name: &str,
        run: &str,
        commit: &str,
        pull_requests: &[u64],
        detail: serde_json::Value,
    ) -> Result<(), AgentError> {
        self.write_ahead(env_name, run, detail).await?;
        self.in_flight = Some(InFlight {
            env: env_name.to_string(),
            commit: commit.to_string(),
            run: run.to_string(),
            pull_requests: pull_requests.to_vec(),
            deployment: None,
        });
        Ok(())
    }

    /// Execute a plan whose images are known, report the outcome where people look, and
    /// record the apply as finished.
    pub(super) async fn deliver(&mut self, mut d: Delivery<'_>) -> EnvReport {
        let deployment = self.deployment_started(&d).await;
        if let Some(f) = self.in_flight.as_mut() {
            f.deployment = deployment.clone();
        }
        self.notify_started(&d).await;
        let cloud = self.cloud_for(d.env).await;
        let ctx = Context::new(&cloud, &self.clock, &*self.journal, &*self.progress);
        let mut report = executor::execute(
            &ctx,
            EnvRun {
                env: d.env,
                plan: d.plan,
                images: d.images.clone(),
                commit: Some(d.commit.to_string()),
                lifecycle_dry_run: false,
                resume_since: d.resume_since,
            },
        )
        .await;
        if !d.failures.is_empty() {
            report.outcome = Outcome::Failed;
        }
        report.deploys.splice(0..0, std::mem::take(&mut d.failures));
        if self
            .abandoned_for_lost_lease(d.run, d.commit, &report)
            .await
        {
            return report;
        }
        let env_name = d.env.name.as_str();
        let ok = report.outcome == Outcome::Succeeded;
        let reverted = self
            .revert_gate_rollbacks(d.env, &report, d.run, d.pull_requests)
            .await;
        let mut body = report::render_comment(&report, Some(d.commit));
        body.push_str(d.notes.as_deref().unwrap_or_default());
        body.push_str(reverted.as_deref().unwrap_or_default());
        self.comment(d.pull_requests, env_name, &body).await;
        let description = summary(&report);
        self.status(
            d.status_commits,
            env_name,
            if ok { Status::Success } else { Status::Failure },
            &description,
        )
        .await;
        self.told_finished(&d, &report, deployment.as_ref(), &description)
            .await;
        for r in &report.deploys {
            self.metrics.deployed(env_name, r);
        }
        let mut detail = d.detail;
        detail["executor_run"] = report.run.clone().into();
        detail["summary"] = description.into();
        self.record(
            env_name,
            d.run,
            Phase::Finished,
            Some(if ok {
                outcome::SUCCEEDED
            } else {
                outcome::FAILED
            }),
            detail,
        )
        .await;
        self.in_flight = None;
        report
    }

    /// The outcome on the GitHub deployment and to the notification targets.
    async fn told_finished(
        &self,
        d: &Delivery<'_>,
        report: &EnvReport,
        deployment: Option<&deployments::Started>,
        description: &str,
    ) {
        let state = match report.outcome {
            Outcome::Succeeded => crate::report::DeploymentState::Success,
            Outcome::Failed => crate::report::DeploymentState::Failure,
        };
        self.deployment_status(deployment, state, description).await;
        self.notify_finished(d, report, description).await;
    }
}
