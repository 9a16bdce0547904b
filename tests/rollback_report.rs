//! A manual rollback that fails is told on the pull request like one that succeeds: a comment
//! (who, why, what was tried, what runs now) and the environment's commit status set to
//! failure. The rollback runs on the simulator through the library (it needs two deploys in
//! one simulated world; a CLI invocation starts a fresh one); the telling goes to the fake
//! GitHub over HTTP, which records every REST call.

mod support;

use amagent::cloud::retry::RetryPolicy;
use amagent::cloud::sim::FaultScript;
use amagent::config::{Environment, load_dir};
use amagent::executor::{self, EnvRun};
use amagent::report::github::GitHub;
use amagent::rollback::{self, Selector};
use amagent::sandbox::Sandbox;
use amagent::secret::Secret;
use amagent::stages::deploy::{Outcome, Silent};
use amagent::state::journal::{Journal, LocalJournal, Phase, Record};
use std::collections::BTreeMap;
use std::path::Path;
use support::github::FakeGitHub;

fn staging() -> Environment {
    load_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .environments["staging"]
        .clone()
}

async fn deploy(
    env: &Environment,
    sandbox: &Sandbox,
    journal: &LocalJournal,
    tag: &str,
    commit: &str,
) {
    let cloud = sandbox.sim.cloud();
    let ctx = executor::Context::new(&cloud, &sandbox.clock, journal, &Silent);
    let spec = &env.services[0];
    let image = sandbox.resolve_image(spec, tag).unwrap();
    let plan = amagent::plan::manual_deploy(env, spec, tag);
    let run = EnvRun {
        env,
        plan: &plan,
        images: BTreeMap::from([(spec.name.clone(), image)]),
        commit: Some(commit.to_string()),
        lifecycle_dry_run: true,
        resume_since: None,
    };
    assert_eq!(
        executor::execute(&ctx, run).await.outcome,
        Outcome::Succeeded
    );
}

/// The `apply` record the agent writes before it deploys a merge: the commit and its PRs.
fn applied(commit: &str, pr: u64) -> Record {
    Record {
        at: chrono::Utc::now(),
        run: format!("staging-apply-{commit}"),
        env: "staging".into(),
        service: None,
        step: "apply".into(),
        phase: Phase::Started,
        outcome: None,
        detail: serde_json::json!({ "commit": commit, "pull_requests": [pr] }),
    }
}

#[test]
fn a_failed_rollback_comments_on_the_pull_request_and_sets_the_status_to_failure() {
    let env = staging();
    // The two deploys' UpdateService calls go through; every later one (the rollback's) is
    // throttled for good, so the rollback fails and the service stays where it was.
    let faults = FaultScript::new().throttle("UpdateService", 2, 1_000_000);
    let sandbox = Sandbox::for_environment(&env, faults);
    let dir = tempfile::tempdir().unwrap();
    let journal = LocalJournal::new(dir.path());
    let simulated = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let report = simulated.block_on(async {
        journal.append(&applied("aaaaaaa1", 21)).await.unwrap();
        deploy(&env, &sandbox, &journal, "v1.4.0", "aaaaaaa1").await;
        journal.append(&applied("bbbbbbb2", 22)).await.unwrap();
        deploy(&env, &sandbox, &journal, "v1.5.0", "bbbbbbb2").await;
        let cloud = sandbox.sim.cloud();
        let ctx = rollback::Context {
            cloud: &cloud,
            clock: &sandbox.clock,
            journal: &journal,
            progress: &Silent,
            retry: RetryPolicy::default(),
        };
        let request = rollback::Request {
            env: &env,
            services: vec!["api".into()],
            selector: Selector::Steps(1),
            actor: "alice".into(),
            reason: Some("500s on /orders".into()),
        };
        rollback::rollback(&ctx, request).await.unwrap()
    });
    assert_eq!(report.outcome, Outcome::Failed, "{report:#?}");
    let records = simulated.block_on(journal.read(Some("staging"))).unwrap();

    let fake = FakeGitHub::start();
    // octocrab needs a (real-time) runtime when it is built.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let github = GitHub::from_token(&fake.url, "o", "r", Secret::new("ghp_rollback_test"))
                .unwrap()
                .with_retry_base(std::time::Duration::from_millis(1));
            rollback::tell::tell(&github, &report, &records).await;
        });

    // Exactly: find the comment, create it on the PR whose change was running, set the status.
    assert_eq!(
        fake.requests(),
        [
            "GET /repos/o/r/issues/22/comments",
            "POST /repos/o/r/issues/22/comments",
            "POST /repos/o/r/statuses/bbbbbbb2",
        ]
    );
    let comments = fake.comments();
    let body = &comments[0].body;
    assert!(
        body.contains(&format!("<!-- amagent:rollback={} -->", report.run)),
        "{body}"
    );
    assert!(
        body.contains("**staging**: rollback attempted, and it failed by alice"),
        "{body}"
    );
    assert!(body.contains("Why: 500s on /orders"), "{body}");
    // What was tried, and what runs now.
    assert!(
        body.contains("| api | `aussie-markets-api-task:44` | `aussie-markets-api-task:43` | ❌"),
        "{body}"
    );
    assert!(
        body.contains("- **api**: `aussie-markets-api-task:44`"),
        "{body}"
    );
    assert!(
        !body.contains("will not deploy this change again"),
        "{body}"
    );
    let status = &fake.statuses()[0];
    assert_eq!(status.state, "failure");
    assert_eq!(status.context, "amagent/staging");
    assert!(
        status.description.contains("rollback by alice failed")
            && status
                .description
                .contains("runs aussie-markets-api-task:44"),
        "{status:?}"
    );
}
