//! One active agent per environments repo, with two real `amagent run` processes sharing an S3
//! journal on moto: the first takes the lease and acts; the second stands by; when the first is
//! killed (SIGKILL: no release), the second takes over once the lease lapses. And fencing: a
//! holder paused (SIGSTOP) mid-rollout past its TTL, while the other takes over and re-applies,
//! makes no further change when it resumes — not even a rollback.

mod support;

use amagent::cloud::ObjectStore;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUCKET: &str = "aussie-markets-staging-logs";

fn agent(name: &str, repo: &Path, endpoint: &str, logs: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_amagent"))
        .current_dir(logs)
        .args(["-v", "run", "--repo", repo.to_str().unwrap()])
        .args(["--journal", &format!("s3://{BUCKET}/amagent/")])
        .args(["--poll-interval", "1", "--lease-ttl", "3"])
        .env("HOSTNAME", name)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "ap-southeast-2")
        .env(
            "AMAGENT_CACHE",
            repo.parent().unwrap().join(format!("cache-{name}")),
        )
        .env_remove("GITHUB_TOKEN")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(logs.join(format!("{name}.log"))).unwrap())
        .spawn()
        .unwrap()
}

async fn holder(s3: &Arc<dyn ObjectStore>) -> Option<String> {
    let object = s3.get(BUCKET, "amagent/lease.json").await.ok()??;
    let v: serde_json::Value = serde_json::from_slice(&object.body).ok()?;
    v["holder"].as_str().map(String::from)
}

async fn eventually(what: &str, s3: &Arc<dyn ObjectStore>, want: impl Fn(Option<String>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if want(holder(s3).await) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_agent_processes_one_lease_and_a_takeover_after_a_kill() {
    let (_guard, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    support::create_bucket(&aws, BUCKET).await;
    let s3 = aws.cloud().s3;
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    support::envrepo::example(&repo, str::to_string);

    let mut a = agent("agent-a", &repo, &endpoint, tmp.path());
    eventually("agent-a holds the lease", &s3, |h| {
        h.is_some_and(|h| h.starts_with("agent-a-"))
    })
    .await;
    let mut b = agent("agent-b", &repo, &endpoint, tmp.path());
    // Several poll intervals and lease renewals: b stays a standby while a renews.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(holder(&s3).await.unwrap().starts_with("agent-a-"));
    let log_b = std::fs::read_to_string(tmp.path().join("agent-b.log")).unwrap();
    assert!(
        log_b.contains("standby: another agent holds the lease"),
        "{log_b}"
    );
    assert!(!log_b.contains("holding the lease"), "{log_b}");
    // Only the active agent acted: one adoption in the shared journal.
    let keys = s3.list(BUCKET, "amagent/journal/staging/").await.unwrap();
    assert_eq!(
        keys.iter().filter(|k| k.contains("adopt")).count(),
        1,
        "{keys:?}"
    );

    a.kill().unwrap(); // SIGKILL: the lease is not released
    a.wait().unwrap();
    eventually("agent-b takes over after the TTL", &s3, |h| {
        h.is_some_and(|h| h.starts_with("agent-b-"))
    })
    .await;
    let log_b = std::fs::read_to_string(tmp.path().join("agent-b.log")).unwrap();
    assert!(log_b.contains("holding the lease"), "{log_b}");
    // b found a's adoption in the journal: nothing to redo.
    let keys = s3.list(BUCKET, "amagent/journal/staging/").await.unwrap();
    assert_eq!(
        keys.iter().filter(|k| k.contains("adopt")).count(),
        1,
        "{keys:?}"
    );
    b.kill().unwrap();
    b.wait().unwrap();
}

/// A child process killed when the test ends, also when it fails (a stopped agent would
/// otherwise outlive it).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

async fn staging_records(s3: &Arc<dyn ObjectStore>) -> Vec<amagent::state::journal::Record> {
    use amagent::state::journal::{Journal, S3Journal};
    S3Journal::new(s3.clone(), BUCKET, "amagent/")
        .read(Some("staging"))
        .await
        .unwrap()
}

/// Waits (up to 3 minutes) until the staging journal satisfies `want`.
async fn journal_until(
    what: &str,
    s3: &Arc<dyn ObjectStore>,
    want: impl Fn(&[amagent::state::journal::Record]) -> bool,
) -> Vec<amagent::state::journal::Record> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let records = staging_records(s3).await;
        if want(&records) {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}\n{records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn succeeded(r: &amagent::state::journal::Record, steps: &[&str]) -> bool {
    steps.contains(&r.step.as_str())
        && r.phase == amagent::state::journal::Phase::Finished
        && r.outcome.as_deref() == Some("succeeded")
}

#[tokio::test]
async fn a_holder_paused_past_its_lease_makes_no_change_when_it_resumes() {
    let (_guard, endpoint) = support::moto::fresh().await;
    let aws = support::seed_staging(&endpoint).await;
    support::create_bucket(&aws, BUCKET).await;
    let s3 = aws.cloud().s3;
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    // Short gates: moto never reports tasks healthy, so every rollout times out and rolls back.
    support::envrepo::example(&repo, |t| {
        t.replace("bakeSeconds: 120", "bakeSeconds: 1")
            .replace("timeoutSeconds: 900", "timeoutSeconds: 20")
    });
    // An earlier verified deploy of what runs: the rollback target a failed gate goes back to.
    let running = aws
        .cloud()
        .ecs
        .describe_task_definition("aussie-markets-api-task")
        .await
        .unwrap()
        .arn;
    {
        use amagent::state::journal::{Journal, Phase, Record, S3Journal};
        let verified = Record {
            at: chrono::Utc::now() - chrono::Duration::hours(1),
            run: "staging-earlier".into(),
            env: "staging".into(),
            service: Some("api".into()),
            step: "deploy".into(),
            phase: Phase::Finished,
            outcome: Some("succeeded".into()),
            detail: serde_json::json!({ "task_definition": running }),
        };
        S3Journal::new(s3.clone(), BUCKET, "amagent/")
            .append(&verified)
            .await
            .unwrap();
    }
    let a = Killed(agent("agent-a", &repo, &endpoint, tmp.path()));
    journal_until("agent-a adopts", &s3, |r| {
        r.iter().any(|r| r.run.contains("adopt"))
    })
    .await;
    support::envrepo::edit(
        &repo,
        "environments/staging.yaml",
        "NODE_ENV: staging",
        "NODE_ENV: staging-v2",
        "api: NODE_ENV",
    );
    // A's rollout is in flight: its UpdateService went through, the gate is waiting.
    let records = journal_until("agent-a's UpdateService", &s3, |r| {
        r.iter().any(|r| succeeded(r, &["update-service"]))
    })
    .await;
    signal(&a.0, "-STOP");
    let a_run = records
        .iter()
        .find(|r| succeeded(r, &["update-service"]))
        .unwrap()
        .run
        .clone();
    let _b = Killed(agent("agent-b", &repo, &endpoint, tmp.path()));
    eventually("agent-b takes over the lapsed lease", &s3, |h| {
        h.is_some_and(|h| h.starts_with("agent-b-"))
    })
    .await;
    // B re-applies the commit A never finished: its own UpdateService.
    journal_until("agent-b's UpdateService", &s3, |r| {
        r.iter()
            .any(|r| r.run != a_run && succeeded(r, &["update-service"]))
    })
    .await;
    signal(&a.0, "-CONT");
    // A resumes: its gate times out, and the rollback it would start is refused unsent.
    let records = journal_until("agent-a's verdict and agent-b's", &s3, |r| {
        let a_done = r.iter().any(|r| {
            r.run == a_run
                && r.step == "deploy"
                && r.phase == amagent::state::journal::Phase::Finished
        });
        let applies = r
            .iter()
            .filter(|r| r.step == "apply" && r.phase == amagent::state::journal::Phase::Finished)
            .filter(|r| {
                r.detail.get("from").is_some() || r.outcome.as_deref() == Some("lease-lost")
            })
            .count();
        a_done && applies >= 2
    })
    .await;
    let a_updates = records
        .iter()
        .filter(|r| r.run == a_run && succeeded(r, &["update-service", "rollback-update-service"]))
        .count();
    assert_eq!(
        a_updates, 1,
        "A changed AWS after it lost the lease: {records:#?}"
    );
    let a_verdict = records
        .iter()
        .find(|r| {
            r.run == a_run
                && r.step == "deploy"
                && r.phase == amagent::state::journal::Phase::Finished
        })
        .unwrap();
    assert!(
        a_verdict
            .detail
            .to_string()
            .contains("may have lost the lease"),
        "{a_verdict:?}"
    );
    // One decided apply of the commit (B's); A's is journalled as abandoned.
    let applies: Vec<&str> = records
        .iter()
        .filter(|r| r.step == "apply" && r.phase == amagent::state::journal::Phase::Finished)
        .filter(|r| !r.run.contains("adopt"))
        .filter_map(|r| r.outcome.as_deref())
        .collect();
    assert_eq!(
        applies.iter().filter(|o| **o != "lease-lost").count(),
        1,
        "{applies:?}"
    );
    assert!(applies.contains(&"lease-lost"), "{applies:?}");
    let log_a = std::fs::read_to_string(tmp.path().join("agent-a.log")).unwrap();
    assert!(log_a.contains("may have lost the lease"), "{log_a}");
}
