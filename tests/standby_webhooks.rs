//! Behind one load balancer, the standby agent receives about half of GitHub's deliveries. Two
//! real `amagent run` processes share an S3 journal on moto; every signed pull_request delivery
//! sent to the standby produces exactly one plan preview (posted by the active agent, to the
//! fake GitHub), redeliveries included, and the inbox is empty afterwards.

mod support;

use amagent::cloud::ObjectStore;
use amagent::watch::webhook::sign;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::envrepo::git;
use support::github::FakeGitHub;

const BUCKET: &str = "aussie-markets-staging-logs";
const SECRET: &str = "webhook-secret-for-standby-tests";

/// A child process killed when the test ends, also when it fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent(name: &str, repo: &Path, endpoint: &str, github: &str, port: u16) -> Killed {
    let logs = repo.parent().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["-v", "run", "--repo", repo.to_str().unwrap()])
        .args(["--journal", &format!("s3://{BUCKET}/amagent/")])
        .args(["--poll-interval", "1", "--lease-ttl", "3"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("HOSTNAME", name)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "ap-southeast-2")
        .env("AMAGENT_CACHE", logs.join(format!("cache-{name}")))
        .env("AMAGENT_WEBHOOK_SECRET", SECRET)
        .env("GITHUB_TOKEN", "ghp_standby_test_token")
        .env("GITHUB_API_URL", github)
        .env("AMAGENT_GITHUB_REPO", "o/r")
        .env_remove("AMAGENT_GITHUB_APP_ID")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(logs.join(format!("{name}.log"))).unwrap())
        .spawn()
        .unwrap();
    Killed(child)
}

fn log(repo: &Path, name: &str) -> String {
    std::fs::read_to_string(repo.parent().unwrap().join(format!("{name}.log"))).unwrap()
}

async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn holder(s3: &Arc<dyn ObjectStore>) -> Option<String> {
    let object = s3.get(BUCKET, "amagent/lease.json").await.ok()??;
    let v: serde_json::Value = serde_json::from_slice(&object.body).ok()?;
    v["holder"].as_str().map(String::from)
}

/// POST a signed pull_request delivery; the HTTP status answered.
async fn deliver(port: u16, id: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/github"))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", id)
        .header("X-Hub-Signature-256", sign(SECRET, body.as_bytes()))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Pull request `n`: a commit off main (staging's api scaled to `n`), at `refs/pull/n/head`
/// as GitHub exposes it. Returns the delivery body.
fn pull_request(repo: &Path, n: u64, base: &str) -> String {
    git(repo, &["checkout", "-q", "-B", &format!("pr-{n}"), base]);
    support::envrepo::edit(
        repo,
        "environments/staging.yaml",
        "desiredCount: 1",
        &format!("desiredCount: {n}"),
        &format!("scale the api to {n}"),
    );
    let head = git(repo, &["rev-parse", "HEAD"]);
    git(repo, &["update-ref", &format!("refs/pull/{n}/head"), &head]);
    git(repo, &["checkout", "-q", "main"]);
    serde_json::json!({
        "action": "opened", "number": n,
        "pull_request": { "head": { "sha": head }, "base": { "sha": base } }
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_delivery_the_standby_gets_is_previewed_once_by_the_active_agent() {
    let (_guard, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    support::create_bucket(&aws, BUCKET).await;
    let s3 = aws.cloud().s3;
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    support::envrepo::example(&repo, str::to_string);
    let github = FakeGitHub::start();
    let (port_a, port_b) = (support::free_port(), support::free_port());

    let a = agent("agent-a", &repo, &endpoint, &github.url, port_a);
    eventually("agent-a holds the lease", async || {
        holder(&s3).await.is_some_and(|h| h.starts_with("agent-a-"))
    })
    .await;
    let _b = agent("agent-b", &repo, &endpoint, &github.url, port_b);
    eventually("agent-b stands by", async || {
        log(&repo, "agent-b").contains("standby: another agent holds the lease")
            && std::net::TcpStream::connect(("127.0.0.1", port_b)).is_ok()
    })
    .await;

    let base = git(&repo, &["rev-parse", "main"]);
    let prs = [7u64, 8, 9];
    let bodies: Vec<String> = prs.iter().map(|n| pull_request(&repo, *n, &base)).collect();
    for (n, body) in prs.iter().zip(&bodies) {
        assert_eq!(deliver(port_b, &format!("d-{n}"), body).await, 202);
    }
    // GitHub's redelivery of d-7 reaches the standby again, and of d-8 the active agent: each
    // is still one preview.
    assert_eq!(deliver(port_b, "d-7", &bodies[0]).await, 200);
    assert!(matches!(
        deliver(port_a, "d-8", &bodies[1]).await,
        200 | 202
    ));

    eventually("a preview on every pull request", async || {
        let commented: Vec<u64> = github.comments().iter().map(|c| c.pr).collect();
        prs.iter().all(|n| commented.contains(n))
    })
    .await;
    // Past another inbox check of the active agent (10 s): nothing is previewed twice.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let comments = github.comments();
    for n in prs {
        let on_pr: Vec<_> = comments.iter().filter(|c| c.pr == n).collect();
        assert_eq!(on_pr.len(), 1, "PR {n}: {comments:#?}");
        assert_eq!(
            on_pr[0].versions.len(),
            1,
            "PR {n} previewed twice: {on_pr:#?}"
        );
        assert!(
            on_pr[0].body.starts_with("<!-- amagent:plan -->")
                && on_pr[0].body.contains(&format!("desired count 1 → {n}")),
            "{}",
            on_pr[0].body
        );
    }
    // The standby handed them over; the active agent took them and emptied the inbox.
    assert!(holder(&s3).await.unwrap().starts_with("agent-a-"));
    assert!(log(&repo, "agent-b").contains("handed to the active agent"));
    assert!(!log(&repo, "agent-b").contains("plan preview"));
    assert_eq!(
        s3.list(BUCKET, "amagent/inbox/").await.unwrap(),
        Vec::<String>::new()
    );

    // The holder stops (paused: it renews no more) just after the standby handed a delivery
    // over: the standby takes the lease, and then the delivery it handed over itself.
    signal(&a, "-STOP");
    let body = pull_request(&repo, 10, &base);
    assert_eq!(deliver(port_b, "d-10", &body).await, 202);
    eventually("agent-b takes over and previews PR 10", async || {
        github.comments().iter().any(|c| c.pr == 10)
    })
    .await;
    assert!(holder(&s3).await.unwrap().starts_with("agent-b-"));
    let on_pr: Vec<_> = github
        .comments()
        .into_iter()
        .filter(|c| c.pr == 10)
        .collect();
    assert_eq!(on_pr.len(), 1, "{on_pr:#?}");
    assert_eq!(on_pr[0].versions.len(), 1, "{on_pr:#?}");
}

fn signal(child: &Killed, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}
