use super::*;

/// The repo's own worked example, as the base every rule is tested against.
fn example() -> Model {
    crate::config::example()
}

fn staging_api(model: &mut Model) -> &mut Service {
    &mut model.environments.get_mut("staging").unwrap().services[0]
}

fn stages(plan: &Plan, env: &str, service: &str) -> Vec<StageKind> {
    plan.environment(env)
        .and_then(|e| e.service(service))
        .map(|s| s.stage_kinds())
        .unwrap_or_default()
}

fn reason(plan: &Plan, env: &str, service: &str, stage: StageKind) -> String {
    plan.environment(env)
        .unwrap()
        .service(service)
        .unwrap()
        .stages
        .iter()
        .find(|s| s.stage == stage)
        .unwrap()
        .reason
        .clone()
}

use StageKind::*;

#[test]
fn no_change_no_plan() {
    let m = example();
    assert!(plan(&m, &m).is_empty());
}

#[test]
fn source_ref_bump_builds_deploys_and_applies_lifecycle() {
    let old = example();
    let mut new = old.clone();
    staging_api(&mut new).source.reference = "v1.3.1".into();
    let p = plan(&old, &new);
    assert_eq!(stages(&p, "staging", "api"), [Build, Deploy, Lifecycle]);
    assert_eq!(
        reason(&p, "staging", "api", Build),
        "source ref v1.3.0 → v1.3.1"
    );
    assert_eq!(reason(&p, "staging", "api", Deploy), "new image");
    assert_eq!(reason(&p, "staging", "api", Lifecycle), "after deploy");
    assert!(p.environment("production").is_none());
}

#[test]
fn major_bump_snapshots_under_major_policy() {
    let old = example();
    let mut new = old.clone();
    staging_api(&mut new).source.reference = "v2.0.0".into();
    let p = plan(&old, &new);
    assert_eq!(
        stages(&p, "staging", "api"),
        [Build, Snapshot, Deploy, Lifecycle]
    );
    assert_eq!(
        reason(&p, "staging", "api", Snapshot),
        "major version 1 → 2"
    );
}

#[test]
fn minor_bump_does_not_snapshot_under_major_policy() {
    let old = example();
    let mut new = old.clone();
    staging_api(&mut new).source.reference = "v1.9.0".into();
    assert!(!stages(&plan(&old, &new), "staging", "api").contains(&Snapshot));
}

#[test]
fn migrations_flag_snapshots_under_major_policy() {
    let mut old = example();
    staging_api(&mut old).migrations = true;
    let mut new = old.clone();
    staging_api(&mut new).source.reference = "v1.3.1".into();
    let p = plan(&old, &new);
    assert_eq!(
        reason(&p, "staging", "api", Snapshot),
        "service runs migrations"
    );
}

#[test]
fn commit_sha_refs_never_count_as_major() {
    let old = example();
    let mut new = old.clone();
    staging_api(&mut new).source.reference = "0123456789abcdef0123456789abcdef01234567".into();
    assert_eq!(
        stages(&plan(&old, &new), "staging", "api"),
        [Build, Deploy, Lifecycle]
    );
}

#[test]
fn always_policy_snapshots_every_deploy() {
    let old = example();
    let mut new = old.clone();
    new.environments.get_mut("production").unwrap().services[0].cpu = 2048;
    new.environments.get_mut("production").unwrap().services[0].memory = 4096;
    let p = plan(&old, &new);
    assert_eq!(
        stages(&p, "production", "api"),
        [Snapshot, Deploy, Lifecycle]
    );
    assert_eq!(
        reason(&p, "production", "api", Snapshot),
        "policy: before every deploy"
    );
    assert_eq!(
        reason(&p, "production", "api", Deploy),
        "cpu 1024 → 2048, memory 2048 → 4096"
    );
}

#[test]
fn never_policy_and_no_database_skip_snapshots() {
    let mut old = example();
    old.environments.get_mut("production").unwrap().database = None;
    let mut new = old.clone();
    new.environments.get_mut("production").unwrap().services[0].desired_count =
        crate::config::desired_count::DesiredCount::Tasks(3);
    assert_eq!(
        stages(&plan(&old, &new), "production", "api"),
        [Deploy, Lifecycle]
    );
}

#[test]
fn env_var_change_deploys_without_build_and_shows_the_value() {
    let old = example();
    let mut new = old.clone();
    staging_api(&mut new)
        .env
        .insert("FEATURE_FLAGS".into(), "fast-checkout".into());
    let p = plan(&old, &new);
    assert_eq!(stages(&p, "staging", "api"), [Deploy, Lifecycle]);
    let why = reason(&p, "staging", "api", Deploy);
    assert_eq!(why, "env.FEATURE_FLAGS = \"fast-checkout\"");

    // Changed and removed variables, each with what it was.
    let mut newer = new.clone();
    let api = staging_api(&mut newer);
    api.env
        .insert("FEATURE_FLAGS".into(), "slow-checkout".into());
    api.env.remove("NODE_ENV");
    let why = reason(&plan(&new, &newer), "staging", "api", Deploy);
    assert_eq!(
        why,
        "env.FEATURE_FLAGS \"fast-checkout\" → \"slow-checkout\", env.NODE_ENV removed"
    );
}

#[test]
fn secret_reference_change_deploys() {
    let old = example();
    let mut new = old.clone();
    staging_api(&mut new).secrets.insert(
        "STRIPE_KEY".into(),
        "/aussie-markets/staging/api/stripe-key".into(),
    );
    let p = plan(&old, &new);
    assert_eq!(
        reason(&p, "staging", "api", Deploy),
        "secrets.STRIPE_KEY = /aussie-markets/staging/api/stripe-key"
    );
}

#[test]
fn settings_changes_show_old_and_new_values() {
    let old = example();
    let mut new = old.clone();
    let api = staging_api(&mut new);
    api.deploy.bake_seconds = 300;
    api.desired_count = crate::config::desired_count::DesiredCount::Tasks(4);
    api.load_balancer.as_mut().unwrap().container_port = 8080;
    let why = reason(&plan(&old, &new), "staging", "api", Deploy);
    let old_api = &old.environments["staging"].services[0];
    let lb = old_api.load_balancer.as_ref().unwrap();
    assert_eq!(
        why,
        format!(
            "desired count {} → 4, load balancer {tg}:{} {path} → {tg}:8080 {path}, deploy.bakeSeconds {} → 300",
            old_api.desired_count,
            lb.container_port,
            old_api.deploy.bake_seconds,
            tg = lb.target_group,
            path = lb.health_check_path,
        )
    );
}

#[test]
fn a_second_target_group_and_a_grace_period_plan_a_deploy() {
    let old = example();
    let mut new = old.clone();
    let api = staging_api(&mut new);
    let public = api.load_balancer.take().unwrap();
    let mut internal = public.clone();
    internal.target_group = "internal".into();
    api.load_balancers = vec![public.clone(), internal];
    api.deploy.health_check_grace_period_seconds = Some(60);
    let why = reason(&plan(&old, &new), "staging", "api", Deploy);
    let one = format!(
        "{}:{} {}",
        public.target_group, public.container_port, public.health_check_path
    );
    // Long values are cut (at 64 characters), as for every other field.
    assert!(
        why.starts_with(&format!("load balancer {one} → {one}, internal:3000")),
        "{why}"
    );
    assert!(
        why.ends_with(", deploy.healthCheckGracePeriodSeconds unset → 60"),
        "{why}"
    );
}

#[test]
fn lifecycle_rule_change_alone_runs_only_lifecycle() {
    let old = example();
    let mut new = old.clone();
    new.environments
        .get_mut("staging")
        .unwrap()
        .ecr
        .lifecycle
        .keep_last_tagged = 15;
    let p = plan(&old, &new);
    assert_eq!(stages(&p, "staging", "api"), [Lifecycle]);
    assert_eq!(
        reason(&p, "staging", "api", Lifecycle),
        "lifecycle rules changed: keep last 10 → 15 tagged images"
    );
}

#[test]
fn pipeline_build_change_rebuilds() {
    let old = example();
    let mut new = old.clone();
    new.pipelines
        .get_mut("api")
        .unwrap()
        .build
        .args
        .insert("NODE_VERSION".into(), "22".into());
    let p = plan(&old, &new);
    assert_eq!(stages(&p, "staging", "api"), [Build, Deploy, Lifecycle]);
    // production receives staging's digests instead of building.
    assert_eq!(
        stages(&p, "production", "api"),
        [Snapshot, Deploy, Lifecycle]
    );
    assert_eq!(
        reason(&p, "production", "api", Deploy),
        "staging's verified image"
    );
    assert_eq!(
        reason(&p, "staging", "api", Build),
        "pipeline api build settings changed"
    );
}

#[test]
fn pipeline_stage_list_limits_stages() {
    let old = example();
    let mut new = old.clone();
    new.pipelines.get_mut("api").unwrap().stages = vec![Build, Deploy];
    staging_api(&mut new).source.reference = "v2.0.0".into();
    assert_eq!(stages(&plan(&old, &new), "staging", "api"), [Build, Deploy]);
}

#[test]
fn new_environment_deploys_everything() {
    let new = example();
    let p = plan(&Model::default(), &new);
    let staging = p.environment("staging").unwrap();
    assert_eq!(staging.change, Change::Added);
    assert_eq!(staging.trigger, Trigger::Merge);
    assert_eq!(stages(&p, "staging", "api"), [Build, Deploy, Lifecycle]);
    // production snapshots always, never builds, and is applied by tag, after staging.
    assert_eq!(
        stages(&p, "production", "api"),
        [Snapshot, Deploy, Lifecycle]
    );
    let order: Vec<&str> = p.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(order, ["staging", "production"]);
    assert_eq!(
        p.environment("production").unwrap().trigger,
        Trigger::Tag {
            pattern: "v*".into(),
            from: "staging".into()
        }
    );
}

#[test]
fn removed_service_is_reported_without_stages() {
    let old = example();
    let mut new = old.clone();
    new.environments
        .get_mut("staging")
        .unwrap()
        .services
        .clear();
    let p = plan(&old, &new);
    let s = p.environment("staging").unwrap().service("api").unwrap();
    assert_eq!(s.change, Change::Removed);
    assert!(s.stages.is_empty());
}

#[test]
fn removed_environment_is_reported() {
    let old = example();
    let mut new = old.clone();
    new.environments.remove("production");
    let p = plan(&old, &new);
    assert_eq!(p.environment("production").unwrap().change, Change::Removed);
}

#[test]
fn added_service_in_existing_environment() {
    let old = example();
    let mut new = old.clone();
    let mut worker = staging_api(&mut new).clone();
    worker.name = "worker".into();
    new.environments
        .get_mut("staging")
        .unwrap()
        .services
        .push(worker);
    let p = plan(&old, &new);
    let s = p.environment("staging").unwrap().service("worker").unwrap();
    assert_eq!(s.change, Change::Added);
    assert_eq!(s.stage_kinds(), [Build, Deploy, Lifecycle]);
    assert!(p.environment("staging").unwrap().service("api").is_none());
}

#[test]
fn moving_the_cluster_redeploys_every_service() {
    let old = example();
    let mut new = old.clone();
    new.environments.get_mut("staging").unwrap().ecs.cluster = "aussie-markets-staging-v2".into();
    let p = plan(&old, &new);
    assert_eq!(stages(&p, "staging", "api"), [Deploy, Lifecycle]);
    assert_eq!(
        reason(&p, "staging", "api", Deploy),
        "ECS cluster changed to aussie-markets-staging-v2"
    );
}

#[test]
fn moving_account_or_region_rebuilds_into_the_new_registry() {
    let old = example();
    let mut new = old.clone();
    new.environments.get_mut("staging").unwrap().aws.region = "us-west-2".into();
    let p = plan(&old, &new);
    assert_eq!(stages(&p, "staging", "api"), [Build, Deploy, Lifecycle]);
    assert_eq!(
        reason(&p, "staging", "api", Build),
        "environment moved to account 123456789012 in us-west-2"
    );
}

#[test]
fn new_image_repository_needs_a_build() {
    let old = example();
    let mut new = old.clone();
    staging_api(&mut new).image.repository = "aussie-markets/api-v2".into();
    let p = plan(&old, &new);
    assert_eq!(stages(&p, "staging", "api"), [Build, Deploy, Lifecycle]);
    assert_eq!(
        reason(&p, "staging", "api", Build),
        "image repository changed to aussie-markets/api-v2"
    );
}

#[test]
fn no_snapshot_without_a_deploy_stage() {
    let old = example();
    let mut new = old.clone();
    new.pipelines.get_mut("api").unwrap().stages = vec![Build, Snapshot];
    new.environments.get_mut("production").unwrap().services[0].cpu = 2048;
    new.environments.get_mut("production").unwrap().services[0].memory = 4096;
    assert!(stages(&plan(&old, &new), "production", "api").is_empty());
}

#[test]
fn promotion_chains_are_planned_in_order() {
    let old = Model::default();
    let mut new = example();
    let mut dr = new.environments["production"].clone();
    dr.name = "dr".into();
    dr.promotion.as_mut().unwrap().from = "production".into();
    new.environments.insert("dr".into(), dr);
    let p = plan(&old, &new);
    let order: Vec<&str> = p.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(order, ["staging", "production", "dr"]);
}

#[test]
fn watched_alarms_are_a_deploy_setting_and_say_which() {
    let old = example();
    let mut new = old.clone();
    staging_api(&mut new).deploy.alarms = vec!["api-5xx".into(), "api-p99".into()];
    let why = reason(&plan(&old, &new), "staging", "api", Deploy);
    assert_eq!(why, "deploy.alarms none → api-5xx, api-p99");
}
