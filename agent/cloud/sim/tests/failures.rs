//! Failing deployments: crashes, the circuit breaker and its rollback, unhealthy targets.

use super::*;

#[tokio::test(start_paused = true)]
async fn crash_loop_trips_the_circuit_breaker() {
    let env = env_with(FaultScript::builtin("crash").unwrap(), 1, 100, 200, BREAKER);
    let old = env.sim.running_task_definition(CLUSTER, SERVICE).unwrap();
    let new = deploy(&env).await;
    let waited = watch(&env, 1800, Some((1, 2)), not_in_progress).await;
    let svc = service(&env);
    let primary = svc.primary().unwrap();
    assert_eq!(primary.rollout_state, RolloutState::Failed);
    assert_eq!(primary.failed_tasks, 3);
    assert_eq!(
        primary.rollout_state_reason.as_deref(),
        Some("ECS deployment circuit breaker: tasks failed to start.")
    );
    assert_eq!(primary.task_definition, new);
    // Three tasks, each ~20 s to start and 15 s to crash.
    assert!((3 * 33..=3 * 37).contains(&waited), "{waited}");
    // The stopped tasks say why.
    let stopped = env
        .cloud
        .ecs
        .list_tasks(CLUSTER, SERVICE, DesiredStatus::Stopped)
        .await
        .unwrap();
    let stopped = env
        .cloud
        .ecs
        .describe_tasks(CLUSTER, &stopped)
        .await
        .unwrap();
    assert_eq!(stopped.len(), 3);
    assert!(stopped.iter().all(|t| t.stopped_reason.as_deref()
        == Some("Essential container in task exited")
        && t.task_definition_arn == new));
    // No more launches; the old task keeps serving.
    tokio::time::sleep(Duration::from_secs(600)).await;
    let svc = service(&env);
    assert_eq!(svc.deployments[0].failed_tasks, 3);
    assert_eq!(
        svc.deployments[0].running_count + svc.deployments[0].pending_count,
        0
    );
    assert_eq!(svc.deployments[1].task_definition, old);
    assert_eq!(svc.deployments[1].running_count, 1);
    assert!(
        svc.events
            .iter()
            .any(|e| e.message.contains("deployment failed"))
    );
}

#[tokio::test(start_paused = true)]
async fn failed_tasks_count_up_while_crashing() {
    let env = env_with(FaultScript::builtin("crash").unwrap(), 1, 100, 200, BREAKER);
    deploy(&env).await;
    let mut counts = Vec::new();
    for _ in 0..200 {
        let d = service(&env).deployments[0].clone();
        if counts.last() != Some(&d.failed_tasks) {
            counts.push(d.failed_tasks);
        }
        if d.rollout_state != RolloutState::InProgress {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(counts, vec![0, 1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_threshold_scales_with_desired_count() {
    use ecs::circuit_breaker_threshold as th;
    assert_eq!(th(1, 3), 3);
    assert_eq!(th(6, 3), 3);
    assert_eq!(th(7, 3), 4);
    assert_eq!(th(1000, 3), 200);
    assert_eq!(th(1, 10), 10);
    // With a minimum of 10 (the older guide), 10 crashes are needed.
    let env = env_with(
        FaultScript::builtin("crash")
            .unwrap()
            .circuit_breaker_minimum(10),
        1,
        100,
        200,
        BREAKER,
    );
    deploy(&env).await;
    watch(&env, 7200, None, not_in_progress).await;
    assert_eq!(service(&env).deployments[0].failed_tasks, 10);
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_rollback_returns_the_old_task_definition() {
    let env = env_with(
        FaultScript::builtin("crash").unwrap(),
        1,
        100,
        200,
        BREAKER_ROLLBACK,
    );
    let old = env.sim.running_task_definition(CLUSTER, SERVICE).unwrap();
    let new = deploy(&env).await;
    let first = service(&env).deployments[0].id.clone();
    // Wait for the rollback deployment to finish.
    watch(&env, 3600, Some((1, 2)), |svc| {
        svc.primary().unwrap().id != first && not_in_progress(svc)
    })
    .await;
    let svc = service(&env);
    let primary = svc.primary().unwrap();
    assert_eq!(primary.rollout_state, RolloutState::Completed);
    assert_eq!(primary.task_definition, old);
    assert_ne!(primary.task_definition, new);
    assert_eq!(env.sim.running_task_definition(CLUSTER, SERVICE), Some(old));
    assert!(
        svc.events
            .iter()
            .any(|e| e.message.contains("rolling back"))
    );
    assert!(
        svc.events
            .iter()
            .any(|e| e.message.contains("deployment failed"))
    );
    assert_eq!(live_and_healthy(&env), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn unhealthy_after_n_seconds_is_stopped_by_ecs() {
    let env = setup(
        FaultScript::builtin("unhealthy-during-bake").unwrap(),
        1,
        100,
        200,
    );
    let new = deploy(&env).await;
    // Becomes healthy one interval after RUNNING…
    watch(&env, 600, None, |_| {
        let tasks = env.sim.tasks(CLUSTER, SERVICE);
        let health = env.sim.target_health(&env.tg);
        tasks.iter().any(|t| {
            t.task_definition_arn == new
                && health
                    .iter()
                    .any(|h| h.target_id == t.private_ip && h.state == TargetState::Healthy)
        })
    })
    .await;
    let healthy_at = env.sim.elapsed_seconds();
    // …and is stopped after two failed checks.
    let stopped = stopped_after_two_failed_checks(&env, &new).await;
    assert!(healthy_at > 0);
    replacement_resets_the_count_and_stopped_tasks_expire(&env, &stopped).await;
}

/// The new task, stopped after two failed checks (60 s and 90 s after RUNNING), draining.
async fn stopped_after_two_failed_checks(env: &Env, new: &str) -> Task {
    let waited = watch(env, 600, None, |_| {
        env.sim
            .tasks(CLUSTER, SERVICE)
            .iter()
            .any(|t| t.task_definition_arn == new && t.desired_status == "STOPPED")
    })
    .await;
    assert_eq!(
        waited, 60,
        "healthy at +30 s, unhealthy at +90 s after RUNNING"
    );
    let mut stopped: Vec<Task> = env
        .sim
        .tasks(CLUSTER, SERVICE)
        .into_iter()
        .filter(|t| t.task_definition_arn == new && t.desired_status == "STOPPED")
        .collect();
    assert_eq!(stopped.len(), 1);
    assert_eq!(
        stopped[0].stopped_reason.as_deref(),
        Some(format!("Task failed ELB health checks in (target-group {})", env.tg).as_str())
    );
    assert_eq!(stopped[0].last_status, "DEACTIVATING");
    let health = env.cloud.elb.describe_target_health(&env.tg).await.unwrap();
    let h = health
        .iter()
        .find(|h| h.target_id == stopped[0].private_ip)
        .unwrap();
    assert_eq!(h.state, TargetState::Draining);
    assert_eq!(h.reason.as_deref(), Some("Target.DeregistrationInProgress"));
    let svc = service(env);
    assert_eq!(svc.deployments[0].failed_tasks, 1);
    assert!(
        svc.events
            .iter()
            .any(|e| e.message.contains("is unhealthy in (target-group"))
    );
    stopped.swap_remove(0)
}

async fn replacement_resets_the_count_and_stopped_tasks_expire(env: &Env, stopped: &Task) {
    // The replacement is healthy again, which resets the count (resetOnHealthyTask).
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(service(env).deployments[0].failed_tasks, 0);
    // Drained targets disappear; stopped tasks stay visible for an hour.
    tokio::time::sleep(Duration::from_secs(240)).await;
    let ip = &stopped.private_ip;
    assert!(
        env.sim
            .target_health(&env.tg)
            .iter()
            .all(|h| h.target_id != *ip)
    );
    let arn = stopped.task_arn.clone();
    let seen = env
        .cloud
        .ecs
        .describe_tasks(CLUSTER, std::slice::from_ref(&arn))
        .await
        .unwrap();
    assert_eq!(seen[0].last_status, "STOPPED");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(
        env.cloud
            .ecs
            .describe_tasks(CLUSTER, &[arn])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn initial_targets_report_health_checking_then_unhealthy() {
    let faults = FaultScript::new()
        .start_jitter_percent(0)
        .image(ImageRule::new("new").healthy(false));
    let env = setup(faults, 1, 100, 200);
    let new = deploy(&env).await;
    tokio::time::sleep(Duration::from_secs(21)).await;
    let ip = env
        .sim
        .tasks(CLUSTER, SERVICE)
        .into_iter()
        .find(|t| t.task_definition_arn == new)
        .unwrap()
        .private_ip;
    let state = |env: &Env| {
        env.sim
            .target_health(&env.tg)
            .into_iter()
            .find(|h| h.target_id == ip)
            .map(|h| (h.state, h.reason))
    };
    assert_eq!(
        state(&env),
        Some((
            TargetState::Initial,
            Some("Elb.RegistrationInProgress".into())
        ))
    );
    tokio::time::sleep(Duration::from_secs(30)).await; // first check failed (at +50)
    assert_eq!(
        state(&env),
        Some((
            TargetState::Initial,
            Some("Elb.InitialHealthChecking".into())
        ))
    );
    tokio::time::sleep(Duration::from_secs(30)).await; // second failed: unhealthy → draining
    assert_eq!(
        state(&env),
        Some((
            TargetState::Draining,
            Some("Target.DeregistrationInProgress".into())
        ))
    );
}
