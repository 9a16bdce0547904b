//! An agent that dies at any journalled step resumes from the journal and what it finds in AWS:
//! for each step in turn, agent A stops dead right after journalling that step's start (its
//! work is dropped mid-flight, as a killed process's would be), then agent B — same simulated
//! account, same journal — applies the commit again. It finishes the deploy without registering
//! the task definition or taking the snapshot a second time. (`tests/agent.rs` kills a real
//! process at a step and checks the PR comment carries on.)

mod support;

use amagent::cloud::sim::FaultScript;
use amagent::sandbox::Sandbox;
use amagent::stages::deploy::Outcome;
use amagent::state::journal::{Journal, JournalError, LocalJournal, Phase, Record};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;
use support::dying::DiesAt;
use support::envrepo;

/// The bundled example with staging snapshotting before every deploy.
fn example(dir: &Path) {
    envrepo::example(dir, |text| text.replace("policy: major", "policy: always"));
}

/// A merge that resizes staging's api: a new task definition, no build (the image is kept).
fn change_staging(dir: &Path) {
    envrepo::edit(
        dir,
        "environments/staging.yaml",
        "memory: 512 ",
        "memory: 1024 ",
        "Merge pull request #5 from team/bigger-api",
    );
}

async fn crash_then_resume(step: &'static str) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    example(&repo);
    let model = amagent::config::load_dir(&repo).unwrap();
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, FaultScript::new(), amagent::sandbox::epoch());
    let journal: Arc<dyn Journal> = Arc::new(LocalJournal::new(tmp.path().join("journal")));
    let dying = DiesAt::new(journal.clone(), step);
    let died = dying.died.clone();
    let agent =
        |journal: Arc<dyn Journal>| envrepo::sim_agent(&repo, tmp.path(), &sandbox, journal);
    let mut a = agent(dying.clone());
    a.tick().await.unwrap(); // adopts the first commit
    change_staging(&repo);
    dying.arm();
    tokio::select! {
        r = a.tick() => panic!("agent A should have died at `{step}`: {r:?}"),
        _ = died.notified() => {}
    }
    drop(a);
    let calls_before = sandbox.sim.calls();

    let mut b = agent(journal.clone());
    let tick = b.tick().await.unwrap();
    let report = tick
        .applied
        .iter()
        .find(|r| r.env == "staging")
        .unwrap_or_else(|| panic!("`{step}`: B applied nothing: {tick:?}"));
    assert_eq!(report.outcome, Outcome::Succeeded, "`{step}`: {report:?}");
    let calls = sandbox.sim.calls();
    let n = |op: &str| calls.get(op).copied().unwrap_or(0);
    assert_eq!(
        n("RegisterTaskDefinition"),
        1,
        "`{step}`: registered once across the crash (before: {calls_before:?})"
    );
    assert_eq!(
        n("CreateDBSnapshot"),
        1,
        "`{step}`: one snapshot across the crash"
    );
    // The service runs the new revision, with the new size.
    let running = report.deploys[0].task_definition.clone().unwrap();
    assert!(
        running.ends_with("aussie-markets-api-task:43"),
        "`{step}`: {running}"
    );
    // The journal shows the interrupted attempt and the finished one.
    let records = journal.read(Some("staging")).await.unwrap();
    let applies = records
        .iter()
        .filter(|r| r.step == "apply" && r.phase == Phase::Finished)
        .filter_map(|r| r.outcome.clone())
        .collect::<Vec<_>>();
    assert_eq!(applies, ["adopted", "succeeded"], "`{step}`");
}

#[tokio::test(start_paused = true)]
async fn dying_at_each_step_resumes_without_duplicates() {
    for step in [
        "apply",
        "run",
        "snapshot",
        "deploy",
        "register",
        "update-service",
        "lifecycle",
    ] {
        crash_then_resume(step).await;
    }
}

/// Refuses to record finished applies, as an S3 outage would.
struct LosesDecisions {
    inner: Arc<dyn Journal>,
}

#[async_trait]
impl Journal for LosesDecisions {
    async fn append(&self, record: &Record) -> Result<(), JournalError> {
        if record.step == "apply"
            && record.phase == Phase::Finished
            && record.outcome.as_deref() != Some("adopted")
        {
            return Err(JournalError::Io {
                path: "s3://aussie-markets-staging-logs/amagent/".into(),
                source: std::io::Error::other("503 Slow Down"),
            });
        }
        self.inner.append(record).await
    }

    async fn read(&self, env: Option<&str>) -> Result<Vec<Record>, JournalError> {
        self.inner.read(env).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_decision_the_journal_would_not_take_is_not_applied_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    example(&repo);
    let model = amagent::config::load_dir(&repo).unwrap();
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, FaultScript::new(), amagent::sandbox::epoch());
    let journal: Arc<dyn Journal> = Arc::new(LosesDecisions {
        inner: Arc::new(LocalJournal::new(tmp.path().join("journal"))),
    });
    let mut agent = envrepo::sim_agent(&repo, tmp.path(), &sandbox, journal);
    agent.tick().await.unwrap();
    change_staging(&repo);
    let first = agent.tick().await.unwrap();
    assert_eq!(first.applied.len(), 1);
    let second = agent.tick().await.unwrap();
    assert!(second.applied.is_empty(), "applied again: {second:?}");
    let n = sandbox
        .sim
        .calls()
        .get("UpdateService")
        .copied()
        .unwrap_or(0);
    assert_eq!(n, 1);
}
