//! The service shapes in the spec: `loadBalancers` and `deploy.healthCheckGracePeriodSeconds`
//! written in YAML load and validate; `doctor` checks every listed target group and refuses a
//! deployment controller other than ECS (on the simulator).

use amagent::cloud::sim::{FaultScript, TargetGroupSpec};
use amagent::config::{Environment, SourceFile, load_sources, read_dir_sources};
use amagent::doctor::{SpecLocator, examine};
use amagent::sandbox::Sandbox;
use std::path::Path;

const STAGING: &str = "environments/staging.yaml";
const ONE_GROUP: &str = "    loadBalancer:
      targetGroup: aussie-markets-api-staging
      containerPort: 3000
      healthCheckPath: /api/v1/health
";
const TWO_GROUPS: &str = "    loadBalancers:
      - targetGroup: aussie-markets-api-staging
        containerPort: 3000
        healthCheckPath: /api/v1/health
      - targetGroup: aussie-markets-api-internal
        containerPort: 3000
        healthCheckPath: /internal/health
";

/// The worked example with staging's api in two target groups and a 90 s grace period.
fn shaped_staging() -> (String, Environment) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = read_dir_sources(root).unwrap();
    let file = files.iter_mut().find(|f| f.path == STAGING).unwrap();
    assert!(file.text.contains(ONE_GROUP));
    file.text = file.text.replace(ONE_GROUP, TWO_GROUPS).replace(
        "      autoRollback: true\n",
        "      autoRollback: true\n      healthCheckGracePeriodSeconds: 90\n",
    );
    let text = file.text.clone();
    let files: Vec<SourceFile> = files;
    let model = load_sources(&files).unwrap_or_else(|d| panic!("{d}"));
    (text, model.environments["staging"].clone())
}

#[test]
fn load_balancers_and_the_grace_period_load_from_yaml() {
    let (_, env) = shaped_staging();
    let api = &env.services[0];
    assert_eq!(api.load_balancer, None);
    let groups: Vec<&str> = api
        .target_groups()
        .iter()
        .map(|lb| lb.target_group.as_str())
        .collect();
    assert_eq!(
        groups,
        ["aussie-markets-api-staging", "aussie-markets-api-internal"]
    );
    assert_eq!(api.deploy.health_check_grace_period_seconds, Some(90));
}

#[tokio::test(start_paused = true)]
async fn doctor_checks_every_target_group_and_the_deployment_controller() {
    let (text, env) = shaped_staging();
    // The account runs the service in its public group only; the internal group exists.
    let mut one = env.clone();
    let first = one.services[0].load_balancers.remove(0);
    one.services[0].load_balancers.clear();
    one.services[0].load_balancer = Some(first);
    let sandbox = Sandbox::for_environment(&one, FaultScript::builtin("healthy").unwrap());
    sandbox.sim.add_target_group(TargetGroupSpec::new(
        "aussie-markets-api-internal",
        3000,
        "/internal/health",
    ));
    let cloud = sandbox.sim.cloud();
    let spec = SpecLocator::new(STAGING, &text);
    let checks = examine(&cloud, &env, &spec).await;
    let internal: Vec<_> = checks
        .iter()
        .filter(|c| c.subject == "aussie-markets-api-internal")
        .collect();
    assert!(
        internal.iter().any(|c| c.check == "target group" && c.ok),
        "{checks:#?}"
    );
    let unregistered = internal
        .iter()
        .find(|c| c.check == "service load balancer")
        .unwrap_or_else(|| panic!("{checks:#?}"));
    assert!(!unregistered.ok);
    let fix = unregistered.fix.as_deref().unwrap();
    assert!(
        fix.contains("(services[0].loadBalancers[1].targetGroup)"),
        "{fix}"
    );
    // The public group passes.
    assert!(
        checks
            .iter()
            .filter(|c| c.subject == "aussie-markets-api-staging")
            .all(|c| c.ok),
        "{checks:#?}"
    );

    sandbox.sim.set_deployment_controller(
        &env.ecs.cluster,
        &env.services[0].ecs.service,
        "EXTERNAL",
    );
    let checks = examine(&cloud, &env, &spec).await;
    let controller = checks
        .iter()
        .find(|c| c.check == "deployment controller")
        .unwrap();
    assert!(!controller.ok);
    assert!(
        controller.detail.starts_with("EXTERNAL"),
        "{}",
        controller.detail
    );
}
