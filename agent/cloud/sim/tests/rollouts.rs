//! Set-up and rolling updates: the healthy paths of a deployment.

use super::*;

#[tokio::test(start_paused = true)]
async fn steady_service_after_set_up() {
    let env = setup(FaultScript::new(), 2, 100, 200);
    let svcs = env
        .cloud
        .ecs
        .describe_services(CLUSTER, &[SERVICE.into()])
        .await
        .unwrap();
    let svc = &svcs[0];
    assert_eq!(svc.desired_count, 2);
    assert_eq!(svc.running_count, 2);
    assert_eq!(svc.pending_count, 0);
    assert_eq!(svc.deployments.len(), 1);
    let primary = svc.primary().unwrap();
    assert_eq!(primary.rollout_state, RolloutState::Completed);
    assert_eq!(
        svc.task_definition,
        "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/aussie-markets-api-task:42"
    );
    assert!(svc.events[0].message.contains("has reached a steady state"));
    assert_eq!(svc.load_balancers[0].target_group_arn, env.tg);
    assert!(env.tg.starts_with(
        "arn:aws:elasticloadbalancing:ap-southeast-2:123456789012:targetgroup/aussie-markets-api-staging-tg/"
    ));

    let health = env.cloud.elb.describe_target_health(&env.tg).await.unwrap();
    assert_eq!(health.len(), 2);
    assert!(health.iter().all(|h| h.state == TargetState::Healthy));
    assert!(health.iter().all(|h| h.port == 3000));
    assert_ne!(health[0].target_id, health[1].target_id);

    let arns = env
        .cloud
        .ecs
        .list_tasks(CLUSTER, SERVICE, DesiredStatus::Running)
        .await
        .unwrap();
    assert_eq!(arns.len(), 2);
    let tasks = env.cloud.ecs.describe_tasks(CLUSTER, &arns).await.unwrap();
    assert!(tasks.iter().all(|t| t.last_status == "RUNNING"));
    assert!(tasks.iter().all(|t| t.started_by == primary.id));
    assert!(
        tasks[0]
            .task_arn
            .starts_with("arn:aws:ecs:ap-southeast-2:123456789012:task/aussie-markets-staging/")
    );

    // Nothing happens by itself in a healthy world, however long it runs.
    tokio::time::sleep(Duration::from_secs(6 * 3600)).await;
    let svc = service(&env);
    assert_eq!(svc.running_count, 2);
    assert_eq!(env.sim.task_definition_revisions(FAMILY), vec![42]);
    let td = env
        .cloud
        .ecs
        .describe_task_definition(&format!("{FAMILY}:42"))
        .await
        .unwrap();
    assert_eq!(
        td.container("api").unwrap().port_mappings[0].container_port,
        Some(3000)
    );
}

// ---------------------------------------------------------------------- rolling updates

#[tokio::test(start_paused = true)]
async fn healthy_rolling_update_desired_1() {
    let env = setup(FaultScript::new(), 1, 100, 200);
    let old = env.sim.running_task_definition(CLUSTER, SERVICE).unwrap();
    let new = deploy(&env).await;
    assert!(new.ends_with(":43"), "{new}");
    let svc = service(&env);
    assert_eq!(svc.deployments.len(), 2);
    assert_eq!(svc.deployments[0].status, "PRIMARY");
    assert_eq!(svc.deployments[0].task_definition, new);
    assert_eq!(svc.deployments[1].status, "ACTIVE");
    assert_eq!(svc.deployments[1].task_definition, old);
    assert_eq!(svc.pending_count, 1);

    let t0 = env.sim.elapsed_seconds();
    let waited = watch(&env, 3600, Some((1, 2)), not_in_progress).await;
    let svc = service(&env);
    assert_eq!(rollout(&svc), RolloutState::Completed);
    assert_eq!(svc.deployments.len(), 1);
    assert_eq!(env.sim.running_task_definition(CLUSTER, SERVICE), Some(new));
    assert!(svc.events[0].message.contains("has reached a steady state"));

    // start latency (20 s ± 10 %) + one health check interval + deregistration delay.
    let tasks = env.sim.tasks(CLUSTER, SERVICE);
    let new_task = tasks
        .iter()
        .find(|t| t.desired_status == "RUNNING")
        .unwrap();
    let started = seconds_since(&env, new_task.started_at.unwrap()) as u64 - t0;
    assert!((18..=22).contains(&started), "started after {started}s");
    assert_eq!(waited, started + 30 + 300);
    let completed = seconds_since(&env, svc.primary().unwrap().updated_at) as u64 - t0;
    assert_eq!(completed, waited);
    // The old task is stopped (visible) after draining.
    let old_task = tasks.iter().find(|t| t.task_definition_arn == old).unwrap();
    assert_eq!(old_task.last_status, "STOPPED");
    assert!(
        old_task
            .stopped_reason
            .as_deref()
            .unwrap()
            .starts_with("Scaling activity initiated by (deployment ecs-svc/")
    );
    assert!(env.sim.target_health(&env.tg).len() == 1);
}

#[tokio::test(start_paused = true)]
async fn healthy_rolling_update_desired_4_half_healthy() {
    let env = setup(FaultScript::new().seed(11), 4, 50, 200);
    let new = deploy(&env).await;
    let t0 = env.sim.elapsed_seconds();
    // Straight away: 2 old tasks stopped (50 % of 4 stay healthy), 4 new ones started.
    let (live, healthy) = live_and_healthy(&env);
    assert_eq!((live, healthy), (6, 2));
    let waited = watch(&env, 3600, Some((2, 8)), not_in_progress).await;
    assert_eq!(rollout(&service(&env)), RolloutState::Completed);
    assert_eq!(
        env.sim.running_task_definition(CLUSTER, SERVICE),
        Some(new.clone())
    );

    let tasks = env.sim.tasks(CLUSTER, SERVICE);
    let mut starts: Vec<u64> = tasks
        .iter()
        .filter(|t| t.task_definition_arn == new)
        .map(|t| seconds_since(&env, t.started_at.unwrap()) as u64 - t0)
        .collect();
    starts.sort();
    assert_eq!(starts.len(), 4);
    // The last two old tasks stop when the second new task is healthy, then drain.
    assert_eq!(waited, starts[1] + 30 + 300);
    assert!((18 + 330..=22 + 330).contains(&waited), "{waited}");
    assert_eq!(live_and_healthy(&env), (4, 4));
}

#[tokio::test(start_paused = true)]
async fn slow_start_takes_its_time_and_timeout_never_runs() {
    let env = setup(FaultScript::builtin("slow-start").unwrap(), 1, 100, 200);
    deploy(&env).await;
    let waited = watch(&env, 3600, Some((1, 2)), not_in_progress).await;
    assert_eq!(rollout(&service(&env)), RolloutState::Completed);
    assert!((216 + 330..=264 + 330).contains(&waited), "{waited}");

    let env = setup(FaultScript::builtin("timeout").unwrap(), 1, 100, 200);
    deploy(&env).await;
    let waited = watch(&env, 900, Some((1, 2)), not_in_progress).await;
    assert_eq!(waited, 900);
    let svc = service(&env);
    assert_eq!(rollout(&svc), RolloutState::InProgress);
    assert_eq!(svc.deployments[0].pending_count, 1);
    assert_eq!(svc.deployments[1].running_count, 1);
}

#[tokio::test(start_paused = true)]
async fn no_room_in_the_deployment_configuration() {
    let env = setup(FaultScript::new(), 2, 100, 100);
    let before = env.sim.running_task_definition(CLUSTER, SERVICE);
    deploy(&env).await;
    let waited = watch(&env, 600, Some((2, 2)), not_in_progress).await;
    assert_eq!(waited, 600);
    let svc = service(&env);
    assert_eq!(rollout(&svc), RolloutState::InProgress);
    let stalls = svc
        .events
        .iter()
        .filter(|e| {
            e.message.contains(
                "was unable to stop or start tasks during a deployment because of the service deployment configuration",
            )
        })
        .count();
    assert_eq!(stalls, 1);
    assert_eq!(
        svc.deployments[0].running_count + svc.deployments[0].pending_count,
        0
    );
    assert_eq!(svc.deployments[1].running_count, 2);
    assert_eq!(svc.deployments[1].task_definition, before.unwrap());
}

#[tokio::test(start_paused = true)]
async fn desired_count_change_with_the_same_task_definition() {
    let env = setup(FaultScript::new(), 1, 100, 200);
    let running = env.sim.running_task_definition(CLUSTER, SERVICE).unwrap();
    let svc = env
        .cloud
        .ecs
        .update_service(&UpdateService {
            desired_count: Some(3),
            ..update_request(&running)
        })
        .await
        .unwrap();
    assert_eq!(svc.deployments.len(), 1, "no new deployment");
    assert_eq!(svc.desired_count, 3);
    assert_eq!(svc.pending_count, 2);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(live_and_healthy(&env), (3, 3));
    // Scale in: the extra tasks drain away.
    env.cloud
        .ecs
        .update_service(&UpdateService {
            desired_count: Some(1),
            ..update_request("")
        })
        .await
        .unwrap();
    assert_eq!(live_and_healthy(&env), (1, 1));
    assert_eq!(env.sim.calls()["UpdateService"], 2);
    assert_eq!(rollout(&service(&env)), RolloutState::Completed);
}
