//! The simulator against `shared/aws-behaviour.md`, on paused tokio time: the shared world
//! set-up and watchers here, one file of tests per area.

mod codebuild;
mod ecs_api;
mod failures;
mod faults;
mod rollouts;
mod services;
mod shapes;

use super::*;
use crate::clock::Clock;
use crate::cloud::retry::RetryPolicy;
use crate::cloud::{CloudError, ResourceKind};
use std::time::Duration;

const FIXTURE: &str =
    include_str!("../../../../tests/fixtures/ecs-describe-task-definition-staging.json");
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
        health_check_grace_period_seconds: None,
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
