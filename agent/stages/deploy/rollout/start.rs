//! Starting one rollout: render, register, UpdateService (each journalled before it acts), and
//! what a rollout that could not start leaves behind.

use super::shape::{controller_refusal, gate_config, has_container_health_check, target_groups};
use super::*;
use crate::cloud::types::TaskDefinition;

/// The service as the deploy found it, before changing anything.
pub(super) struct Current {
    pub(super) service: EcsService,
    /// The task definition the service runs.
    pub(super) td: TaskDefinition,
    /// The PRIMARY deployment's task definition, if that deployment completed.
    pub(super) stable: Option<String>,
}

impl Current {
    /// What the service ran with before: a rollback restores it, not the failed spec's.
    /// With `managed` (an autoscaler's) count, the count is left as it is then too.
    fn settings(&self, spec: &Service) -> Settings {
        let config = &self.service.deployment_configuration;
        Settings {
            desired_count: spec
                .desired_count
                .fixed()
                .map(|_| self.service.desired_count),
            minimum_healthy_percent: config.minimum_healthy_percent,
            maximum_percent: config.maximum_percent,
            alarms: config.alarms.clone(),
            health_check_grace_period_seconds: self.service.health_check_grace_period_seconds,
        }
    }
}

/// Already running exactly this image, revision and configuration, and stable: nothing to
/// roll (only when nothing is to be registered).
fn already_running(target: &Target, current: &Current) -> bool {
    let (service, td) = (&current.service, &current.td);
    let config_unchanged = target
        .spec
        .desired_count
        .fixed()
        .is_none_or(|n| n == service.desired_count)
        && service.deployment_configuration.minimum_healthy_percent
            == target.spec.deploy.minimum_healthy_percent
        && service.deployment_configuration.maximum_percent == target.spec.deploy.maximum_percent
        && (target.spec.deploy.health_check_grace_period_seconds)
            .is_none_or(|g| service.health_check_grace_period_seconds == Some(g));
    let unchanged_revision = target.revision.as_deref().is_none_or(|r| r == td.arn);
    unchanged_revision && config_unchanged && current.stable.as_deref() == Some(td.arn.as_str())
}

impl Rollout<'_> {
    /// Render, register and UpdateService. Err: the deploy ended before rolling.
    pub(super) async fn start(&self, target: Target) -> Result<InFlight, Box<DeployResult>> {
        self.announce(&target).await?;
        let current = self.read_current(&target).await?;
        if let Some(refusal) = controller_refusal(&current.service) {
            return Err(self.fail(&target, FailureKind::Config, refusal).await);
        }
        let rollback_to = self.rollback_target(&target, &current).await?;
        let rendered = self.render_target(&target, &current).await?;
        if rendered.is_none() && already_running(&target, &current) {
            return Err(self.finish_unchanged(&target, &current).await);
        }
        let checks_container = self
            .checks_container(&target, &current, rendered.as_ref())
            .await;
        let new_td = match &rendered {
            None => target
                .revision
                .clone()
                .unwrap_or_else(|| current.td.arn.clone()),
            Some(td) => match self.reuse_interrupted(&target, &current, td).await {
                Some(reused) => reused,
                None => self.register(&target, td).await?,
            },
        };
        let alarms = self.watched_alarms(&target, &current, &new_td).await?;
        let run = pre_deploy::PreDeployRun {
            placement: &current.service.placement,
            td: rendered.as_ref().unwrap_or(&current.td),
            new_td: &new_td,
            running_td: &current.td.arn,
            new_revision: rendered.is_some(),
        };
        let pre_deploy = self.pre_deploy(&target, run).await?;
        let timing = self
            .poll_timing(&target, &target_groups(&current.service))
            .await;
        let gate = gate_config(&target.spec, &current.service, checks_container, timing);
        let mut flight = self
            .roll(target, current, new_td, rollback_to, gate)
            .await?;
        flight.alarms = alarms;
        flight.pre_deploy = pre_deploy;
        Ok(flight)
    }

    /// Whether the revision to deploy has a container health check: the rendered one, the
    /// running one, or (a rollback to a chosen revision) that revision, described.
    async fn checks_container(
        &self,
        target: &Target,
        current: &Current,
        rendered: Option<&TaskDefinition>,
    ) -> bool {
        match (rendered, &target.revision) {
            (Some(td), _) => has_container_health_check(td),
            (None, Some(revision)) if *revision != current.td.arn => self
                .call("DescribeTaskDefinition", || {
                    self.cloud.ecs.describe_task_definition(revision)
                })
                .await
                // Unknown: RUNNING and never UNHEALTHY will do.
                .is_ok_and(|td| has_container_health_check(&td)),
            _ => has_container_health_check(&current.td),
        }
    }

    /// End a deploy that has not rolled: journal and show the failure, hand back the result.
    async fn fail(&self, target: &Target, kind: FailureKind, reason: String) -> Box<DeployResult> {
        let result = DeployResult::failed(target, kind, reason);
        self.finish_failed(target, &result).await;
        Box::new(result)
    }

    /// Show the deploy and journal its start; a journal that will not take it stops the deploy.
    async fn announce(&self, target: &Target) -> Result<(), Box<DeployResult>> {
        let (env, name) = (target.env.as_str(), target.spec.name.as_str());
        self.progress.step(
            env,
            name,
            &format!("deploying {}", short_image(&target.image)),
        );
        let detail = serde_json::json!({
            "image": target.image,
            "spec": spec_fingerprint(&target.spec),
            "revision": target.revision,
        });
        match self
            .write_ahead(target, "deploy", Phase::Started, None, detail)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => Err(self
                .fail(target, FailureKind::Journal, not_deployed(&e))
                .await),
        }
    }

    /// The service as ECS runs it now, and its task definition. Refused: nothing changed.
    async fn read_current(&self, target: &Target) -> Result<Current, Box<DeployResult>> {
        let refused = |e: CloudError| self.fail(target, FailureKind::Refused, e.to_string());
        let services = match self
            .call("DescribeServices", || {
                self.cloud.ecs.describe_services(
                    &target.cluster,
                    std::slice::from_ref(&target.spec.ecs.service),
                )
            })
            .await
        {
            Ok(s) => s,
            Err(e) => return Err(refused(e).await),
        };
        let Some(service) = services.into_iter().next() else {
            return Err(refused(CloudError::not_found(
                crate::cloud::ResourceKind::Service,
                &target.spec.ecs.service,
            ))
            .await);
        };
        let td = match self
            .call("DescribeTaskDefinition", || {
                self.cloud
                    .ecs
                    .describe_task_definition(&service.task_definition)
            })
            .await
        {
            Ok(td) => td,
            Err(e) => return Err(refused(e).await),
        };
        let stable = service
            .primary()
            .filter(|d| d.rollout_state == crate::cloud::types::RolloutState::Completed)
            .map(|d| d.task_definition.clone());
        Ok(Current {
            service,
            td,
            stable,
        })
    }

    /// What a failed rollout goes back to: the last revision this agent verified; failing
    /// that, the one ECS ran stably.
    async fn rollback_target(
        &self,
        target: &Target,
        current: &Current,
    ) -> Result<Option<String>, Box<DeployResult>> {
        let (env, name) = (target.env.as_str(), target.spec.name.as_str());
        // Without the journal the rollback target is unknown: do not start what may need one.
        let verified = match self.journal.read(Some(env)).await {
            Ok(records) => last_verified(&records, env, name),
            Err(e) => {
                return Err(self
                    .fail(target, FailureKind::Journal, not_deployed(&e))
                    .await);
            }
        };
        let verified = match verified {
            Some(td) => self.still_active(&td, &current.td.family).await,
            None => None,
        };
        Ok(verified.or(current.stable.clone()))
    }

    /// `td` if it can still be rolled back to: a verified revision someone has since
    /// deregistered cannot.
    async fn still_active(&self, td: &str, family: &str) -> Option<String> {
        match self
            .call("DescribeTaskDefinition", || {
                self.cloud.ecs.describe_task_definition(td)
            })
            .await
        {
            // Only an ACTIVE revision of the same family can be rolled back to (a deregistered
            // one is INACTIVE and UpdateService refuses it).
            Ok(found)
                if found.family == family
                    && found
                        .extra
                        .get("status")
                        .and_then(|v| v.as_str())
                        .unwrap_or("ACTIVE")
                        == "ACTIVE" =>
            {
                Some(found.arn)
            }
            _ => {
                tracing::warn!(task_definition = %td, "the last verified revision is gone; falling back to the running one");
                None
            }
        }
    }

    /// The task definition to register (None: nothing to register). A spec that does not fit
    /// the running revision ends the deploy as a config failure.
    async fn render_target(
        &self,
        target: &Target,
        current: &Current,
    ) -> Result<Option<TaskDefinition>, Box<DeployResult>> {
        let ssm = self.cloud.ssm.clone();
        let rendered = match &target.revision {
            // An existing revision: deployed as is (None = nothing to register).
            Some(_) => Ok(None),
            None => render(&current.td, &target.spec, &target.image, |p| ssm.arn(p)),
        };
        match rendered {
            Ok(r) => Ok(r),
            Err(e) => {
                let e: RenderError = e;
                Err(self.fail(target, FailureKind::Config, e.to_string()).await)
            }
        }
    }

    /// Finish a deploy of what already runs, stably: nothing to roll.
    async fn finish_unchanged(&self, target: &Target, current: &Current) -> Box<DeployResult> {
        let (env, name) = (target.env.as_str(), target.spec.name.as_str());
        let result = DeployResult {
            env: env.to_string(),
            service: name.to_string(),
            outcome: Outcome::Succeeded,
            rolled_back: false,
            failure_kind: None,
            reason: Some("already running this image and configuration".into()),
            task_definition: Some(current.td.arn.clone()),
            image: target.image.clone(),
            previous_task_definition: Some(current.td.arn.clone()),
            new_task_definition: None,
            seconds: 0.0,
            pre_deploy: None,
        };
        self.record(target, "deploy", Phase::Finished, Some("succeeded"),
            serde_json::json!({ "task_definition": current.td.arn, "image": target.image, "unchanged": true })).await;
        self.progress.done(env, name, true, "already up to date");
        Box::new(result)
    }

    /// A run interrupted after registering (agent killed) left the revision behind: the
    /// family's newest revision, identical to `td`. Reuse it rather than register another.
    async fn reuse_interrupted(
        &self,
        target: &Target,
        current: &Current,
        td: &TaskDefinition,
    ) -> Option<String> {
        let latest = self
            .call("DescribeTaskDefinition", || {
                self.cloud.ecs.describe_task_definition(&td.family)
            })
            .await
            .ok()
            .filter(|latest| {
                latest.arn != current.td.arn
                    && crate::stages::deploy::render::same_definition(latest, td)
            })?;
        self.record(
            target,
            "register",
            Phase::Finished,
            Some("succeeded"),
            serde_json::json!({ "task_definition": latest.arn, "reused": true }),
        )
        .await;
        self.progress.step(
            &target.env,
            &target.spec.name,
            &format!(
                "reusing {} (registered by an interrupted run)",
                latest.family_revision()
            ),
        );
        Some(latest.arn)
    }

    /// RegisterTaskDefinition, journalled before (write-ahead) and after; returns its ARN.
    async fn register(
        &self,
        target: &Target,
        td: &TaskDefinition,
    ) -> Result<String, Box<DeployResult>> {
        if let Err(e) = self
            .write_ahead(
                target,
                "register",
                Phase::Started,
                None,
                serde_json::json!({ "family": td.family }),
            )
            .await
        {
            return Err(self
                .fail(target, FailureKind::Journal, not_deployed(&e))
                .await);
        }
        let registered = match self
            .call("RegisterTaskDefinition", || {
                self.cloud.ecs.register_task_definition(td)
            })
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Err(self.fail(target, FailureKind::Refused, e.to_string()).await);
            }
        };
        self.record(
            target,
            "register",
            Phase::Finished,
            Some("succeeded"),
            serde_json::json!({ "task_definition": registered.arn }),
        )
        .await;
        self.progress.step(
            &target.env,
            &target.spec.name,
            &format!("registered {}", registered.family_revision()),
        );
        Ok(registered.arn)
    }

    /// UpdateService to `new_td` and start watching the rollout it begins.
    async fn roll(
        &self,
        target: Target,
        current: Current,
        new_td: String,
        rollback_to: Option<String>,
        gate_config: GateConfig,
    ) -> Result<InFlight, Box<DeployResult>> {
        let pre_primary = current.service.primary().map(|d| d.id.clone());
        let (deployment_id, updated_at) = match self
            .update_service(
                &target,
                &new_td,
                "update-service",
                Settings::of(&target.spec, &current.service),
            )
            .await
        {
            Ok(x) => x,
            Err(e) => {
                // Refused before anything rolled: the service still runs what it ran.
                let mut result = DeployResult::failed(&target, e.kind(), e.to_string());
                result.task_definition = Some(current.td.arn.clone());
                result.previous_task_definition = Some(current.td.arn.clone());
                result.new_task_definition = Some(new_td.clone());
                self.finish_failed(&target, &result).await;
                return Err(Box::new(result));
            }
        };
        // The same task definition (only the count or settings changed): ECS keeps the
        // deployment, whose older tasks (e.g. stopped by a scale-in) are not this deploy's.
        let reused_deployment = pre_primary.as_deref() == Some(deployment_id.as_str());
        let now = Instant::now();
        Ok(InFlight {
            reused_deployment,
            previous_settings: current.settings(&target.spec),
            gate: Gate::new(gate_config),
            gate_config,
            stage: Stage::Rolling,
            deployment_id,
            updated_at,
            started: now,
            rollout_started: now,
            next_poll: now + first_look(gate_config.timing.as_ref()),
            target_groups: target_groups(&current.service),
            previous_td: Some(current.td.arn.clone()),
            new_td,
            rollback_to,
            first_failure: None,
            task_key: None,
            tasks_read_at: None,
            tasks: Vec::new(),
            health: HashMap::new(),
            last_status: "",
            alarms: Vec::new(),
            pre_deploy: None,
            target,
        })
    }

    /// UpdateService to `task_definition` with the spec's deployment settings; returns the new
    /// PRIMARY deployment's id.
    pub(super) async fn update_service(
        &self,
        target: &Target,
        task_definition: &str,
        step: &str,
        settings: Settings,
    ) -> Result<(String, chrono::DateTime<chrono::Utc>), StepError> {
        let request = UpdateService {
            cluster: target.cluster.clone(),
            service: target.spec.ecs.service.clone(),
            task_definition: task_definition.to_string(),
            desired_count: settings.desired_count,
            deployment_configuration: Some(DeploymentConfiguration {
                minimum_healthy_percent: settings.minimum_healthy_percent,
                maximum_percent: settings.maximum_percent,
                // ECS stops launching a crash-looping revision; the agent owns the rollback.
                circuit_breaker: Some(CircuitBreaker {
                    enable: true,
                    rollback: false,
                }),
                // ECS's own deployment alarms, handed back as they were (not cleared).
                alarms: settings.alarms.clone(),
            }),
            health_check_grace_period_seconds: settings.health_check_grace_period_seconds,
        };
        self.write_ahead(
            target,
            step,
            Phase::Started,
            None,
            serde_json::json!({ "task_definition": task_definition }),
        )
        .await
        .map_err(StepError::Journal)?;
        let updated_at = self.clock.now();
        let result = self
            .call("UpdateService", || self.cloud.ecs.update_service(&request))
            .await;
        match result {
            Ok(service) => {
                let id = service.primary().map(|d| d.id.clone()).unwrap_or_default();
                self.record(
                    target,
                    step,
                    Phase::Finished,
                    Some("succeeded"),
                    serde_json::json!({ "task_definition": task_definition, "deployment": id }),
                )
                .await;
                Ok((id, updated_at))
            }
            Err(e) => {
                self.record(
                    target,
                    step,
                    Phase::Finished,
                    Some("failed"),
                    serde_json::json!({ "error": e.to_string() }),
                )
                .await;
                Err(StepError::Cloud(e))
            }
        }
    }

    pub(super) async fn finish_failed(&self, target: &Target, result: &DeployResult) {
        let mut detail = serde_json::to_value(result).unwrap_or_default();
        // The pre-deploy task's log is the application's output: not for the journal.
        if let Some(pre) = detail.get_mut("pre_deploy").and_then(|p| p.as_object_mut()) {
            pre.remove("log_tail");
        }
        self.record(target, "deploy", Phase::Finished, Some("failed"), detail)
            .await;
        self.progress.done(
            &target.env,
            &target.spec.name,
            false,
            result.reason.as_deref().unwrap_or("failed"),
        );
    }
}
