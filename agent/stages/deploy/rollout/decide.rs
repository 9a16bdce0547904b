//! What a gate decision means for a rollout: keep waiting, verified, or failed and rolled back
//! to the last verified revision (gated the same way).

use super::*;

impl Rollout<'_> {
    /// Act on the gate's decision for `flight`, by the stage it is in.
    pub(super) async fn decide(&self, flight: &mut InFlight, decision: Decision) -> Verdict {
        match (flight.stage, decision) {
            (_, Decision::Wait(d)) => {
                self.show_waiting(flight);
                flight.next_poll = Instant::now() + d;
                Verdict::Continue
            }
            (Stage::Rolling, Decision::Succeeded) => self.verified(flight).await,
            (Stage::Rolling, Decision::Failed(failure)) => {
                let reason = failure.to_string();
                self.record(
                    &flight.target,
                    "gate",
                    Phase::Finished,
                    Some("failed"),
                    serde_json::json!({ "failure": failure, "task_definition": flight.new_td }),
                )
                .await;
                let (env, name) = (&flight.target.env, &flight.target.spec.name);
                self.progress.step(env, name, &format!("failed: {reason}"));
                self.roll_back(flight, reason).await
            }
            (Stage::RollingBack, Decision::Succeeded) => self.rolled_back(flight).await,
            (Stage::RollingBack, Decision::Failed(failure)) => {
                self.rollback_failed(flight, failure).await
            }
        }
    }

    /// Say what the rollout waits for, once per change (not once per poll).
    fn show_waiting(&self, flight: &mut InFlight) {
        let elapsed = flight.rollout_started.elapsed();
        let status = match (flight.gate.healthy_since(), flight.gate.bake_done(elapsed)) {
            (None, _) => "waiting for new tasks to pass health checks",
            (Some(_), false) => "all new tasks healthy; baking",
            (Some(_), true) => "baked; waiting for the old tasks to drain",
        };
        if flight.last_status != status {
            flight.last_status = status;
            let (env, name) = (&flight.target.env, &flight.target.spec.name);
            self.progress.step(env, name, status);
        }
    }

    /// The new revision passed the gate: the deploy succeeded.
    async fn verified(&self, flight: &mut InFlight) -> Verdict {
        self.record(
            &flight.target,
            "gate",
            Phase::Finished,
            Some("succeeded"),
            serde_json::json!({ "task_definition": flight.new_td }),
        )
        .await;
        let result = self.result(
            flight,
            Outcome::Succeeded,
            false,
            None,
            Some(flight.new_td.clone()),
        );
        self.record(&flight.target, "deploy", Phase::Finished, Some("succeeded"),
            serde_json::json!({ "task_definition": flight.new_td, "image": flight.target.image, "seconds": result.seconds })).await;
        self.progress.done(
            &flight.target.env,
            &flight.target.spec.name,
            true,
            &format!("deployed {} and verified healthy", short_td(&flight.new_td)),
        );
        Verdict::Done(Box::new(result))
    }

    /// The rollback passed the gate: the deploy failed, and the service is back on a verified
    /// revision.
    async fn rolled_back(&self, flight: &mut InFlight) -> Verdict {
        let to = flight.rollback_to.clone().unwrap_or_default();
        self.record(
            &flight.target,
            "rollback",
            Phase::Finished,
            Some("succeeded"),
            serde_json::json!({ "task_definition": to }),
        )
        .await;
        self.record(
            &flight.target,
            "verified",
            Phase::Finished,
            Some("succeeded"),
            serde_json::json!({ "task_definition": to }),
        )
        .await;
        let reason = flight.first_failure.clone();
        let result = self.result(
            flight,
            Outcome::Failed,
            true,
            reason.clone(),
            Some(to.clone()),
        );
        self.finish_failed(&flight.target, &result).await;
        Verdict::Done(Box::new(result))
    }

    /// The rollback failed its gate too: the deploy failed, on the rollback's revision.
    async fn rollback_failed(&self, flight: &mut InFlight, failure: Failure) -> Verdict {
        let reason = format!(
            "{}; the rollback to {} failed too: {failure}",
            flight.first_failure.clone().unwrap_or_default(),
            short_td(flight.rollback_to.as_deref().unwrap_or("?"))
        );
        self.record(
            &flight.target,
            "rollback",
            Phase::Finished,
            Some("failed"),
            serde_json::json!({ "failure": failure }),
        )
        .await;
        let running = flight.rollback_to.clone();
        let result = self.result(flight, Outcome::Failed, false, Some(reason), running);
        self.finish_failed(&flight.target, &result).await;
        Verdict::Done(Box::new(result))
    }

    /// The new revision failed: UpdateService back to the rollback target and gate that, or end
    /// the deploy failed when there is nothing to roll back to.
    pub(super) async fn roll_back(&self, flight: &mut InFlight, reason: String) -> Verdict {
        let (env, name) = (flight.target.env.clone(), flight.target.spec.name.clone());
        let target = match where_to_roll_back(flight) {
            Ok(to) => to,
            Err(why) => {
                let result = self.result(
                    flight,
                    Outcome::Failed,
                    false,
                    Some(format!("{reason} ({why})")),
                    Some(flight.new_td.clone()),
                );
                self.finish_failed(&flight.target, &result).await;
                return Verdict::Done(Box::new(result));
            }
        };
        self.progress.step(
            &env,
            &name,
            &format!("rolling back to {}", short_td(&target)),
        );
        flight.first_failure = Some(reason.clone());
        let started = self
            .write_ahead(
                &flight.target,
                "rollback",
                Phase::Started,
                None,
                serde_json::json!({ "task_definition": target, "reason": reason }),
            )
            .await
            .map_err(StepError::Journal);
        let updated = match started {
            Ok(()) => {
                self.update_service(
                    &flight.target,
                    &target,
                    "rollback-update-service",
                    flight.previous_settings.clone(),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match updated {
            Ok((id, at)) => {
                watch_rollback(flight, id, at);
                Verdict::Continue
            }
            Err(e) => {
                let result = self.result(
                    flight,
                    Outcome::Failed,
                    false,
                    Some(format!("{reason}; the rollback could not start: {e}")),
                    Some(flight.new_td.clone()),
                );
                self.finish_failed(&flight.target, &result).await;
                Verdict::Done(Box::new(result))
            }
        }
    }
}

/// Where the failed rollout goes back to; Err: why it stays (the reason's suffix).
fn where_to_roll_back(flight: &InFlight) -> Result<String, &'static str> {
    match (&flight.rollback_to, flight.target.spec.deploy.auto_rollback) {
        (Some(to), true) if *to != flight.new_td => Ok(to.clone()),
        (_, false) => Err("auto-rollback is off: the service stays on the new revision"),
        (None, true) => Err("no verified revision to roll back to"),
        (Some(_), true) => {
            Err("the failed revision is the last verified one: nothing to roll back to")
        }
    }
}

/// Gate the rollback's deployment `id` from scratch, as a rollout of its own.
fn watch_rollback(flight: &mut InFlight, id: String, at: chrono::DateTime<chrono::Utc>) {
    flight.stage = Stage::RollingBack;
    flight.reused_deployment = false;
    flight.deployment_id = id;
    flight.updated_at = at;
    flight.gate = Gate::new(GateConfig {
        // The rollback's revision was verified before: RUNNING and not UNHEALTHY will do where
        // its container check has not reported yet (it is not read again in a failure path).
        container_health_check: false,
        ..flight.gate_config
    });
    flight.rollout_started = Instant::now();
    flight.next_poll = Instant::now() + first_look(flight.gate_config.timing.as_ref());
    flight.task_key = None;
    flight.health.clear();
    flight.last_status = "";
}
