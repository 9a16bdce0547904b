//! Starting one rollout: render, register, UpdateService (each journalled before it acts), and
//! what a rollout that could not start leaves behind.

use super::*;

impl Rollout<'_> {
    /// Render, register and UpdateService. Err: the deploy ended before rolling.
    pub(super) async fn start(&self, target: Target) -> Result<InFlight, Box<DeployResult>> {
        let (env, name) = (target.env.as_str(), target.spec.name.as_str());
        self.progress.step(
            env,
            name,
            &format!("deploying {}", short_image(&target.image)),
        );
        if let Err(e) = self
            .write_ahead(
                &target,
                "deploy",
                Phase::Started,
                None,
                serde_json::json!({
                    "image": target.image,
                    "spec": spec_fingerprint(&target.spec),
                    "revision": target.revision,
                }),
            )
            .await
        {
            let result = DeployResult::failed(&target, FailureKind::Journal, not_deployed(&e));
            self.finish_failed(&target, &result).await;
            return Err(Box::new(result));
        }
        let refused = |e: CloudError| {
            let result = DeployResult::failed(&target, FailureKind::Refused, e.to_string());
            let target = &target;
            async move {
                self.finish_failed(target, &result).await;
                Box::new(result)
            }
        };
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
        let Some(current_service) = services.into_iter().next() else {
            return Err(refused(CloudError::not_found(
                crate::cloud::ResourceKind::Service,
                &target.spec.ecs.service,
            ))
            .await);
        };
        let current = match self
            .call("DescribeTaskDefinition", || {
                self.cloud
                    .ecs
                    .describe_task_definition(&current_service.task_definition)
            })
            .await
        {
            Ok(td) => td,
            Err(e) => return Err(refused(e).await),
        };
        let stable = current_service
            .primary()
            .filter(|d| d.rollout_state == crate::cloud::types::RolloutState::Completed)
            .map(|d| d.task_definition.clone());
        // Without the journal the rollback target is unknown: do not start what may need one.
        let verified = match self.journal.read(Some(env)).await {
            Ok(records) => last_verified(&records, env, name),
            Err(e) => {
                let result = DeployResult::failed(&target, FailureKind::Journal, not_deployed(&e));
                self.finish_failed(&target, &result).await;
                return Err(Box::new(result));
            }
        };
        // A verified revision someone has since deregistered cannot be rolled back to.
        let verified = match verified {
            Some(td) => match self
                .call("DescribeTaskDefinition", || {
                    self.cloud.ecs.describe_task_definition(&td)
                })
                .await
            {
                // Only an ACTIVE revision of the same family can be rolled back to (a deregistered
                // one is INACTIVE and UpdateService refuses it).
                Ok(found)
                    if found.family == current.family
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
            },
            None => None,
        };
        // The last revision this agent verified; failing that, the one ECS ran stably.
        let rollback_to = verified.or(stable.clone());

        let ssm = self.cloud.ssm.clone();
        let rendered = match &target.revision {
            // An existing revision: deployed as is (None = nothing to register).
            Some(_) => Ok(None),
            None => render(&current, &target.spec, &target.image, |p| ssm.arn(p)),
        };
        let rendered = match rendered {
            Ok(r) => r,
            Err(e) => {
                let e: RenderError = e;
                let result = DeployResult::failed(&target, FailureKind::Config, e.to_string());
                self.finish_failed(&target, &result).await;
                return Err(Box::new(result));
            }
        };
        let config_unchanged = current_service.desired_count == target.spec.desired_count
            && current_service
                .deployment_configuration
                .minimum_healthy_percent
                == target.spec.deploy.minimum_healthy_percent
            && current_service.deployment_configuration.maximum_percent
                == target.spec.deploy.maximum_percent;
        let unchanged_revision = target.revision.as_deref().is_none_or(|r| r == current.arn);
        let new_td = match rendered {
            None if unchanged_revision
                && config_unchanged
                && stable.as_deref() == Some(current.arn.as_str()) =>
            {
                // Already running exactly this, and stable: nothing to roll.
                let result = DeployResult {
                    env: env.to_string(),
                    service: name.to_string(),
                    outcome: Outcome::Succeeded,
                    rolled_back: false,
                    failure_kind: None,
                    reason: Some("already running this image and configuration".into()),
                    task_definition: Some(current.arn.clone()),
                    image: target.image.clone(),
                    previous_task_definition: Some(current.arn.clone()),
                    new_task_definition: None,
                    seconds: 0.0,
                };
                self.record(&target, "deploy", Phase::Finished, Some("succeeded"),
                    serde_json::json!({ "task_definition": current.arn, "image": target.image, "unchanged": true })).await;
                self.progress.done(env, name, true, "already up to date");
                return Err(Box::new(result));
            }
            None => target
                .revision
                .clone()
                .unwrap_or_else(|| current.arn.clone()),
            Some(td) => {
                // A run interrupted after registering (agent killed) left the revision behind:
                // the family's newest revision, identical to what we would register. Reuse it.
                let latest = self
                    .call("DescribeTaskDefinition", || {
                        self.cloud.ecs.describe_task_definition(&td.family)
                    })
                    .await
                    .ok()
                    .filter(|latest| {
                        latest.arn != current.arn
                            && crate::stages::deploy::render::same_definition(latest, &td)
                    });
                if let Some(latest) = latest {
                    self.record(
                        &target,
                        "register",
                        Phase::Finished,
                        Some("succeeded"),
                        serde_json::json!({ "task_definition": latest.arn, "reused": true }),
                    )
                    .await;
                    self.progress.step(
                        env,
                        name,
                        &format!(
                            "reusing {} (registered by an interrupted run)",
                            latest.family_revision()
                        ),
                    );
                    latest.arn
                } else {
                    if let Err(e) = self
                        .write_ahead(
                            &target,
                            "register",
                            Phase::Started,
                            None,
                            serde_json::json!({ "family": td.family }),
                        )
                        .await
                    {
                        let kind = FailureKind::Journal;
                        let result = DeployResult::failed(&target, kind, not_deployed(&e));
                        self.finish_failed(&target, &result).await;
                        return Err(Box::new(result));
                    }
                    let registered = match self
                        .call("RegisterTaskDefinition", || {
                            self.cloud.ecs.register_task_definition(&td)
                        })
                        .await
                    {
                        Ok(r) => r,
                        Err(e) => return Err(refused(e).await),
                    };
                    self.record(
                        &target,
                        "register",
                        Phase::Finished,
                        Some("succeeded"),
                        serde_json::json!({ "task_definition": registered.arn }),
                    )
                    .await;
                    self.progress.step(
                        env,
                        name,
                        &format!("registered {}", registered.family_revision()),
                    );
                    registered.arn
                }
            }
        };
        let pre_primary = current_service.primary().map(|d| d.id.clone());
        let previous_settings = Settings {
            desired_count: current_service.desired_count,
            minimum_healthy_percent: current_service
                .deployment_configuration
                .minimum_healthy_percent,
            maximum_percent: current_service.deployment_configuration.maximum_percent,
        };
        let (deployment_id, updated_at) = match self
            .update_service(
                &target,
                &new_td,
                "update-service",
                Settings::of(&target.spec),
            )
            .await
        {
            Ok(x) => x,
            Err(e) => {
                // Refused before anything rolled: the service still runs what it ran.
                let mut result = DeployResult::failed(&target, e.kind(), e.to_string());
                result.task_definition = Some(current.arn.clone());
                result.previous_task_definition = Some(current.arn.clone());
                result.new_task_definition = Some(new_td.clone());
                self.finish_failed(&target, &result).await;
                return Err(Box::new(result));
            }
        };

        let now = Instant::now();
        // The same task definition (only the count or settings changed): ECS keeps the
        // deployment, whose older tasks (e.g. stopped by a scale-in) are not this deploy's.
        let reused_deployment = pre_primary.as_deref() == Some(deployment_id.as_str());
        Ok(InFlight {
            reused_deployment,
            previous_settings,
            gate: Gate::new(gate_config(&target.spec)),
            stage: Stage::Rolling,
            deployment_id,
            updated_at,
            started: now,
            rollout_started: now,
            next_poll: now,
            target_group: current_service
                .load_balancers
                .iter()
                .find(|lb| lb.container_name == target.spec.ecs.container)
                .map(|lb| lb.target_group_arn.clone()),
            previous_td: Some(current.arn.clone()),
            new_td,
            rollback_to,
            first_failure: None,
            task_key: None,
            tasks: Vec::new(),
            health: HashMap::new(),
            last_status: "",
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
            desired_count: Some(settings.desired_count),
            deployment_configuration: Some(DeploymentConfiguration {
                minimum_healthy_percent: settings.minimum_healthy_percent,
                maximum_percent: settings.maximum_percent,
                // ECS stops launching a crash-looping revision; the agent owns the rollback.
                circuit_breaker: Some(CircuitBreaker {
                    enable: true,
                    rollback: false,
                }),
            }),
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
        self.record(
            target,
            "deploy",
            Phase::Finished,
            Some("failed"),
            serde_json::to_value(result).unwrap_or_default(),
        )
        .await;
        self.progress.done(
            &target.env,
            &target.spec.name,
            false,
            result.reason.as_deref().unwrap_or("failed"),
        );
    }
}
