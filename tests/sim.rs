//! The cloud simulator through its public API only, the way the deploy engine and the CLI use
//! it: a runtime with paused time, the ports bundle, fault scripts from files and by name.

use amagent::clock::Clock;
use amagent::cloud::retry::RetryPolicy;
use amagent::cloud::sim::{FaultScript, ServiceSpec, Simulator, TargetGroupSpec};
use amagent::cloud::types::*;
use amagent::cloud::{Cloud, CloudError};
use std::time::Duration;

const FIXTURE: &str = include_str!("fixtures/ecs-describe-task-definition-staging.json");
const CLUSTER: &str = "aussie-markets-staging";
const SERVICE: &str = "aussie-markets-api-staging";
const TG: &str = "aussie-markets-api-staging-tg";

fn staging(faults: FaultScript) -> (Simulator, Cloud) {
    let v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let td: TaskDefinition = serde_json::from_value(v["taskDefinition"].clone()).unwrap();
    let sim = Simulator::new(
        Clock::starting_at("2026-11-25T00:00:00Z".parse().unwrap()),
        faults,
    );
    sim.add_target_group(TargetGroupSpec::new(TG, 3000, "/api/v1/health"));
    sim.add_service(ServiceSpec {
        cluster: CLUSTER.into(),
        name: SERVICE.into(),
        task_definition: td,
        desired_count: 1,
        minimum_healthy_percent: 100,
        maximum_percent: 200,
        circuit_breaker: Some(CircuitBreaker {
            enable: true,
            rollback: true,
        }),
        target_group: Some(TG.into()),
        container_name: "api".into(),
        container_port: 3000,
    });
    sim.add_repository("aussie-markets/api");
    sim.add_db_instance("aussie-markets-staging-db");
    sim.add_parameter("/aussie-markets/staging/api/database-url");
    sim.add_bucket("aussie-markets-staging-logs");
    let cloud = sim.cloud();
    (sim, cloud)
}

/// What a deploy does: register a new revision with another image, update the service, poll
/// the deployment and the new tasks' target health every 15 s (with retries) until the
/// rollout leaves IN_PROGRESS or 15 minutes pass.
async fn deploy(cloud: &Cloud) -> (String, EcsService) {
    let retry = RetryPolicy::default();
    let ecs = &cloud.ecs;
    let mut td = retry
        .run("DescribeTaskDefinition", || {
            ecs.describe_task_definition("aussie-markets-api-task")
        })
        .await
        .unwrap();
    td.container_definitions[0].image =
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api@sha256:feed".into();
    let new = ecs.register_task_definition(&td).await.unwrap().arn;
    let request = UpdateService {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
        task_definition: new.clone(),
        desired_count: None,
        deployment_configuration: None,
        ..Default::default()
    };
    ecs.update_service(&request).await.unwrap();
    let tg = cloud
        .elb
        .describe_target_groups(&[TG.into()])
        .await
        .unwrap()[0]
        .arn
        .clone();
    let names = vec![SERVICE.to_string()];
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let svc = retry
            .run("DescribeServices", || {
                ecs.describe_services(CLUSTER, &names)
            })
            .await
            .unwrap()
            .remove(0);
        retry
            .run("DescribeTargetHealth", || {
                cloud.elb.describe_target_health(&tg)
            })
            .await
            .unwrap();
        let arns = retry
            .run("ListTasks", || {
                ecs.list_tasks(CLUSTER, SERVICE, DesiredStatus::Running)
            })
            .await
            .unwrap();
        retry
            .run("DescribeTasks", || ecs.describe_tasks(CLUSTER, &arns))
            .await
            .unwrap();
        if svc.deployments.iter().all(|d| d.task_definition == new)
            && svc.primary().unwrap().rollout_state == RolloutState::Completed
            || svc.primary().unwrap().task_definition != new
        {
            return (new, svc);
        }
    }
    panic!("rollout did not finish in 15 minutes");
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn healthy_deploy_on_a_paused_current_thread_runtime() {
    let wall = std::time::Instant::now();
    paused_runtime().block_on(async {
        let (sim, cloud) = staging(FaultScript::load("healthy").unwrap());
        let (new, svc) = deploy(&cloud).await;
        assert_eq!(svc.task_definition, new);
        assert_eq!(sim.running_task_definition(CLUSTER, SERVICE), Some(new));
        assert_eq!(
            sim.task_definition_revisions("aussie-markets-api-task"),
            vec![42, 43]
        );
        // ~20 s start + 30 s check + 300 s drain, observed at 15 s polls.
        assert!(
            (345..=375).contains(&sim.elapsed_seconds()),
            "{}",
            sim.elapsed_seconds()
        );
        let calls = sim.calls();
        assert_eq!(calls["UpdateService"], 1);
        assert_eq!(calls["DescribeServices"], calls["DescribeTargetHealth"]);
    });
    assert!(
        wall.elapsed() < Duration::from_secs(2),
        "{:?}",
        wall.elapsed()
    );
}

#[test]
fn crash_rolls_back_to_the_old_revision() {
    paused_runtime().block_on(async {
        let (sim, cloud) = staging(FaultScript::load("crash").unwrap());
        let (new, svc) = deploy(&cloud).await;
        assert_ne!(svc.task_definition, new);
        assert!(svc.task_definition.ends_with(":42"));
        let failed = svc.deployments.iter().find(|d| d.task_definition == new);
        let failed = failed.unwrap();
        assert_eq!(failed.rollout_state, RolloutState::Failed);
        assert_eq!(failed.failed_tasks, 3);
        let stopped = cloud
            .ecs
            .list_tasks(CLUSTER, SERVICE, DesiredStatus::Stopped)
            .await
            .unwrap();
        let stopped = cloud.ecs.describe_tasks(CLUSTER, &stopped).await.unwrap();
        assert!(stopped.iter().any(|t| {
            t.stopped_reason.as_deref() == Some("Essential container in task exited")
        }));
        assert!(
            sim.running_task_definition(CLUSTER, SERVICE)
                .unwrap()
                .ends_with(":42")
        );
    });
}

#[test]
fn throttled_polls_get_through_with_retries() {
    paused_runtime().block_on(async {
        let (sim, cloud) = staging(FaultScript::load("throttled").unwrap());
        let (new, svc) = deploy(&cloud).await;
        assert_eq!(svc.task_definition, new);
        let calls = sim.calls();
        assert!(calls["DescribeServices"] > 24, "{calls:?}");
    });
}

#[test]
fn fault_script_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faults.yaml");
    std::fs::write(
        &path,
        "seed: 3\nimages:\n  - match: feed\n    healthy: false\naccessDenied:\n  - operation: CreateDBSnapshot\n",
    )
    .unwrap();
    let script = FaultScript::load(path.to_str().unwrap()).unwrap();
    assert_eq!(script.seed, 3);
    paused_runtime().block_on(async {
        let (_sim, cloud) = staging(script);
        let e = cloud
            .rds
            .create_db_snapshot("aussie-markets-staging-db", "pre-deploy-1", &[])
            .await
            .unwrap_err();
        assert!(matches!(e, CloudError::AccessDenied { ref action, .. } if action == "rds:CreateDBSnapshot"));
        // The new image never passes a health check: ELB-failed tasks trip the breaker.
        let (new, svc) = deploy(&cloud).await;
        assert_ne!(svc.task_definition, new);
        assert!(
            cloud
                .ssm
                .missing(&["/aussie-markets/staging/api/redis-url".into()])
                .await
                .unwrap()
                .len()
                == 1
        );
    });
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "seed: 3\nimage: []\n").unwrap();
    let e = FaultScript::load(bad.to_str().unwrap()).unwrap_err();
    assert!(e.contains("image"), "{e}");
}
