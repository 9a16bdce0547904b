//! Soak time before promotion (issue 17 item 4): with `promotion.soakMinutes`, a tag waits
//! until staging has run its digests that long since verifying them — the status says when —
//! and the agent promotes it by itself when the time is up. On the simulator's virtual clock.

mod support;

use amagent::cloud::sim::FaultScript;
use amagent::report::Status;
use amagent::sandbox::Sandbox;
use std::sync::Arc;
use support::envrepo::{self, edit, git};
use support::statuses::Statuses;

#[tokio::test(start_paused = true)]
async fn a_tag_promotes_only_after_staging_ran_it_for_the_soak_time() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    envrepo::example(&repo, |text| {
        text.replace(
            "tagPattern: \"v*\"",
            "tagPattern: \"v*\"\n  soakMinutes: 30",
        )
    });
    let model = amagent::config::load_dir(&repo).unwrap();
    assert_eq!(
        model.environments["production"]
            .promotion
            .as_ref()
            .unwrap()
            .soak_minutes,
        Some(30)
    );
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, FaultScript::new(), amagent::sandbox::epoch());
    let journal = Arc::new(amagent::state::journal::LocalJournal::new(
        tmp.path().join("journal"),
    ));
    let mut agent = envrepo::sim_agent(&repo, tmp.path(), &sandbox, journal);
    let statuses = Arc::new(Statuses::default());
    agent.reporter = statuses.clone();
    agent.drift_interval = None;
    agent.tick().await.unwrap(); // adopt both environments

    edit(
        &repo,
        "environments/staging.yaml",
        "memory: 512 ",
        "memory: 1024 ",
        "Merge pull request #1",
    );
    let tick = agent.tick().await.unwrap();
    assert_eq!(tick.applied[0].env, "staging", "{tick:?}");
    assert!(
        tick.applied[0].deploys[0].outcome == amagent::stages::deploy::Outcome::Succeeded,
        "{tick:?}"
    );
    git(&repo, &["tag", "v1.0.0"]);

    let production = &model.environments["production"];
    let running = || {
        sandbox
            .sim
            .running_task_definition(&production.ecs.cluster, &production.services[0].ecs.service)
    };
    let before = running();
    tokio::time::advance(std::time::Duration::from_secs(10 * 60)).await;
    let tick = agent.tick().await.unwrap();
    assert!(
        tick.applied.is_empty(),
        "promoted before the soak was over: {tick:?}"
    );
    assert_eq!(running(), before);
    let said: Vec<_> = statuses
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(env, s, _)| env == "production" && *s == Status::Pending)
        .map(|(_, _, d)| d.clone())
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("v1.0.0 promotes at ") && said[0].ends_with("after 30 min in staging"),
        "{said:?}"
    );

    // Still soaking a minute before the end; promoted at the next look after it.
    tokio::time::advance(std::time::Duration::from_secs(19 * 60)).await;
    assert!(agent.tick().await.unwrap().applied.is_empty());
    tokio::time::advance(std::time::Duration::from_secs(2 * 60)).await;
    // The promotion goes ahead now. (Copying the digest into production's repository needs a
    // real registry — tests/images.rs and the demo cover that part — so it may stop there.)
    let tick = agent.tick().await.unwrap();
    let report = tick
        .applied
        .iter()
        .find(|r| r.env == "production")
        .expect("promoted when the soak is over");
    assert!(report.run.starts_with("production-"), "{report:?}");
}
