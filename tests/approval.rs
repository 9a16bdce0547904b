//! Production approval (issue 17 item 3): with `promotion.approval`, a tag waits — the agent
//! asks once on the pull requests it carries — until an approver comments `/amagent approve`
//! (a non-approver's comment changes nothing) or rejects it; a restarted agent keeps waiting;
//! an approval of one tag never promotes a newer one. The agent in process on the simulator.

mod support;

use amagent::cloud::sim::FaultScript;
use amagent::report::{ReportError, Reporter, Status};
use amagent::sandbox::Sandbox;
use std::sync::{Arc, Mutex};
use support::envrepo::{self, edit, git};

/// Records comments (by pull request and marker) and statuses; pull requests come from the
/// commit message, as GitHub's fallback does; approvers are the named logins (the default).
#[derive(Default)]
struct Recorder {
    comments: Mutex<Vec<(u64, String)>>,
    statuses: Mutex<Vec<(String, Status, String)>>,
}

#[async_trait::async_trait]
impl Reporter for Recorder {
    async fn pull_requests(&self, _: &str, message: &str) -> Vec<u64> {
        let n = message
            .strip_prefix("Merge pull request #")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        n.into_iter().collect()
    }
    async fn upsert_comment(&self, pr: u64, _: &str, body: &str) -> Result<(), ReportError> {
        self.comments.lock().unwrap().push((pr, body.into()));
        Ok(())
    }
    async fn commit_status(
        &self,
        _: &str,
        env: &str,
        state: Status,
        description: &str,
    ) -> Result<(), ReportError> {
        let mut all = self.statuses.lock().unwrap();
        all.push((env.into(), state, description.into()));
        Ok(())
    }
}

impl Recorder {
    fn said(&self, pr: u64, what: &str) -> usize {
        let all = self.comments.lock().unwrap();
        all.iter()
            .filter(|(p, b)| *p == pr && b.contains(what))
            .count()
    }
}

#[tokio::test(start_paused = true)]
async fn a_tag_waits_for_an_approver_and_only_that_tag_is_approved() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    let receiver = support::receiver::Receiver::start();
    let notify = format!(
        "\nnotify:\n  - webhook:\n      url: {}/approvals\n    events: [awaiting_approval]",
        receiver.url
    );
    envrepo::example(&repo, |text| {
        text.replace(
            "tagPattern: \"v*\"",
            &format!("tagPattern: \"v*\"\n  approval:\n    approvers: [ada]{notify}"),
        )
    });
    let model = amagent::config::load_dir(&repo).unwrap();
    let approval = model.environments["production"]
        .promotion
        .as_ref()
        .unwrap()
        .approval
        .clone();
    assert_eq!(approval.unwrap().approvers, ["ada"]);
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, FaultScript::new(), amagent::sandbox::epoch());
    let journal = Arc::new(amagent::state::journal::LocalJournal::new(
        tmp.path().join("journal"),
    ));
    let recorder = Arc::new(Recorder::default());
    let agent_on = || {
        let mut a = envrepo::sim_agent(&repo, tmp.path(), &sandbox, journal.clone());
        a.reporter = recorder.clone();
        a.drift_interval = None;
        a
    };
    let mut agent = agent_on();
    agent.tick().await.unwrap(); // adopt both environments
    edit(
        &repo,
        "environments/staging.yaml",
        "memory: 512 ",
        "memory: 1024 ",
        "Merge pull request #1 from team/memory",
    );
    let tick = agent.tick().await.unwrap();
    assert_eq!(tick.applied[0].env, "staging", "{tick:?}");
    git(&repo, &["tag", "v1.0.0"]);

    // Asked once, on the pull request the promotion carries; nothing promoted.
    let promoted =
        |tick: &amagent::daemon::TickReport| tick.applied.iter().any(|r| r.env == "production");
    assert!(!promoted(&agent.tick().await.unwrap()));
    assert!(!promoted(&agent.tick().await.unwrap()));
    assert_eq!(recorder.said(1, "`v1.0.0` awaits approval"), 1);
    // And told once to the environment's notification targets.
    assert!(
        agent
            .notifier()
            .wait_idle(std::time::Duration::from_secs(30))
    );
    let told: Vec<serde_json::Value> = receiver.to("/approvals").iter().map(|r| r.json()).collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["event"], "awaiting_approval");
    assert_eq!(told[0]["environment"], "production");
    assert_eq!(told[0]["pull_requests"], serde_json::json!([1]));
    assert!(recorder.said(1, "An approver (ada) comments `/amagent approve`") == 1);
    let pending = recorder.statuses.lock().unwrap().iter().any(|(e, s, d)| {
        e == "production" && *s == Status::Pending && d == "v1.0.0 awaits approval"
    });
    assert!(pending);

    // Someone else says yes: refused, nothing changes.
    agent.on_command(1, "mallory", "/amagent approve").await;
    assert_eq!(
        recorder.said(
            1,
            "@mallory is not an approver of `v1.0.0` (approvers: ada)"
        ),
        1
    );
    assert!(!promoted(&agent.tick().await.unwrap()));

    // A restarted agent keeps waiting, and does not ask again.
    let mut agent = agent_on();
    assert!(!promoted(&agent.tick().await.unwrap()));
    assert_eq!(recorder.said(1, "awaits approval"), 1);

    // The approver: approved, and the next look promotes.
    agent.on_command(1, "ada", "/amagent approve").await;
    assert_eq!(recorder.said(1, "`v1.0.0` approved by @ada"), 1);
    let tick = agent.tick().await.unwrap();
    assert!(promoted(&tick), "{tick:?}");

    // A newer tag is asked about afresh: v1.0.0's approval is not its own.
    edit(
        &repo,
        "environments/staging.yaml",
        "memory: 1024 ",
        "memory: 2048 ",
        "Merge pull request #2 from team/more",
    );
    agent.tick().await.unwrap();
    git(&repo, &["tag", "v1.1.0"]);
    assert!(!promoted(&agent.tick().await.unwrap()));
    assert_eq!(recorder.said(2, "`v1.1.0` awaits approval"), 1);

    // Rejected: refused for good, said on the tag.
    agent
        .on_command(2, "ada", "/amagent reject error budget spent")
        .await;
    assert_eq!(recorder.said(2, "`v1.1.0` rejected by @ada"), 1);
    let _ = agent.tick().await;
    assert!(!promoted(&agent.tick().await.unwrap_or_default()));
    let refused = recorder.statuses.lock().unwrap().iter().any(|(e, s, d)| {
        e == "production"
            && *s == Status::Failure
            && d.contains("rejected by ada: error budget spent")
    });
    assert!(refused, "{:?}", recorder.statuses.lock().unwrap());
}

fn amagent_approve(journal: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args([
            "--output",
            "json",
            "approve",
            "--env",
            "production",
            "--actor",
            "ada",
        ])
        .args(extra)
        .arg("--dir")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .env("AMAGENT_JOURNAL", journal)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `amagent approve` from a terminal: journalled for that tag; once decided, decided; a tag
/// the promotion would never take is a usage error.
#[test]
fn approve_from_a_terminal_is_journalled_once_per_tag() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = amagent_approve(dir.path(), &["--tag", "v2.0.0"]);
    assert_eq!(code, Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (doc["decision"].as_str(), doc["by"].as_str()),
        (Some("approved"), Some("ada"))
    );
    let journal = std::fs::read_to_string(dir.path().join("production.jsonl")).unwrap();
    assert!(
        journal.contains("\"step\":\"approval\"") && journal.contains("\"approved\""),
        "{journal}"
    );
    // Errors are the one JSON document too.
    let (code, err, _) = amagent_approve(dir.path(), &["--tag", "v2.0.0", "--reject"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("already decided"), "{err}");
    let (code, err, _) = amagent_approve(dir.path(), &["--tag", "release-7"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("does not match production's tagPattern v*"),
        "{err}"
    );
}
