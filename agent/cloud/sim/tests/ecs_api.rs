//! ECS API edges: request limits, missing resources, call counting, many services.

use super::*;

#[tokio::test(start_paused = true)]
async fn ecs_request_limits_and_missing_resources() {
    let env = setup(FaultScript::new(), 1, 100, 200);
    describe_limits_and_missing_resources(&env).await;
    register_and_find_task_definitions(&env).await;
    target_groups_missing_and_found(&env).await;
}

async fn describe_limits_and_missing_resources(env: &Env) {
    let ecs = &env.cloud.ecs;
    let eleven: Vec<String> = (0..11).map(|i| format!("svc-{i}")).collect();
    assert!(matches!(
        ecs.describe_services(CLUSTER, &eleven).await,
        Err(CloudError::InvalidRequest { .. })
    ));
    let some = vec![SERVICE.to_string(), "missing".to_string()];
    assert_eq!(
        ecs.describe_services(CLUSTER, &some).await.unwrap().len(),
        1
    );
    assert_eq!(
        ecs.describe_services(CLUSTER, &["missing".into()])
            .await
            .unwrap_err(),
        CloudError::not_found(ResourceKind::Service, "missing")
    );
    assert_eq!(
        ecs.describe_services("nope", &some).await.unwrap_err(),
        CloudError::not_found(ResourceKind::Cluster, "nope")
    );
    let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    assert!(matches!(
        ecs.describe_tasks(CLUSTER, &many).await,
        Err(CloudError::InvalidRequest { .. })
    ));
    assert!(matches!(
        ecs.describe_task_definition("nope:1").await,
        Err(CloudError::NotFound {
            kind: ResourceKind::TaskDefinition,
            ..
        })
    ));
    assert!(matches!(
        ecs.update_service(&update_request(&format!("{FAMILY}:99")))
            .await,
        Err(CloudError::NotFound {
            kind: ResourceKind::TaskDefinition,
            ..
        })
    ));
}

async fn register_and_find_task_definitions(env: &Env) {
    let ecs = &env.cloud.ecs;
    // RegisterTaskDefinition: memory somewhere, containers present.
    let mut td = fixture_td();
    td.memory = None;
    td.requires_compatibilities.clear();
    assert!(matches!(
        ecs.register_task_definition(&td).await,
        Err(CloudError::InvalidRequest { .. })
    ));
    td.container_definitions[0]
        .extra
        .insert("memory".into(), serde_json::json!(512));
    let registered = ecs.register_task_definition(&td).await.unwrap();
    assert_eq!(registered.revision, 43);
    let mut empty = fixture_td();
    empty.container_definitions.clear();
    assert!(ecs.register_task_definition(&empty).await.is_err());
    // By family (latest), family:revision and ARN.
    assert_eq!(
        ecs.describe_task_definition(FAMILY).await.unwrap().revision,
        43
    );
    assert_eq!(
        ecs.describe_task_definition(&format!("{FAMILY}:42"))
            .await
            .unwrap()
            .revision,
        42
    );
    assert_eq!(
        ecs.describe_task_definition(&registered.arn)
            .await
            .unwrap()
            .revision,
        43
    );
    assert_eq!(env.sim.task_definition_revisions(FAMILY), vec![42, 43]);

    // The same task definition again: no deployment, but a call.
    let running = env.sim.running_task_definition(CLUSTER, SERVICE).unwrap();
    let svc = ecs.update_service(&update_request(&running)).await.unwrap();
    assert_eq!(svc.deployments.len(), 1);
}

async fn target_groups_missing_and_found(env: &Env) {
    assert!(matches!(
        env.cloud
            .elb
            .describe_target_groups(&[TG.into(), "nope".into()])
            .await,
        Err(CloudError::NotFound {
            kind: ResourceKind::TargetGroup,
            ..
        })
    ));
    let tgs = env
        .cloud
        .elb
        .describe_target_groups(&[TG.into()])
        .await
        .unwrap();
    assert_eq!(tgs[0].arn, env.tg);
    assert_eq!(tgs[0].health_check_interval_seconds, 30);
    assert!(matches!(
        env.cloud.elb.describe_target_health("arn:nope").await,
        Err(CloudError::NotFound { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn every_port_call_is_counted() {
    let env = setup(FaultScript::new(), 1, 100, 200);
    env.sim.add_bucket("b");
    env.sim.add_db_instance("db");
    env.sim.add_repository(REPO);
    assert!(env.sim.calls().is_empty(), "set-up is not counted");
    deploy(&env).await; // DescribeTaskDefinition, RegisterTaskDefinition, UpdateService
    let _ = env
        .cloud
        .ecs
        .describe_services(CLUSTER, &[SERVICE.into()])
        .await;
    let _ = env
        .cloud
        .ecs
        .describe_services("nope", &[SERVICE.into()])
        .await;
    let _ = env.cloud.elb.describe_target_health(&env.tg).await;
    let _ = env.cloud.s3.get("b", "k").await;
    let _ = env.cloud.rds.describe_db_snapshots("db").await;
    let _ = env.cloud.ecr.describe_images(REPO).await;
    let _ = env.cloud.ssm.missing(&[]).await;
    let _ = env.cloud.ssm.arn("/x");
    let _ = env.cloud.ecr.registry_host();
    let _ = env.sim.service(CLUSTER, SERVICE);
    let expected: BTreeMap<String, u64> = [
        ("DescribeTaskDefinition", 1),
        ("RegisterTaskDefinition", 1),
        ("UpdateService", 1),
        ("DescribeServices", 2),
        ("DescribeTargetHealth", 1),
        ("GetObject", 1),
        ("DescribeDBSnapshots", 1),
        ("DescribeImages", 1),
        ("GetParameters", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(env.sim.calls(), expected);
    env.sim.reset_calls();
    assert!(env.sim.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn same_seed_same_world() {
    async fn run(seed: u64) -> Vec<(String, Option<DateTime<Utc>>)> {
        let env = setup(FaultScript::new().seed(seed), 4, 50, 200);
        deploy(&env).await;
        watch(&env, 3600, None, not_in_progress).await;
        env.sim
            .tasks(CLUSTER, SERVICE)
            .into_iter()
            .map(|t| (t.task_arn, t.started_at))
            .collect()
    }
    let a = run(5).await;
    assert_eq!(a, run(5).await);
    assert_ne!(a, run(6).await);
}

#[tokio::test(start_paused = true)]
async fn many_services_roll_out_together_quickly() {
    let wall = std::time::Instant::now();
    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    let cloud = sim.cloud();
    let mut names = Vec::new();
    for i in 0..100 {
        let tg = format!("tg-{i}");
        sim.add_target_group(TargetGroupSpec::new(&tg, 3000, "/health"));
        let mut td = fixture_td();
        td.family = format!("family-{i}");
        let name = format!("svc-{i}");
        sim.add_service(ServiceSpec {
            cluster: CLUSTER.into(),
            name: name.clone(),
            task_definition: td,
            desired_count: 4,
            minimum_healthy_percent: 50,
            maximum_percent: 200,
            circuit_breaker: BREAKER,
            target_group: Some(tg),
            container_name: "api".into(),
            container_port: 3000,
        });
        names.push(name);
    }
    for (i, name) in names.iter().enumerate() {
        let mut td = cloud
            .ecs
            .describe_task_definition(&format!("family-{i}"))
            .await
            .unwrap();
        td.container_definitions[0].image.push_str("-next");
        let arn = cloud.ecs.register_task_definition(&td).await.unwrap().arn;
        cloud
            .ecs
            .update_service(&UpdateService {
                service: name.clone(),
                ..update_request(&arn)
            })
            .await
            .unwrap();
    }
    let mut done = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut all = true;
        for chunk in names.chunks(10) {
            for svc in cloud.ecs.describe_services(CLUSTER, chunk).await.unwrap() {
                all &= rollout(&svc) == RolloutState::Completed;
            }
        }
        if all {
            done = true;
            break;
        }
    }
    assert!(done);
    assert!(sim.elapsed_seconds() < 400, "{}", sim.elapsed_seconds());
    assert!(
        wall.elapsed() < Duration::from_secs(5),
        "took {:?}",
        wall.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_target_group_running_counts_as_healthy() {
    let sim = Simulator::new(
        Clock::starting_at(epoch()),
        FaultScript::new().start_jitter_percent(0),
    );
    // No target group and no container health check: RUNNING is all ECS waits for.
    let mut unchecked = fixture_td();
    unchecked.container_definitions[0]
        .extra
        .remove("healthCheck");
    sim.add_service(ServiceSpec {
        cluster: CLUSTER.into(),
        name: "worker".into(),
        task_definition: unchecked.clone(),
        desired_count: 2,
        minimum_healthy_percent: 50,
        maximum_percent: 100,
        circuit_breaker: None,
        target_group: None,
        container_name: "api".into(),
        container_port: 3000,
    });
    let cloud = sim.cloud();
    let mut td = unchecked;
    td.container_definitions[0].image.push_str("-worker-2");
    let arn = cloud.ecs.register_task_definition(&td).await.unwrap().arn;
    let svc = cloud
        .ecs
        .update_service(&UpdateService {
            service: "worker".into(),
            ..update_request(&arn)
        })
        .await
        .unwrap();
    // 50/100 of 2: one old task stops at once (no draining without a target), one new starts.
    assert_eq!(svc.deployments[0].pending_count, 1);
    assert_eq!(svc.deployments[1].running_count, 1);
    tokio::time::sleep(Duration::from_secs(20)).await;
    // The first new task is RUNNING (healthy): the second old one stops, the second new starts.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let svc = sim.service(CLUSTER, "worker").unwrap();
    assert_eq!(rollout(&svc), RolloutState::Completed);
    assert_eq!(svc.running_count, 2);
    assert_eq!(svc.task_definition, arn);
}

#[tokio::test(start_paused = true)]
async fn a_new_deployment_supersedes_one_in_progress() {
    let env = setup(FaultScript::builtin("timeout").unwrap(), 1, 100, 200);
    let stuck = deploy(&env).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    // Deploy the old revision again: the stuck task is stopped, the old one keeps serving.
    let old = format!("{FAMILY}:42");
    let svc = env
        .cloud
        .ecs
        .update_service(&update_request(&old))
        .await
        .unwrap();
    assert_eq!(svc.deployments.len(), 3);
    assert_eq!(svc.deployments[1].task_definition, stuck);
    assert_eq!(svc.deployments[1].pending_count, 0, "stuck task stopped");
    watch(&env, 3600, Some((1, 2)), not_in_progress).await;
    let svc = service(&env);
    assert_eq!(rollout(&svc), RolloutState::Completed);
    assert_eq!(svc.deployments.len(), 1);
    assert!(svc.task_definition.ends_with(":42"));
}
