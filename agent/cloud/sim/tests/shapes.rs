//! The service shapes: several target groups, the health check grace period, container health
//! checks, capacity provider strategies and deployment controllers other than ECS.

use super::*;

const INTERNAL: &str = "aussie-markets-api-internal-tg";

/// The new tasks of `td`, as DescribeTasks shows them.
fn new_tasks(env: &Env, td: &str) -> Vec<Task> {
    env.sim
        .tasks(CLUSTER, SERVICE)
        .into_iter()
        .filter(|t| t.task_definition_arn == td)
        .collect()
}

fn stopped_reason(env: &Env, td: &str) -> Option<String> {
    new_tasks(env, td)
        .into_iter()
        .find(|t| t.desired_status == "STOPPED")
        .and_then(|t| t.stopped_reason)
}

fn with_internal_group(faults: FaultScript) -> (Env, String) {
    let env = setup(faults.start_jitter_percent(0), 1, 100, 200);
    let internal =
        env.sim
            .add_target_group(TargetGroupSpec::new(INTERNAL, 3000, "/internal/health"));
    env.sim
        .add_service_target_group(CLUSTER, SERVICE, INTERNAL, "api", 3000);
    (env, internal)
}

#[tokio::test(start_paused = true)]
async fn a_task_counts_healthy_only_when_every_target_group_says_so() {
    let (env, internal) = with_internal_group(FaultScript::new());
    assert_eq!(service(&env).load_balancers.len(), 2);
    // The running task is registered (healthy) in both groups.
    assert_eq!(env.sim.target_health(&internal).len(), 1);
    let new = deploy(&env).await;
    watch(&env, 600, Some((1, 2)), not_in_progress).await;
    let svc = service(&env);
    assert_eq!(rollout(&svc), RolloutState::Completed);
    let task = &new_tasks(&env, &new)[0];
    for tg in [&env.tg, &internal] {
        let health = env.sim.target_health(tg);
        let h = health
            .iter()
            .find(|h| h.target_id == task.private_ip)
            .unwrap();
        assert_eq!(h.state, TargetState::Healthy, "{tg}");
    }
}

#[tokio::test(start_paused = true)]
async fn failing_in_one_target_group_stops_the_task_naming_that_group() {
    let faults = FaultScript::new().image(ImageRule::new("new").failing_in(INTERNAL));
    let (env, internal) = with_internal_group(faults);
    let new = deploy(&env).await;
    watch(&env, 600, None, |_| stopped_reason(&env, &new).is_some()).await;
    assert_eq!(
        stopped_reason(&env, &new).unwrap(),
        format!("Task failed ELB health checks in (target-group {internal})")
    );
    // Healthy in the public group all along: the old task kept serving (100 % minimum).
    assert_eq!(service(&env).deployments[0].failed_tasks, 1);
}

#[tokio::test(start_paused = true)]
async fn failing_checks_are_ignored_for_the_grace_period() {
    let faults = FaultScript::new()
        .start_jitter_percent(0)
        .image(ImageRule::new("new").healthy(false));
    let env = setup(faults, 1, 100, 200);
    env.sim
        .set_health_check_grace_period(CLUSTER, SERVICE, Some(200));
    let new = deploy(&env).await;
    // RUNNING at 20 s, unhealthy after two failed checks (80 s); stopped only once the grace
    // period (200 s from RUNNING) has passed, at the next check (230 s).
    let waited = watch(&env, 900, None, |_| stopped_reason(&env, &new).is_some()).await;
    assert_eq!(waited, 230);
    assert!(
        stopped_reason(&env, &new)
            .unwrap()
            .starts_with("Task failed ELB health checks")
    );
}

#[tokio::test(start_paused = true)]
async fn update_service_sets_the_grace_period_and_describe_shows_it() {
    let env = setup(FaultScript::new(), 1, 100, 200);
    assert_eq!(service(&env).health_check_grace_period_seconds, None);
    env.cloud
        .ecs
        .update_service(&UpdateService {
            health_check_grace_period_seconds: Some(45),
            ..update_request("")
        })
        .await
        .unwrap();
    assert_eq!(service(&env).health_check_grace_period_seconds, Some(45));
    // Not sent: kept.
    env.cloud
        .ecs
        .update_service(&update_request(""))
        .await
        .unwrap();
    assert_eq!(service(&env).health_check_grace_period_seconds, Some(45));
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_essential_container_is_stopped_by_ecs() {
    let faults = FaultScript::new()
        .start_jitter_percent(0)
        .image(ImageRule::new("new").container_healthy(false));
    let env = setup(faults, 1, 100, 200);
    let new = deploy(&env).await;
    // The fixture's check: every 30 s, 3 retries → UNHEALTHY 90 s after RUNNING (20 s).
    watch(&env, 600, None, |_| {
        new_tasks(&env, &new)
            .iter()
            .any(|t| t.health_status.as_deref() == Some("UNHEALTHY"))
    })
    .await;
    let task = &new_tasks(&env, &new)[0];
    assert_eq!(task.containers[0].name, "api");
    assert_eq!(
        task.containers[0].health_status.as_deref(),
        Some("UNHEALTHY")
    );
    assert_eq!(
        stopped_reason(&env, &new).as_deref(),
        Some("Task failed container health checks")
    );
    // The target was healthy in its group all along: the container check alone stopped it.
    assert_eq!(service(&env).deployments[0].failed_tasks, 1);
}

#[tokio::test(start_paused = true)]
async fn a_healthy_container_reports_healthy_after_its_first_check() {
    let env = setup(FaultScript::new().start_jitter_percent(0), 1, 100, 200);
    let new = deploy(&env).await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(
        new_tasks(&env, &new)[0].health_status.as_deref(),
        Some("UNKNOWN")
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        new_tasks(&env, &new)[0].health_status.as_deref(),
        Some("HEALTHY")
    );
}

#[tokio::test(start_paused = true)]
async fn a_deploy_keeps_the_capacity_provider_strategy() {
    let env = setup(FaultScript::new(), 1, 100, 200);
    let strategy = vec![
        CapacityProviderStrategyItem {
            capacity_provider: "FARGATE_SPOT".into(),
            weight: 3,
            base: 0,
        },
        CapacityProviderStrategyItem {
            capacity_provider: "FARGATE".into(),
            weight: 1,
            base: 1,
        },
    ];
    env.sim
        .set_capacity_provider_strategy(CLUSTER, SERVICE, strategy.clone());
    deploy(&env).await;
    watch(&env, 600, None, not_in_progress).await;
    assert_eq!(service(&env).capacity_provider_strategy, strategy);
}

#[tokio::test(start_paused = true)]
async fn code_deploy_services_refuse_a_new_task_definition() {
    let env = setup(FaultScript::new(), 1, 100, 200);
    env.sim
        .set_deployment_controller(CLUSTER, SERVICE, "CODE_DEPLOY");
    assert_eq!(service(&env).deployment_controller, "CODE_DEPLOY");
    let arn = register_new(&env).await;
    let err = env
        .cloud
        .ecs
        .update_service(&update_request(&arn))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CODE_DEPLOY"), "{err}");
    assert_eq!(service(&env).deployments.len(), 1);
}
