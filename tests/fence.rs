//! Fenced leases on the simulator: agent A holds the lease, then stops renewing it (a paused
//! process: its monotonic clock runs on, its renewals do not) while its deploy fails the gate;
//! the rollback it would start is refused — A changes nothing more — and B, which takes the
//! lease over, can act. The two-process version (SIGSTOP/SIGCONT on moto) is in
//! tests/lease_agents.rs.

use amagent::cloud::sim::FaultScript;
use amagent::config::{Environment, load_dir};
use amagent::executor::{self, Context, EnvRun};
use amagent::sandbox::Sandbox;
use amagent::stages::deploy::{Outcome, Silent};
use amagent::state::fence::{LeaseGuard, fenced};
use amagent::state::journal::LocalJournal;
use amagent::state::lease::{Lease, LeaseState};
use std::collections::BTreeMap;
use std::time::Duration;

const BUCKET: &str = "aussie-markets-staging-logs";
const TTL: Duration = Duration::from_secs(30);

fn staging() -> Environment {
    load_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .environments["staging"]
        .clone()
}

#[tokio::test(start_paused = true)]
async fn an_agent_past_its_lease_makes_no_further_change_not_even_a_rollback() {
    let env = staging();
    // The new image crashes 15 s after it starts: the gate fails at ~34 s, past A's window
    // (30 s TTL − 10 s margin) since its one and only renewal.
    let sandbox = Sandbox::for_environment(&env, FaultScript::builtin("crash").unwrap());
    sandbox.sim.add_bucket(BUCKET);
    let raw = sandbox.sim.cloud();
    let guard_a = LeaseGuard::new(TTL);
    let mut lease_a = Lease::new(raw.s3.clone(), BUCKET, "amagent/lease.json", "agent-a", TTL)
        .with_guard(guard_a.clone());
    assert!(matches!(
        lease_a.try_acquire(sandbox.clock.now()).await.unwrap(),
        LeaseState::Held { .. }
    ));
    let cloud_a = fenced(raw.clone(), guard_a.clone());
    let dir = tempfile::tempdir().unwrap();
    let journal = LocalJournal::new(dir.path());
    let ctx = Context::new(&cloud_a, &sandbox.clock, &journal, &Silent);
    let spec = env.service("api").unwrap();
    let plan = amagent::plan::manual_deploy(&env, spec, "v1.4.0");
    let image = sandbox.resolve_image(spec, "v1.4.0").unwrap();
    sandbox.sim.reset_calls();
    let report = executor::execute(
        &ctx,
        EnvRun {
            env: &env,
            plan: &plan,
            images: BTreeMap::from([("api".to_string(), image)]),
            commit: None,
            lifecycle_dry_run: false,
            resume_since: None,
        },
    )
    .await;
    let calls = sandbox.sim.calls();
    // One UpdateService (the deploy, inside the window); the rollback was never sent.
    assert_eq!(calls.get("UpdateService"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("BatchDeleteImage"), None, "{calls:?}");
    let deploy = &report.deploys[0];
    assert_eq!(deploy.outcome, Outcome::Failed);
    assert!(!deploy.rolled_back);
    let reason = deploy.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("may have lost the lease") && reason.contains("not even a rollback"),
        "{reason}"
    );
    assert!(guard_a.tripped());

    // B takes the lapsed lease over and may act; A stays fenced.
    tokio::time::sleep(TTL).await;
    let guard_b = LeaseGuard::new(TTL);
    let mut lease_b = Lease::new(raw.s3.clone(), BUCKET, "amagent/lease.json", "agent-b", TTL)
        .with_guard(guard_b.clone());
    assert!(matches!(
        lease_b.try_acquire(sandbox.clock.now()).await.unwrap(),
        LeaseState::Held { .. }
    ));
    assert!(guard_b.check("UpdateService").is_ok());
    assert!(guard_a.check("UpdateService").is_err());
    // A's renewal now finds B's lease: lost, and A stays fenced.
    assert!(lease_a.renew(sandbox.clock.now()).await.is_err());
    assert!(guard_a.check("UpdateService").is_err());
}

#[tokio::test(start_paused = true)]
async fn renewals_keep_the_fence_open_and_a_pause_closes_it() {
    let guard = LeaseGuard::new(TTL);
    assert!(guard.check("UpdateService").is_err(), "never held");
    guard.renewed(tokio::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(19)).await;
    assert!(guard.check("UpdateService").is_ok());
    assert!(!guard.tripped());
    // A pause: 2 s more with no renewal crosses TTL − margin (20 s).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let err = guard.check("UpdateService").unwrap_err().to_string();
    assert!(err.contains("UpdateService not made"), "{err}");
    assert!(guard.tripped());
    guard.renewed(tokio::time::Instant::now());
    assert!(guard.check("UpdateService").is_ok());
    guard.revoke();
    assert!(guard.check("UpdateService").is_err(), "lost or released");
}
