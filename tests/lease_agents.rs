//! One active agent per environments repo, with two real `amagent run` processes sharing an S3
//! journal on moto: the first takes the lease and acts; the second stands by; when the first is
//! killed (SIGKILL: no release), the second takes over once the lease lapses.

mod support;

use amagent::cloud::ObjectStore;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUCKET: &str = "aussie-markets-staging-logs";

fn agent(name: &str, repo: &Path, endpoint: &str, logs: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_amagent"))
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
