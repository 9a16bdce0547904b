//! Known-bad digests (issue 16 item 4): an image that failed the health gate is refused the
//! next time it is deployed to that service — with the reason and the ways out — until it is
//! allowed explicitly or unblocked. On the simulator, through the executor the agent uses.

use amagent::cloud::sim::FaultScript;
use amagent::config::{Environment, load_dir};
use amagent::executor::{self, Context, EnvReport, EnvRun};
use amagent::sandbox::{Sandbox, fake_digest};
use amagent::stages::deploy::{FailureKind, Outcome, Silent};
use amagent::state::journal::bad::unblock_record;
use amagent::state::journal::{Journal, LocalJournal};
use std::collections::BTreeMap;

fn staging() -> Environment {
    let model = load_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    model.environments["staging"].clone()
}

async fn deploy(ctx: &Context<'_>, sandbox: &Sandbox, env: &Environment, tag: &str) -> EnvReport {
    let spec = &env.services[0];
    let plan = amagent::plan::manual_deploy(env, spec, tag);
    let images = BTreeMap::from([(spec.name.clone(), sandbox.resolve_image(spec, tag).unwrap())]);
    let run = EnvRun {
        env,
        plan: &plan,
        images,
        commit: None,
        lifecycle_dry_run: false,
        resume_since: None,
    };
    executor::execute(ctx, run).await
}

#[tokio::test(start_paused = true)]
async fn a_digest_that_failed_the_gate_is_refused_until_allowed_or_unblocked() {
    let env = staging();
    let bad = fake_digest("aussie-markets/api:v1.4.0");
    let faults = FaultScript::from_yaml(&format!(
        "images:\n  - match: \"{bad}\"\n    crashAfterSeconds: 15\n"
    ))
    .unwrap();
    let sandbox = Sandbox::for_environment(&env, faults);
    let cloud = sandbox.sim.cloud();
    let dir = tempfile::tempdir().unwrap();
    let journal = LocalJournal::new(dir.path());
    let ctx = Context::new(&cloud, &sandbox.clock, &journal, &Silent);

    let first = deploy(&ctx, &sandbox, &env, "v1.4.0").await;
    assert_eq!(first.deploys[0].outcome, Outcome::Failed);
    assert!(first.deploys[0].rolled_back);

    // Again: refused before anything changes, saying why and how to go on.
    let running = sandbox
        .sim
        .running_task_definition(&env.ecs.cluster, &env.services[0].ecs.service);
    let second = deploy(&ctx, &sandbox, &env, "v1.4.0").await;
    let d = &second.deploys[0];
    assert_eq!(d.outcome, Outcome::Failed);
    assert_eq!(d.failure_kind, Some(FailureKind::Config));
    assert!(!d.rolled_back);
    let reason = d.reason.as_deref().unwrap();
    for part in [
        format!("{bad} is known bad for staging/api (failed the health gate:"),
        format!("run {}", first.run),
        "amagent deploy --allow-bad".to_string(),
        format!("amagent unblock --env staging --service api --digest {bad}"),
    ] {
        assert!(reason.contains(&part), "{part} not in {reason}");
    }
    assert_eq!(
        sandbox
            .sim
            .running_task_definition(&env.ecs.cluster, &env.services[0].ecs.service),
        running,
        "nothing changed"
    );

    // Allowed explicitly: it is attempted (and fails the gate again).
    let allowing = Context {
        allow_bad: true,
        ..Context::new(&cloud, &sandbox.clock, &journal, &Silent)
    };
    let third = deploy(&allowing, &sandbox, &env, "v1.4.0").await;
    assert_eq!(third.deploys[0].failure_kind, Some(FailureKind::Rollout));

    // Unblocked: attempted again without the flag; a good image was never blocked.
    journal
        .append(&unblock_record(
            "staging",
            "api",
            &bad,
            "alice",
            sandbox.clock.now(),
        ))
        .await
        .unwrap();
    let fourth = deploy(&ctx, &sandbox, &env, "v1.4.0").await;
    assert_eq!(fourth.deploys[0].failure_kind, Some(FailureKind::Rollout));
    let good = deploy(&ctx, &sandbox, &env, "v1.3.0").await;
    assert_eq!(
        good.deploys[0].outcome,
        Outcome::Succeeded,
        "{:?}",
        good.deploys[0]
    );
}
