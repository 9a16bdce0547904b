//! The ECS service shapes teams run, deployed through the executor on the simulator (virtual
//! time): several target groups, the health check grace period (the spec's and the service's
//! own), container health checks, capacity provider strategies, and deployment controllers
//! other than ECS's rolling update.

use amagent::cloud::sim::{FaultScript, ImageRule, ServiceSpec};
use amagent::cloud::types::CapacityProviderStrategyItem;
use amagent::config::{Environment, LoadBalancer, load_dir};
use amagent::executor::{self, Context, EnvRun};
use amagent::sandbox::Sandbox;
use amagent::stages::deploy::{DeployResult, FailureKind, Outcome, Silent};
use amagent::state::journal::{Journal, LocalJournal};
use std::collections::BTreeMap;
use std::path::Path;

const CLUSTER: &str = "aussie-markets-staging";
const SERVICE: &str = "aussie-markets-api-staging";
const FAMILY: &str = "aussie-markets-api-task";
const INTERNAL: &str = "aussie-markets-api-internal";

fn staging() -> Environment {
    let model = load_dir(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    model.environments["staging"].clone()
}

/// Staging with its api behind two target groups, listed under `loadBalancers`.
fn two_target_groups() -> Environment {
    let mut env = staging();
    let api = &mut env.services[0];
    let public = api.load_balancer.take().unwrap();
    api.load_balancers = vec![
        public,
        LoadBalancer {
            target_group: INTERNAL.into(),
            container_port: 3000,
            health_check_path: "/internal/health".into(),
        },
    ];
    env
}

/// Deploy v1.4.0 of the api; the result and the journal's records.
async fn deploy(env: &Environment, sandbox: &Sandbox) -> (DeployResult, Vec<String>) {
    let cloud = sandbox.sim.cloud();
    let dir = tempfile::tempdir().unwrap();
    let journal = LocalJournal::new(dir.path());
    let ctx = Context::new(&cloud, &sandbox.clock, &journal, &Silent);
    let api = &env.services[0];
    let image = sandbox.resolve_image(api, "v1.4.0").unwrap();
    let plan = amagent::plan::manual_deploy(env, api, "v1.4.0");
    let report = executor::execute(
        &ctx,
        EnvRun {
            env,
            plan: &plan,
            images: BTreeMap::from([("api".to_string(), image)]),
            commit: None,
            lifecycle_dry_run: true,
            resume_since: None,
        },
    )
    .await;
    let steps = journal
        .read(Some("staging"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.step)
        .collect();
    (report.deploys[0].clone(), steps)
}

fn running(sandbox: &Sandbox) -> String {
    sandbox
        .sim
        .running_task_definition(CLUSTER, SERVICE)
        .unwrap()
}

fn reason(d: &DeployResult) -> &str {
    d.reason.as_deref().unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn several_target_groups_all_healthy_deploy() {
    let env = two_target_groups();
    let sandbox = Sandbox::for_environment(&env, FaultScript::builtin("healthy").unwrap());
    assert_eq!(
        sandbox
            .sim
            .service(CLUSTER, SERVICE)
            .unwrap()
            .load_balancers
            .len(),
        2
    );
    let (d, _) = deploy(&env, &sandbox).await;
    assert_eq!(d.outcome, Outcome::Succeeded, "{d:?}");
    assert!(running(&sandbox).ends_with(&format!("{FAMILY}:43")));
}

#[tokio::test(start_paused = true)]
async fn a_task_unhealthy_in_the_second_target_group_fails_the_gate() {
    // ECS leaves the task alone for its 600 s grace period and, at 0 % minimum, stops the old
    // task at once: a gate reading only the first group would pass once the old task drained.
    let mut env = two_target_groups();
    env.services[0].deploy.minimum_healthy_percent = 0;
    env.services[0].deploy.bake_seconds = 60;
    let faults = FaultScript::new().image(ImageRule::new("new").failing_in(INTERNAL));
    let sandbox = Sandbox::for_environment(&env, faults);
    sandbox
        .sim
        .set_health_check_grace_period(CLUSTER, SERVICE, Some(600));
    let (d, _) = deploy(&env, &sandbox).await;
    assert_eq!(d.outcome, Outcome::Failed, "{d:?}");
    assert!(d.rolled_back);
    // Named by the gate (`in target group …`) or by ECS's stoppedReason (its ARN), whichever
    // saw it first once the grace period ended.
    assert!(reason(&d).contains(INTERNAL), "{}", reason(&d));
    // Not before the grace period: nothing is called failed inside it.
    assert!(d.seconds >= 600.0, "failed after {} s", d.seconds);
    assert!(running(&sandbox).ends_with(&format!("{FAMILY}:42")));
}

#[tokio::test(start_paused = true)]
async fn the_spec_grace_period_is_set_on_the_service_and_honoured() {
    // Health checks fail for the first 90 s after RUNNING (a slow warm-up): the target is
    // unhealthy at +60 s and healthy again at +210 s, inside the 300 s grace period.
    let mut env = staging();
    env.services[0].deploy.health_check_grace_period_seconds = Some(300);
    let faults = FaultScript::new().image(ImageRule::new("new").healthy_after(90));
    let sandbox = Sandbox::for_environment(&env, faults);
    assert_eq!(
        sandbox
            .sim
            .service(CLUSTER, SERVICE)
            .unwrap()
            .health_check_grace_period_seconds,
        None
    );
    let (d, _) = deploy(&env, &sandbox).await;
    assert_eq!(d.outcome, Outcome::Succeeded, "{d:?}");
    let service = sandbox.sim.service(CLUSTER, SERVICE).unwrap();
    assert_eq!(service.health_check_grace_period_seconds, Some(300));
    assert!(running(&sandbox).ends_with(&format!("{FAMILY}:43")));
}

#[tokio::test(start_paused = true)]
async fn the_services_own_grace_period_is_honoured_and_kept() {
    let env = staging();
    assert_eq!(
        env.services[0].deploy.health_check_grace_period_seconds,
        None
    );
    let faults = FaultScript::new().image(ImageRule::new("new").healthy_after(90));
    let sandbox = Sandbox::for_environment(&env, faults);
    sandbox
        .sim
        .set_health_check_grace_period(CLUSTER, SERVICE, Some(300));
    let (d, _) = deploy(&env, &sandbox).await;
    assert_eq!(d.outcome, Outcome::Succeeded, "{d:?}");
    let service = sandbox.sim.service(CLUSTER, SERVICE).unwrap();
    assert_eq!(service.health_check_grace_period_seconds, Some(300));
}

#[tokio::test(start_paused = true)]
async fn without_a_grace_period_the_warm_up_fails_the_deploy() {
    let env = staging();
    let faults = FaultScript::new().image(ImageRule::new("new").healthy_after(90));
    let sandbox = Sandbox::for_environment(&env, faults);
    let (d, _) = deploy(&env, &sandbox).await;
    assert_eq!(d.outcome, Outcome::Failed, "{d:?}");
    assert!(d.rolled_back);
    assert!(
        reason(&d).contains("load balancer health checks"),
        "{}",
        reason(&d)
    );
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_essential_container_fails_the_gate() {
    let env = staging();
    let faults = FaultScript::new().image(ImageRule::new("new").container_healthy(false));
    let sandbox = Sandbox::for_environment(&env, faults);
    let (d, _) = deploy(&env, &sandbox).await;
    assert_eq!(d.outcome, Outcome::Failed, "{d:?}");
    assert!(d.rolled_back);
    assert!(
        reason(&d).contains("essential container api failed its container health check"),
        "{}",
        reason(&d)
    );
    assert!(running(&sandbox).ends_with(&format!("{FAMILY}:42")));
}

/// Staging's api as a worker: no load balancer; with `check`, its container defines a health
/// check (the sandbox gives one only to services behind a load balancer).
fn worker(check: bool) -> (Environment, Sandbox, FaultScript) {
    let mut env = staging();
    env.services[0].load_balancer = None;
    let faults = FaultScript::new().image(ImageRule::new("new").container_healthy(false));
    let sandbox = Sandbox::for_environment(&env, faults.clone());
    if check {
        let mut td = sandbox.sim.task_definition(FAMILY).unwrap();
        td.container_definitions[0].extra.insert(
            "healthCheck".into(),
            serde_json::json!({"command": ["CMD-SHELL", "true"], "interval": 30, "retries": 3}),
        );
        let service = sandbox.sim.service(CLUSTER, SERVICE).unwrap();
        sandbox.sim.add_service(ServiceSpec {
            cluster: CLUSTER.into(),
            name: SERVICE.into(),
            task_definition: td,
            desired_count: service.desired_count,
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            circuit_breaker: None,
            target_group: None,
            container_name: "api".into(),
            container_port: 3000,
        });
    }
    (env, sandbox, faults)
}

#[tokio::test(start_paused = true)]
async fn without_a_load_balancer_an_unhealthy_container_fails_the_gate() {
    let (env, sandbox, _) = worker(true);
    let (d, _) = deploy(&env, &sandbox).await;
    assert_eq!(d.outcome, Outcome::Failed, "{d:?}");
    assert!(
        reason(&d).contains("container health check"),
        "{}",
        reason(&d)
    );
    assert!(running(&sandbox).ends_with(&format!("{FAMILY}:42")));
}

#[tokio::test(start_paused = true)]
async fn without_a_load_balancer_or_a_health_check_running_is_the_signal() {
    // The same failing check, but the revision defines none: ECS and the gate go by RUNNING.
    let (env, sandbox, _) = worker(false);
    let (d, _) = deploy(&env, &sandbox).await;
    assert_eq!(d.outcome, Outcome::Succeeded, "{d:?}");
    assert!(running(&sandbox).ends_with(&format!("{FAMILY}:43")));
}

#[tokio::test(start_paused = true)]
async fn a_deploy_keeps_the_capacity_provider_strategy() {
    let env = staging();
    let sandbox = Sandbox::for_environment(&env, FaultScript::builtin("healthy").unwrap());
    let spot = vec![
        CapacityProviderStrategyItem {
            capacity_provider: "FARGATE_SPOT".into(),
            weight: 4,
            base: 0,
        },
        CapacityProviderStrategyItem {
            capacity_provider: "FARGATE".into(),
            weight: 1,
            base: 1,
        },
    ];
    sandbox
        .sim
        .set_capacity_provider_strategy(CLUSTER, SERVICE, spot.clone());
    let (d, _) = deploy(&env, &sandbox).await;
    assert_eq!(d.outcome, Outcome::Succeeded, "{d:?}");
    let service = sandbox.sim.service(CLUSTER, SERVICE).unwrap();
    assert_eq!(service.capacity_provider_strategy, spot);
}

#[tokio::test(start_paused = true)]
async fn code_deploy_and_external_services_are_refused_before_registering() {
    for controller in ["CODE_DEPLOY", "EXTERNAL"] {
        let env = staging();
        let sandbox = Sandbox::for_environment(&env, FaultScript::builtin("healthy").unwrap());
        sandbox
            .sim
            .set_deployment_controller(CLUSTER, SERVICE, controller);
        let (d, steps) = deploy(&env, &sandbox).await;
        assert_eq!(d.outcome, Outcome::Failed, "{d:?}");
        assert_eq!(d.failure_kind, Some(FailureKind::Config));
        assert!(
            reason(&d).contains(&format!("uses the {controller} deployment controller")),
            "{}",
            reason(&d)
        );
        assert_eq!(sandbox.sim.task_definition_revisions(FAMILY), vec![42]);
        assert!(
            !steps
                .iter()
                .any(|s| s == "register" || s == "update-service"),
            "{steps:?}"
        );
        assert!(running(&sandbox).ends_with(&format!("{FAMILY}:42")));
    }
}

#[tokio::test(start_paused = true)]
async fn the_gate_reads_every_target_group_and_never_passes_unread() {
    // The internal group's health cannot be read: a gate that looked at the first group only
    // would pass; this one cannot verify the new tasks, so the deploy fails and rolls back.
    let env = two_target_groups();
    let faults = FaultScript::from_yaml(&format!(
        "accessDenied:\n  - operation: DescribeTargetHealth\n    resource: {INTERNAL}\n"
    ))
    .unwrap();
    let sandbox = Sandbox::for_environment(&env, faults);
    let (d, _) = deploy(&env, &sandbox).await;
    assert_eq!(d.outcome, Outcome::Failed, "{d:?}");
    assert!(
        reason(&d).contains("elasticloadbalancing:DescribeTargetHealth")
            && reason(&d).contains(INTERNAL),
        "{}",
        reason(&d)
    );
}
