//! Secrets Manager references on the simulator: a deploy whose spec names an existing secret
//! (with a JSON key) registers it as `valueFrom` unchanged and verifies; a missing secret, or a
//! missing version the reference pins, stops the deploy in preflight before anything in the
//! account changes. No value is ever read (the simulator has none).

use amagent::cloud::sim::FaultScript;
use amagent::config::{Environment, load_dir};
use amagent::executor::{self, Context, EnvReport, EnvRun};
use amagent::sandbox::Sandbox;
use amagent::stages::deploy::{FailureKind, Outcome, Silent};
use amagent::state::journal::LocalJournal;
use std::collections::BTreeMap;

const SECRET: &str = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:aussie-markets/staging/stripe-AbCdEf";

/// Staging with `STRIPE_KEY` read from Secrets Manager through `reference`.
fn staging(reference: &str) -> Environment {
    let mut env = load_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .environments["staging"]
        .clone();
    env.services[0]
        .secrets
        .insert("STRIPE_KEY".into(), reference.into());
    env
}

/// The account shaped like `shaped_like`, then `change` applied to it; deploys `deployed`.
async fn deploy(
    shaped_like: &Environment,
    deployed: &Environment,
    change: impl FnOnce(&Sandbox),
) -> (EnvReport, BTreeMap<String, u64>, Sandbox) {
    let sandbox = Sandbox::for_environment(shaped_like, FaultScript::builtin("healthy").unwrap());
    change(&sandbox);
    let cloud = sandbox.sim.cloud();
    let dir = tempfile::tempdir().unwrap();
    let journal = LocalJournal::new(dir.path());
    let ctx = Context::new(&cloud, &sandbox.clock, &journal, &Silent);
    let spec = deployed.service("api").unwrap();
    let plan = amagent::plan::manual_deploy(deployed, spec, "v1.4.0");
    let image = sandbox.resolve_image(spec, "v1.4.0").unwrap();
    sandbox.sim.reset_calls();
    let report = executor::execute(
        &ctx,
        EnvRun {
            env: deployed,
            plan: &plan,
            images: BTreeMap::from([("api".to_string(), image)]),
            commit: None,
            lifecycle_dry_run: false,
            resume_since: None,
        },
    )
    .await;
    let calls = sandbox.sim.calls();
    (report, calls, sandbox)
}

fn changed_nothing(calls: &BTreeMap<String, u64>) {
    for mutating in [
        "RegisterTaskDefinition",
        "UpdateService",
        "CreateDBSnapshot",
        "BatchDeleteImage",
    ] {
        assert_eq!(calls.get(mutating), None, "{mutating} called: {calls:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_existing_secret_is_passed_to_ecs_unchanged() {
    let reference = format!("{SECRET}:api_key::");
    let env = staging(&reference);
    let (report, calls, sandbox) = deploy(&env, &env, |_| {}).await;
    let d = &report.deploys[0];
    assert_eq!(d.outcome, Outcome::Succeeded, "{:?}", d.reason);
    assert_eq!(calls.get("DescribeSecret"), Some(&1), "{calls:?}");
    let td = sandbox
        .sim
        .cloud()
        .ecs
        .describe_task_definition(d.new_task_definition.as_ref().unwrap())
        .await
        .unwrap();
    let secrets = &td.container("api").unwrap().secrets;
    let stripe = secrets.iter().find(|s| s.name == "STRIPE_KEY").unwrap();
    assert_eq!(stripe.value_from, reference);
    // The SSM ones still become ARNs.
    assert!(
        secrets
            .iter()
            .any(|s| s.value_from.starts_with("arn:aws:ssm:"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_secret_blocks_the_deploy_before_anything_changes() {
    let env = staging(SECRET);
    let (report, calls, _) = deploy(&env, &env, |s| s.sim.remove_secret(SECRET)).await;
    let d = &report.deploys[0];
    assert_eq!(d.outcome, Outcome::Failed);
    assert_eq!(d.failure_kind, Some(FailureKind::Config));
    let reason = d.reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("Secrets Manager secret(s) missing: {SECRET}")),
        "{reason}"
    );
    assert!(reason.contains("environments/staging.yaml"), "{reason}");
    changed_nothing(&calls);
}

#[tokio::test(start_paused = true)]
async fn a_missing_version_stage_blocks_it_too() {
    // The account has the secret (AWSCURRENT only); the spec pins a stage it does not have.
    let pinned = staging(&format!("{SECRET}:api_key:BLUE:"));
    let (report, calls, _) = deploy(&staging(SECRET), &pinned, |_| {}).await;
    let d = &report.deploys[0];
    assert_eq!(d.outcome, Outcome::Failed);
    let reason = d.reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("version stage BLUE of {SECRET}")),
        "{reason}"
    );
    changed_nothing(&calls);
}

// ---------------------------------------------------------------- on the wire (moto)

mod support;

use amagent::cloud::retry::RetryPolicy;
use amagent::executor::secrets::missing_secrets;

#[tokio::test]
async fn describe_secret_and_preflight_on_moto() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    let cloud = aws.cloud();
    let client = aws_sdk_secretsmanager::Client::new(aws.sdk_config());
    let created = client
        .create_secret()
        .name("aussie-markets/staging/stripe")
        .secret_string(r#"{"api_key":"never-read"}"#)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_string();
    let current = created.version_id().unwrap().to_string();

    let found = cloud.ssm.describe_secret(&arn).await.unwrap().unwrap();
    assert_eq!(found.arn, arn);
    assert_eq!(found.versions[&current], ["AWSCURRENT"]);
    assert!(!format!("{found:?}").contains("never-read"));
    let gone = arn.replace("stripe", "sentry");
    assert_eq!(cloud.ssm.describe_secret(&gone).await.unwrap(), None);

    let secrets = BTreeMap::from([
        ("STRIPE_KEY".to_string(), format!("{arn}:api_key::")),
        (
            "STRIPE_OLD".to_string(),
            format!("{arn}:api_key::{current}"),
        ),
        ("SENTRY_DSN".to_string(), gone.clone()),
        ("BLUE_KEY".to_string(), format!("{arn}:api_key:BLUE:")),
        (
            "DATABASE_URL".to_string(),
            "/aussie-markets/staging/api/database-url".to_string(),
        ),
    ]);
    let missing = missing_secrets(&cloud, &RetryPolicy::default(), &secrets)
        .await
        .unwrap();
    assert_eq!(
        missing.parameters,
        ["/aussie-markets/staging/api/database-url"]
    );
    assert_eq!(
        missing.secrets,
        [format!("version stage BLUE of {arn}"), gone]
    );
}
