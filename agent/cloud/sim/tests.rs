//! The simulator against `shared/aws-behaviour.md`, on paused tokio time.

use super::*;
use crate::clock::Clock;
use crate::cloud::retry::RetryPolicy;
use crate::cloud::{CloudError, ResourceKind};
use std::time::Duration;

const FIXTURE: &str =
    include_str!("../../../tests/fixtures/ecs-describe-task-definition-staging.json");
const CLUSTER: &str = "aussie-markets-staging";
const SERVICE: &str = "aussie-markets-api-staging";
const FAMILY: &str = "aussie-markets-api-task";
const TG: &str = "aussie-markets-api-staging-tg";
const REPO: &str = "aussie-markets/api";

fn fixture_td() -> TaskDefinition {
    let v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    serde_json::from_value(v["taskDefinition"].clone()).unwrap()
}

fn epoch() -> DateTime<Utc> {
    "2026-11-25T00:00:00Z".parse().unwrap()
}

struct Env {
    sim: Simulator,
    cloud: Cloud,
    tg: String,
}

fn env_with(
    faults: FaultScript,
    desired: u32,
    min: u32,
    max: u32,
    breaker: Option<CircuitBreaker>,
) -> Env {
    let sim = Simulator::new(Clock::starting_at(epoch()), faults);
    let tg = sim.add_target_group(TargetGroupSpec::new(TG, 3000, "/api/v1/health"));
    sim.add_service(ServiceSpec {
        cluster: CLUSTER.into(),
        name: SERVICE.into(),
        task_definition: fixture_td(),
        desired_count: desired,
        minimum_healthy_percent: min,
        maximum_percent: max,
        circuit_breaker: breaker,
        target_group: Some(TG.into()),
        container_name: "api".into(),
        container_port: 3000,
    });
    Env {
        cloud: sim.cloud(),
        sim,
        tg,
    }
}

fn setup(faults: FaultScript, desired: u32, min: u32, max: u32) -> Env {
    env_with(faults, desired, min, max, None)
}

const BREAKER: Option<CircuitBreaker> = Some(CircuitBreaker {
    enable: true,
    rollback: false,
});
const BREAKER_ROLLBACK: Option<CircuitBreaker> = Some(CircuitBreaker {
    enable: true,
    rollback: true,
});

/// Register the running task definition again with another image; returns the new ARN.
async fn register_new(env: &Env) -> String {
    let mut td = env
        .cloud
        .ecs
        .describe_task_definition(FAMILY)
        .await
        .unwrap();
    td.container_definitions[0].image = format!(
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/{REPO}@sha256:{}",
        "b".repeat(64)
    );
    env.cloud
        .ecs
        .register_task_definition(&td)
        .await
        .unwrap()
        .arn
}

fn update_request(task_definition: &str) -> UpdateService {
    UpdateService {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
        task_definition: task_definition.into(),
        desired_count: None,
        deployment_configuration: None,
    }
}

async fn deploy(env: &Env) -> String {
    let arn = register_new(env).await;
    env.cloud
        .ecs
        .update_service(&update_request(&arn))
        .await
        .unwrap();
    arn
}

fn service(env: &Env) -> EcsService {
    env.sim.service(CLUSTER, SERVICE).unwrap()
}

/// Tasks with desired status RUNNING, and those of them RUNNING with a healthy target.
fn live_and_healthy(env: &Env) -> (usize, usize) {
    let tasks = env.sim.tasks(CLUSTER, SERVICE);
    let health = env.sim.target_health(&env.tg);
    let live: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.desired_status == "RUNNING")
        .collect();
    let healthy = live
        .iter()
        .filter(|t| {
            t.last_status == "RUNNING"
                && health
                    .iter()
                    .any(|h| h.target_id == t.private_ip && h.state == TargetState::Healthy)
        })
        .count();
    (live.len(), healthy)
}

/// Look at the world every second until `done` or `limit` seconds; checks the rolling update
/// bounds at every step. Returns the seconds waited.
async fn watch(
    env: &Env,
    limit: u64,
    bounds: Option<(usize, usize)>,
    done: impl Fn(&EcsService) -> bool,
) -> u64 {
    let start = env.sim.elapsed_seconds();
    loop {
        let svc = service(env);
        if let Some((min_healthy, max_tasks)) = bounds {
            let (live, healthy) = live_and_healthy(env);
            let at = env.sim.elapsed_seconds() - start;
            assert!(
                live <= max_tasks,
                "{live} tasks > max {max_tasks} at +{at}s"
            );
            assert!(
                healthy >= min_healthy,
                "{healthy} healthy < min {min_healthy} at +{at}s"
            );
        }
        let waited = env.sim.elapsed_seconds() - start;
        if done(&svc) || waited >= limit {
            return waited;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn rollout(svc: &EcsService) -> RolloutState {
    svc.primary().unwrap().rollout_state
}

fn not_in_progress(svc: &EcsService) -> bool {
    rollout(svc) != RolloutState::InProgress
}

fn seconds_since(env: &Env, at: DateTime<Utc>) -> i64 {
    let _ = env;
    (at - epoch()).num_seconds()
}

// ---------------------------------------------------------------------- set-up

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

// ---------------------------------------------------------------------- failures

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
    // …and is stopped after two failed checks (60 s and 90 s after RUNNING).
    let waited = watch(&env, 600, None, |_| {
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
    let stopped: Vec<Task> = env
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
    let svc = service(&env);
    assert_eq!(svc.deployments[0].failed_tasks, 1);
    assert!(
        svc.events
            .iter()
            .any(|e| e.message.contains("is unhealthy in (target-group"))
    );
    assert!(healthy_at > 0);
    // The replacement is healthy again, which resets the count (resetOnHealthyTask).
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(service(&env).deployments[0].failed_tasks, 0);
    // Drained targets disappear; stopped tasks stay visible for an hour.
    tokio::time::sleep(Duration::from_secs(240)).await;
    let ip = &stopped[0].private_ip;
    assert!(
        env.sim
            .target_health(&env.tg)
            .iter()
            .all(|h| h.target_id != *ip)
    );
    let arn = stopped[0].task_arn.clone();
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

// ---------------------------------------------------------------------- faults

#[tokio::test(start_paused = true)]
async fn throttling_bursts_are_counted_and_retried() {
    let env = setup(FaultScript::builtin("throttled").unwrap(), 1, 100, 200);
    let names = vec![SERVICE.to_string()];
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let r = env.cloud.ecs.describe_services(CLUSTER, &names).await;
        outcomes.push(matches!(r, Err(CloudError::Throttled { .. })));
    }
    assert_eq!(
        outcomes,
        vec![
            false, false, false, true, true, true, true, false, false, false
        ]
    );
    assert_eq!(env.sim.calls()["DescribeServices"], 10);
    // With the agent's retry policy every poll gets through.
    env.sim.reset_calls();
    let policy = RetryPolicy::default();
    for _ in 0..10 {
        policy
            .run("DescribeTargetHealth", || {
                env.cloud.elb.describe_target_health(&env.tg)
            })
            .await
            .unwrap();
    }
    assert_eq!(env.sim.calls()["DescribeTargetHealth"], 10 + 4 + 4);
    // The bursts repeat every 10 calls: calls 14 to 17 of DescribeServices are throttled.
    for _ in 11..=13 {
        env.cloud
            .ecs
            .describe_services(CLUSTER, &names)
            .await
            .unwrap();
    }
    let e = env
        .cloud
        .ecs
        .describe_services(CLUSTER, &names)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        CloudError::Throttled {
            operation: "DescribeServices".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn access_denied_names_the_action() {
    let env = setup(FaultScript::builtin("access-denied").unwrap(), 1, 100, 200);
    let arn = register_new(&env).await;
    let e = env
        .cloud
        .ecs
        .update_service(&update_request(&arn))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        CloudError::AccessDenied {
            action: "ecs:UpdateService".into(),
            resource:
                "arn:aws:ecs:ap-southeast-2:123456789012:service/aussie-markets-staging/aussie-markets-api-staging"
                    .into(),
        }
    );
    assert!(e.to_string().contains("ecs:UpdateService"));
    assert_eq!(env.sim.calls()["UpdateService"], 1);
    assert_eq!(service(&env).deployments.len(), 1, "nothing changed");
}

// ---------------------------------------------------------------------- RDS

#[tokio::test(start_paused = true)]
async fn snapshot_becomes_available_after_its_time() {
    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.add_db_instance("aussie-markets-staging-db");
    let rds = sim.cloud().rds;
    let tags = vec![("amagent".to_string(), "pre-deploy".to_string())];
    let s = rds
        .create_db_snapshot(
            "aussie-markets-staging-db",
            "amagent-staging-20261125",
            &tags,
        )
        .await
        .unwrap();
    assert_eq!(s.status, "creating");
    assert_eq!(s.snapshot_type, "manual");
    assert_eq!(s.tags["amagent"], "pre-deploy");
    tokio::time::sleep(Duration::from_secs(119)).await;
    let list = rds
        .describe_db_snapshots("aussie-markets-staging-db")
        .await
        .unwrap();
    assert_eq!(list[0].status, "creating");
    let e = rds.delete_db_snapshot("amagent-staging-20261125").await;
    assert!(matches!(e, Err(CloudError::InvalidRequest { .. })));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let list = rds
        .describe_db_snapshots("aussie-markets-staging-db")
        .await
        .unwrap();
    assert_eq!(list[0].status, "available");
    assert_eq!(sim.snapshots("aussie-markets-staging-db").len(), 1);

    let e = rds
        .create_db_snapshot("aussie-markets-staging-db", "amagent-staging-20261125", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CloudError::InvalidRequest { message, .. } if message.contains("DBSnapshotAlreadyExists")),
        "{e:?}"
    );
    for bad in ["1abc", "a--b", "a-", "a_b", ""] {
        let e = rds
            .create_db_snapshot("aussie-markets-staging-db", bad, &[])
            .await
            .unwrap_err();
        assert!(matches!(e, CloudError::InvalidRequest { .. }), "{bad}");
    }
    let e = rds
        .create_db_snapshot("nope", "abc", &[])
        .await
        .unwrap_err();
    assert_eq!(e, CloudError::not_found(ResourceKind::DbInstance, "nope"));

    rds.delete_db_snapshot("amagent-staging-20261125")
        .await
        .unwrap();
    assert!(sim.snapshots("aussie-markets-staging-db").is_empty());
    let e = rds
        .delete_db_snapshot("amagent-staging-20261125")
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        CloudError::NotFound {
            kind: ResourceKind::DbSnapshot,
            ..
        }
    ));
    assert_eq!(
        rds.describe_db_instance("aussie-markets-staging-db")
            .await
            .unwrap()
            .status,
        "available"
    );
}

#[tokio::test(start_paused = true)]
async fn snapshot_fails_when_scripted() {
    let sim = Simulator::new(
        Clock::starting_at(epoch()),
        FaultScript::builtin("snapshot-fails").unwrap(),
    );
    sim.add_db_instance("db");
    let rds = sim.cloud().rds;
    rds.create_db_snapshot("db", "snap-1", &[]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        rds.describe_db_snapshots("db").await.unwrap()[0].status,
        "failed"
    );
}

// ---------------------------------------------------------------------- ECR

#[tokio::test(start_paused = true)]
async fn ecr_images_batch_delete_and_lifecycle_policy() {
    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.add_repository(REPO);
    let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    sim.push_image(REPO, &digest('a'), &["v1.3.0"], epoch());
    sim.push_image(REPO, &digest('b'), &["v1.3.1", "latest"], epoch());
    sim.push_image(REPO, &digest('c'), &["latest"], epoch());
    let images = sim.images(REPO);
    assert_eq!(images.len(), 3);
    assert_eq!(
        images[1].tags,
        vec!["v1.3.1"],
        "latest moved to the newest push"
    );
    let ecr = sim.cloud().ecr;
    assert_eq!(ecr.describe_images(REPO).await.unwrap(), images);

    let r = ecr
        .batch_delete_image(REPO, &[digest('a'), digest('b'), digest('d')])
        .await
        .unwrap();
    assert_eq!(r.deleted, vec![digest('a'), digest('b')]);
    assert_eq!(r.failures, vec![(digest('d'), "ImageNotFound".to_string())]);
    assert_eq!(sim.images(REPO).len(), 1);
    let too_many: Vec<String> = (0..101).map(|i| format!("sha256:{i:064x}")).collect();
    assert!(matches!(
        ecr.batch_delete_image(REPO, &too_many).await,
        Err(CloudError::InvalidRequest { .. })
    ));
    assert!(matches!(
        ecr.describe_images("nope").await,
        Err(CloudError::NotFound {
            kind: ResourceKind::Repository,
            ..
        })
    ));

    assert_eq!(ecr.get_lifecycle_policy(REPO).await.unwrap(), None);
    let policy = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}"#;
    ecr.put_lifecycle_policy(REPO, policy).await.unwrap();
    assert_eq!(
        ecr.get_lifecycle_policy(REPO).await.unwrap().as_deref(),
        Some(policy)
    );
    assert!(ecr.put_lifecycle_policy(REPO, "not json").await.is_err());

    assert_eq!(
        ecr.registry_host(),
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com"
    );
}

#[tokio::test(start_paused = true)]
async fn registry_login() {
    let expires = epoch() + chrono::Duration::hours(12);
    let host = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com";
    // No local registry named: refused, never the real ECR host.
    let err = registry_auth(None, host, expires).unwrap_err();
    assert!(err.contains(REGISTRY_ENV), "{err}");
    let auth = registry_auth(Some("http://amagent:s3cret@127.0.0.1:5123/"), host, expires).unwrap();
    assert_eq!(auth.endpoint, "http://127.0.0.1:5123");
    assert_eq!(auth.username, "amagent");
    assert_eq!(auth.password.expose(), "s3cret");
    assert!(registry_auth(Some("127.0.0.1:5123"), host, expires).is_err());

    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.use_registry("http://amagent:s3cret@127.0.0.1:5123");
    let auth = sim.cloud().ecr.get_authorization_token().await.unwrap();
    assert_eq!(auth.expires_at, expires);
    assert_eq!(auth.endpoint, "http://127.0.0.1:5123");
}

// ---------------------------------------------------------------------- S3 and SSM

#[tokio::test(start_paused = true)]
async fn s3_conditional_puts() {
    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.add_bucket("journal");
    let s3 = sim.cloud().s3;
    let etag = s3
        .put("journal", "lock", b"agent-1", PutCondition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(etag, etag_of(b"agent-1"));
    let e = s3
        .put("journal", "lock", b"agent-2", PutCondition::IfAbsent)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CloudError::InvalidRequest { message, .. } if message.contains("PreconditionFailed"))
    );
    let e = s3
        .put(
            "journal",
            "lock",
            b"x",
            PutCondition::IfMatch("\"nope\"".into()),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("PreconditionFailed"));
    let etag2 = s3
        .put(
            "journal",
            "lock",
            b"agent-1 again",
            PutCondition::IfMatch(etag.clone()),
        )
        .await
        .unwrap();
    assert_ne!(etag, etag2);
    s3.put("journal", "runs/2", b"2", PutCondition::Always)
        .await
        .unwrap();
    s3.put("journal", "runs/1", b"1", PutCondition::Always)
        .await
        .unwrap();
    assert_eq!(
        s3.list("journal", "runs/").await.unwrap(),
        vec!["runs/1", "runs/2"]
    );
    let o = s3.get("journal", "lock").await.unwrap().unwrap();
    assert_eq!(o.body, b"agent-1 again");
    assert_eq!(o.etag, etag2);
    assert_eq!(s3.get("journal", "none").await.unwrap(), None);
    assert!(matches!(
        s3.get("nope", "k").await,
        Err(CloudError::NotFound {
            kind: ResourceKind::Bucket,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn ssm_reports_missing_names_only() {
    let sim = Simulator::new(Clock::starting_at(epoch()), FaultScript::new());
    sim.add_parameter("/aussie-markets/staging/api/database-url");
    let ssm = sim.cloud().ssm;
    let names = vec![
        "/aussie-markets/staging/api/database-url".to_string(),
        "/aussie-markets/staging/api/redis-url".to_string(),
    ];
    assert_eq!(ssm.missing(&names).await.unwrap(), vec![names[1].clone()]);
    assert_eq!(
        ssm.arn("/aussie-markets/staging/api/redis-url"),
        "arn:aws:ssm:ap-southeast-2:123456789012:parameter/aussie-markets/staging/api/redis-url"
    );
    let eleven: Vec<String> = (0..11).map(|i| format!("/p/{i}")).collect();
    assert!(matches!(
        ssm.missing(&eleven).await,
        Err(CloudError::InvalidRequest { .. })
    ));
}

// ---------------------------------------------------------------------- ECS API edges

#[tokio::test(start_paused = true)]
async fn ecs_request_limits_and_missing_resources() {
    let env = setup(FaultScript::new(), 1, 100, 200);
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
    sim.add_service(ServiceSpec {
        cluster: CLUSTER.into(),
        name: "worker".into(),
        task_definition: fixture_td(),
        desired_count: 2,
        minimum_healthy_percent: 50,
        maximum_percent: 100,
        circuit_breaker: None,
        target_group: None,
        container_name: "api".into(),
        container_port: 3000,
    });
    let cloud = sim.cloud();
    let mut td = fixture_td();
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
