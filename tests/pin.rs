//! The watcher respects a pin: after `amagent rollback`, a merge that plans the service again
//! without changing its spec (here: a pipeline change) leaves it on the rolled-back revision;
//! a merge that changes the service's spec deploys it and lifts the pin.

mod support;

use amagent::cloud::sim::FaultScript;
use amagent::sandbox::Sandbox;
use amagent::stages::deploy::{Outcome, Silent};
use amagent::state::journal::{Journal, LocalJournal};
use std::sync::Arc;
use support::envrepo::{self, edit};

#[tokio::test(start_paused = true)]
async fn a_pinned_service_is_held_until_its_spec_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    envrepo::example(&repo, str::to_string);
    let model = amagent::config::load_dir(&repo).unwrap();
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, FaultScript::new(), amagent::sandbox::epoch());
    let journal: Arc<dyn Journal> = Arc::new(LocalJournal::new(tmp.path().join("journal")));
    let mut agent = envrepo::sim_agent(&repo, tmp.path(), &sandbox, journal.clone());
    let running = |tick: &amagent::daemon::TickReport| {
        tick.applied
            .iter()
            .find(|r| r.env == "staging")
            .and_then(|r| r.deploys.first())
            .and_then(|d| d.task_definition.clone())
    };
    agent.tick().await.unwrap(); // adopt

    // Two verified configuration changes: revisions 43 and 44.
    edit(
        &repo,
        "environments/staging.yaml",
        "memory: 512 ",
        "memory: 1024 ",
        "Merge pull request #1",
    );
    let first = running(&agent.tick().await.unwrap()).unwrap();
    assert!(first.ends_with(":43"), "{first}");
    edit(
        &repo,
        "environments/staging.yaml",
        "memory: 1024 ",
        "memory: 2048 ",
        "Merge pull request #2",
    );
    assert!(
        running(&agent.tick().await.unwrap())
            .unwrap()
            .ends_with(":44")
    );

    // Roll back to 43: the service is pinned.
    let staging = model.environments["staging"].clone();
    let back = amagent::rollback::rollback(
        &amagent::rollback::Context {
            cloud: &agent.cloud,
            clock: &agent.clock,
            journal: &*journal,
            progress: &Silent,
            retry: Default::default(),
        },
        amagent::rollback::Request {
            env: &staging,
            services: vec!["api".into()],
            selector: amagent::rollback::Selector::Steps(1),
            actor: "ada".into(),
            reason: Some("errors after #2".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(back.outcome, Outcome::Succeeded);
    assert_eq!(back.services[0].running.as_deref(), Some(first.as_str()));
    let registered = || {
        sandbox
            .sim
            .calls()
            .get("RegisterTaskDefinition")
            .copied()
            .unwrap_or(0)
    };
    let updates = || {
        sandbox
            .sim
            .calls()
            .get("UpdateService")
            .copied()
            .unwrap_or(0)
    };
    let (registered_before, updates_before) = (registered(), updates());

    // A pipeline change plans the api again with an unchanged spec: held, nothing deployed
    // (not even built).
    edit(
        &repo,
        "pipelines/api.yaml",
        "NODE_VERSION: \"20\"",
        "NODE_VERSION: \"22\"",
        "Merge pull request #3",
    );
    let tick = agent.tick().await.unwrap();
    assert!(
        tick.applied.iter().all(|r| r.deploys.is_empty()),
        "the pinned api was deployed: {tick:?}"
    );
    assert_eq!(
        (registered(), updates()),
        (registered_before, updates_before)
    );
    let records = journal.read(Some("staging")).await.unwrap();
    assert!(
        records.iter().any(|r| r.step == "pinned"),
        "the hold is journalled"
    );

    // Git changes the api's spec: deployed, and the pin is lifted.
    edit(
        &repo,
        "environments/staging.yaml",
        "desiredCount: 1",
        "desiredCount: 2",
        "Merge pull request #4",
    );
    let tick = agent.tick().await.unwrap();
    let report = tick.applied.iter().find(|r| r.env == "staging").unwrap();
    assert_eq!(report.outcome, Outcome::Succeeded, "{report:?}");
    assert_eq!(report.deploys.len(), 1);
    assert!(updates() > updates_before);
}
