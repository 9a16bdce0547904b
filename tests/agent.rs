//! `amagent run` end to end: a real environments repo (a local bare remote this test pushes
//! merges to), a real source repo built by buildah and pushed to a real registry, the agent
//! process on the simulator, and a fake GitHub that keeps comments and statuses and records
//! every request.

mod support;

use amagent::watch::webhook::sign;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::envrepo::git;
use support::github::FakeGitHub;
use support::registry::Registry;

const TOKEN: &str = "ghp_agent_test_token_never_printed";
const SECRET: &str = "webhook-secret-for-tests";

struct Fixture {
    tmp: tempfile::TempDir,
    /// The work tree the test commits in.
    work: PathBuf,
    /// The bare remote the agent watches.
    remote: PathBuf,
    registry: Registry,
    github: FakeGitHub,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("api-src");
        std::fs::create_dir_all(&source).unwrap();
        git(&source, &["init", "-q", "-b", "main"]);
        std::fs::write(
            source.join("Dockerfile"),
            "FROM scratch\nARG NODE_VERSION\nCOPY hello.txt /hello.txt\n",
        )
        .unwrap();
        // Content unique to this test: tests build in parallel, and buildah's clean-up of one
        // build must not remove a layer another build shares (identical content, same layer).
        std::fs::write(
            source.join("hello.txt"),
            format!("api v1.4.0 ({})\n", tmp.path().display()),
        )
        .unwrap();
        git(&source, &["add", "-A"]);
        git(&source, &["commit", "-qm", "api v1.4.0"]);
        git(&source, &["tag", "v1.4.0"]);

        let work = tmp.path().join("envrepo");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["environments", "pipelines"] {
            std::fs::create_dir_all(work.join(sub)).unwrap();
            for entry in std::fs::read_dir(root.join(sub)).unwrap() {
                let entry = entry.unwrap();
                let text = std::fs::read_to_string(entry.path()).unwrap().replace(
                    "url: https://github.com/aussie-markets/api.git",
                    &format!("url: {}", source.display()),
                );
                std::fs::write(work.join(sub).join(entry.file_name()), text).unwrap();
            }
        }
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-qm", "environments"]);
        let remote = tmp.path().join("remote.git");
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap(),
                remote.to_str().unwrap(),
            ],
        );
        git(
            &work,
            &["remote", "add", "origin", remote.to_str().unwrap()],
        );
        Fixture {
            tmp,
            work,
            remote,
            registry: Registry::start(),
            github: FakeGitHub::start(),
        }
    }

    fn journal(&self) -> PathBuf {
        self.tmp.path().join("journal")
    }

    fn staging_journal(&self) -> String {
        std::fs::read_to_string(self.journal().join("staging.jsonl")).unwrap_or_default()
    }

    /// Merge "pull request #n": staging's api moves to `reference`. Returns the merge commit.
    fn merge(&self, n: u64, reference: &str) -> String {
        let path = self.work.join("environments/staging.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let current = text
            .lines()
            .find(|l| l.trim_start().starts_with("ref: "))
            .unwrap()
            .trim()
            .to_string();
        std::fs::write(
            &path,
            text.replacen(&current, &format!("ref: {reference}"), 1),
        )
        .unwrap();
        git(
            &self.work,
            &[
                "commit",
                "-qam",
                &format!(
                    "Merge pull request #{n} from team/api-{reference}\n\nDeploy {reference} to staging"
                ),
            ],
        );
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn start(&self, sim: &str, poll_seconds: u64, listen: Option<u16>) -> Agent {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_amagent"));
        cmd.args(["run", "--repo", self.remote.to_str().unwrap(), "--sim", sim])
            .args(["--poll-interval", &poll_seconds.to_string()])
            .env(
                "AMAGENT_SIM_REGISTRY",
                self.registry.sim_registry(&self.registry.password),
            )
            .env("AMAGENT_CACHE", self.tmp.path().join("cache"))
            .env("AMAGENT_JOURNAL", self.journal())
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", &self.github.url)
            .env("AMAGENT_GITHUB_REPO", "o/r")
            .env("AMAGENT_WEBHOOK_SECRET", SECRET)
            .env_remove("AMAGENT_GITHUB_APP_ID")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(port) = listen {
            cmd.args(["--listen", &format!("127.0.0.1:{port}")]);
        }
        Agent {
            child: cmd.spawn().expect("amagent starts"),
        }
    }
}

struct Agent {
    child: Child,
}

impl Agent {
    /// Stop with SIGTERM and return (exit code, stderr).
    fn stop(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// Wait for the process to exit by itself (killed after 90 s).
    fn wait(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until `done` holds (the agent polls once a second; generous for a loaded CI machine).
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Fixture {
    /// `eventually`, showing what GitHub was told when it times out.
    fn eventually(&self, what: &str, done: impl Fn() -> bool) {
        let github = self.github.clone();
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| eventually(what, &done)));
        if result.is_err() {
            panic!(
                "timed out waiting for: {what}\ncomments: {:#?}\nstatuses: {:#?}\njournal:\n{}",
                github.comments(),
                github.statuses(),
                self.staging_journal()
            );
        }
    }
}

fn final_status(f: &Fixture, sha: &str, context: &str) -> Option<String> {
    f.github
        .statuses()
        .iter()
        .rev()
        .find(|s| s.sha == sha && s.context == context)
        .map(|s| s.state.clone())
}

#[test]
fn a_merge_deploys_and_reports_to_its_pull_request_in_one_comment() {
    let f = Fixture::new();
    let agent = f.start("healthy", 1, None);
    eventually("the agent adopts the first commit", || {
        f.staging_journal().contains("\"adopted\"")
    });
    let merge = f.merge(12, "v1.4.0");
    f.eventually("staging reports success", || {
        final_status(&f, &merge, "amagent/staging").as_deref() == Some("success")
    });
    let (code, stderr) = agent.stop();
    assert_eq!(code, Some(0), "{stderr}");

    // One comment on PR 12, created once and edited in place through the stages.
    let comments = f.github.comments();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let c = &comments[0];
    assert_eq!(c.pr, 12);
    let requests = f.github.requests();
    let creates = requests
        .iter()
        .filter(|r| r.starts_with("POST /repos/o/r/issues/12/comments"))
        .count();
    assert_eq!(creates, 1, "{requests:#?}");
    assert!(
        c.versions.len() >= 3,
        "building, deploying, result: {:#?}",
        c.versions
    );
    assert!(
        c.versions[0].contains("⏳ **staging**: building"),
        "{}",
        c.versions[0]
    );
    assert!(
        c.versions
            .iter()
            .all(|v| v.starts_with("<!-- amagent:env=staging -->"))
    );
    assert!(
        c.body.contains("✅ **staging**: deployed and verified"),
        "{}",
        c.body
    );
    assert!(c.body.contains("image `api@sha256:"), "{}", c.body);
    assert!(
        c.body.contains("running `aussie-markets-api-task:43`"),
        "{}",
        c.body
    );
    assert!(requests.contains(&"POST /repos/o/r/issues/comments/1001".to_string()));

    // The merge commit's status went pending → success.
    let states: Vec<String> = f
        .github
        .statuses()
        .iter()
        .filter(|s| s.sha == merge && s.context == "amagent/staging")
        .map(|s| s.state.clone())
        .collect();
    assert_eq!(states, ["pending", "success"]);
    // And one GitHub deployment of the merge to staging: in progress, then success.
    let deployments: Vec<(Option<String>, String)> = f
        .github
        .deployments()
        .iter()
        .map(|d| {
            (
                d.status.clone(),
                d.body["ref"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        deployments,
        [
            (None, merge.clone()),
            (Some("in_progress".into()), String::new()),
            (Some("success".into()), String::new())
        ]
    );

    // The token authenticates every call and is never posted.
    assert!(
        f.github
            .authorization_headers()
            .iter()
            .all(|a| a == &format!("Bearer {TOKEN}"))
    );
    assert!(!f.github.everything_posted().contains(TOKEN));
    assert!(!stderr.contains(TOKEN));
    // Journalled as applied: the next start plans from this commit.
    assert!(
        f.staging_journal()
            .contains(&format!("\"commit\":\"{merge}\""))
    );
}

#[test]
fn a_failing_deploy_sets_failure_and_the_comment_says_why_and_what_was_rolled_back() {
    let f = Fixture::new();
    let agent = f.start("crash", 1, None);
    eventually("adoption", || f.staging_journal().contains("\"adopted\""));
    let merge = f.merge(21, "v1.4.0");
    f.eventually("staging reports failure", || {
        final_status(&f, &merge, "amagent/staging").as_deref() == Some("failure")
    });
    agent.stop();
    let comments = f.github.comments();
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    assert!(
        body.contains("❌ **staging**: deploy failed — rolled back"),
        "{body}"
    );
    assert!(body.contains("**api failed:**"), "{body}");
    assert!(
        body.contains("Essential container in task exited"),
        "{body}"
    );
    assert!(
        body.contains("Rolled back to `aussie-markets-api-task:42`"),
        "{body}"
    );
    let status = f
        .github
        .statuses()
        .into_iter()
        .rev()
        .find(|s| s.sha == merge)
        .unwrap();
    assert!(status.description.contains("rolled back"), "{status:?}");
}

#[test]
fn an_agent_killed_mid_deploy_resumes_and_edits_the_same_comment() {
    let f = Fixture::new();
    let script = f.tmp.path().join("kill.yaml");
    std::fs::write(&script, "killAgentAt: update-service\n").unwrap();
    let first = f.start(script.to_str().unwrap(), 1, None);
    eventually("adoption", || f.staging_journal().contains("\"adopted\""));
    let merge = f.merge(33, "v1.4.0");
    let (code, stderr) = first.wait();
    assert_ne!(code, Some(0), "the agent died: {stderr}");
    assert!(stderr.contains("simulated crash"), "{stderr}");
    assert_eq!(
        final_status(&f, &merge, "amagent/staging").as_deref(),
        Some("pending")
    );

    let second = f.start("healthy", 1, None);
    f.eventually("the restarted agent finishes", || {
        final_status(&f, &merge, "amagent/staging").as_deref() == Some("success")
    });
    second.stop();
    let comments = f.github.comments();
    assert_eq!(
        comments.len(),
        1,
        "one comment across the restart: {comments:#?}"
    );
    assert!(
        comments[0].body.contains("✅ **staging**"),
        "{}",
        comments[0].body
    );
    let creates = f
        .github
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST /repos/o/r/issues/33/comments"))
        .count();
    assert_eq!(creates, 1);
}

/// POST a delivery to the agent's webhook endpoint; the HTTP status it answered.
fn deliver(port: u16, event: &str, delivery: &str, body: &str, signature: Option<String>) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/webhooks/github"))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(sig) = signature {
            req = req.header("X-Hub-Signature-256", sig);
        }
        req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    })
}

fn wait_for_listener(port: u16) {
    eventually("the webhook server listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

#[test]
fn a_pull_request_event_gets_a_plan_preview() {
    let f = Fixture::new();
    let port = support::free_port();
    let agent = f.start("healthy", 3600, Some(port));
    wait_for_listener(port);
    eventually("adoption", || f.staging_journal().contains("\"adopted\""));
    // The PR's head, as GitHub exposes it: refs/pull/7/head.
    let base = git(&f.work, &["rev-parse", "HEAD"]);
    git(&f.work, &["checkout", "-q", "-b", "feature"]);
    let path = f.work.join("environments/staging.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("desiredCount: 1", "desiredCount: 2", 1),
    )
    .unwrap();
    git(&f.work, &["commit", "-qam", "scale the api"]);
    let head = git(&f.work, &["rev-parse", "HEAD"]);
    git(&f.work, &["push", "-q", "origin", "HEAD:refs/pull/7/head"]);
    let body = serde_json::json!({
        "action": "opened", "number": 7,
        "pull_request": { "head": { "sha": head }, "base": { "sha": base } }
    })
    .to_string();
    let status = deliver(
        port,
        "pull_request",
        "d-7",
        &body,
        Some(sign(SECRET, body.as_bytes())),
    );
    assert_eq!(status, 202);
    eventually("the preview comment", || !f.github.comments().is_empty());
    agent.stop();
    let c = &f.github.comments()[0];
    assert_eq!(c.pr, 7);
    assert!(c.body.starts_with("<!-- amagent:plan -->"), "{}", c.body);
    assert!(c.body.contains("**staging**, on merge:"), "{}", c.body);
    assert!(
        c.body.contains("| api | deploy | desired count 1 → 2"),
        "{}",
        c.body
    );
    // A preview deploys nothing.
    assert!(!f.staging_journal().contains("\"started\""));
    assert!(f.github.statuses().is_empty());
}

/// Issue 13 item 1: a pull request's head with YAML nested 5,000 deep used to overflow the
/// stack of `amagent run` while it rendered the preview. Now the preview reports it.
#[test]
fn a_pull_request_with_deep_yaml_gets_an_invalid_preview_and_the_agent_lives_on() {
    let f = Fixture::new();
    let port = support::free_port();
    let agent = f.start("healthy", 3600, Some(port));
    wait_for_listener(port);
    eventually("adoption", || f.staging_journal().contains("\"adopted\""));
    let base = git(&f.work, &["rev-parse", "HEAD"]);
    git(&f.work, &["checkout", "-q", "-b", "deep"]);
    let path = f.work.join("environments/staging.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}deep:\n  {}x\n", "- ".repeat(5000))).unwrap();
    git(&f.work, &["commit", "-qam", "deep"]);
    let head = git(&f.work, &["rev-parse", "HEAD"]);
    git(&f.work, &["push", "-q", "origin", "HEAD:refs/pull/8/head"]);
    let body = serde_json::json!({
        "action": "opened", "number": 8,
        "pull_request": { "head": { "sha": head }, "base": { "sha": base } }
    })
    .to_string();
    let status = deliver(
        port,
        "pull_request",
        "d-8",
        &body,
        Some(sign(SECRET, body.as_bytes())),
    );
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    while f.github.comments().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, stderr) = agent.stop();
    assert_eq!(code, Some(0), "the agent was still running: {stderr}");
    let comments = f.github.comments();
    assert!(!comments.is_empty(), "no preview: {stderr}");
    let c = &comments[0];
    assert_eq!(c.pr, 8);
    assert!(
        c.body
            .contains("the YAML here is nested more than 64 levels deep"),
        "{}",
        c.body
    );
}

#[test]
fn only_a_validly_signed_new_delivery_triggers_a_deploy() {
    let f = Fixture::new();
    let port = support::free_port();
    // Polling is off in effect: only webhooks wake the agent.
    let agent = f.start("healthy", 3600, Some(port));
    wait_for_listener(port);
    eventually("adoption", || f.staging_journal().contains("\"adopted\""));
    let merge = f.merge(44, "v1.4.0");
    let push = serde_json::json!({ "ref": "refs/heads/main", "after": merge }).to_string();
    let signed = || Some(sign(SECRET, push.as_bytes()));

    assert_eq!(
        deliver(
            port,
            "push",
            "forged",
            &push,
            Some(sign("wrong secret", push.as_bytes()))
        ),
        401
    );
    assert_eq!(deliver(port, "push", "missing", &push, None), 401);
    let tampered = push.replace("refs/heads/main", "refs/heads/evil");
    assert_eq!(deliver(port, "push", "tampered", &tampered, signed()), 401);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 * 1024 + 1));
    assert_eq!(
        deliver(
            port,
            "push",
            "big",
            &big,
            Some(sign(SECRET, big.as_bytes()))
        ),
        413
    );
    // Give a wrongly woken agent every chance to act before checking it did not.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !f.staging_journal().contains("\"started\""),
        "rejected deliveries deployed"
    );
    assert!(f.github.statuses().is_empty());

    assert_eq!(deliver(port, "push", "d-1", &push, signed()), 202);
    f.eventually("the deploy the valid delivery triggered", || {
        final_status(&f, &merge, "amagent/staging").as_deref() == Some("success")
    });
    let applies = |j: &str| {
        j.matches("\"step\":\"apply\",\"phase\":\"started\"")
            .count()
    };
    let before = applies(&f.staging_journal());
    assert_eq!(before, 1);
    // A redelivery of the same id is acknowledged and ignored.
    assert_eq!(deliver(port, "push", "d-1", &push, signed()), 200);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(applies(&f.staging_journal()), before);
    agent.stop();
}

/// The images a journal says were verified for `env`'s api, in order.
fn verified_api_images(journal: &str) -> Vec<String> {
    journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| {
            r["service"] == "api"
                && r["step"] == "deploy"
                && r["phase"] == "finished"
                && r["outcome"] == "succeeded"
        })
        .filter_map(|r| r["detail"]["image"].as_str().map(String::from))
        .collect()
}

fn digest(image: &str) -> &str {
    image.split_once('@').unwrap().1
}

#[test]
fn a_tag_promotes_exactly_the_digests_staging_verified_and_bad_tags_are_refused() {
    let f = Fixture::new();
    let agent = f.start("healthy", 1, None);
    let production =
        || std::fs::read_to_string(f.journal().join("production.jsonl")).unwrap_or_default();
    eventually("adoption", || {
        f.staging_journal().contains("\"adopted\"") && production().contains("\"adopted\"")
    });
    let merge = f.merge(12, "v1.4.0");
    f.eventually("staging verified", || {
        final_status(&f, &merge, "amagent/staging").as_deref() == Some("success")
    });
    git(&f.work, &["tag", "v1.4.0", &merge]);
    git(&f.work, &["push", "-q", "origin", "v1.4.0"]);
    f.eventually("production promoted", || {
        final_status(&f, &merge, "amagent/production").as_deref() == Some("success")
    });

    // Exactly staging's digest, copied into production's own repository, no rebuild.
    let staged = verified_api_images(&f.staging_journal());
    let promoted = verified_api_images(&production());
    assert_eq!(staged.len(), 1, "{staged:?}");
    assert_eq!(promoted.len(), 1, "{promoted:?}");
    assert_eq!(digest(&promoted[0]), digest(&staged[0]));
    assert!(
        promoted[0].contains("/aussie-markets/api-production@"),
        "{}",
        promoted[0]
    );
    let builds = f
        .staging_journal()
        .matches("\"step\":\"apply\",\"phase\":\"started\"")
        .count();
    assert_eq!(builds, 1);
    // Production's policy is `always`: the snapshot finished before the deploy started.
    let journal = production();
    let snapshot =
        journal.find("\"step\":\"snapshot\",\"phase\":\"finished\",\"outcome\":\"succeeded\"");
    let deploy = journal.find("\"service\":\"api\",\"step\":\"deploy\",\"phase\":\"started\"");
    assert!(
        snapshot.is_some() && deploy.is_some() && snapshot < deploy,
        "{journal}"
    );
    // PR 12 gets production's comment too.
    let comments = f.github.comments();
    assert!(
        comments.iter().any(|c| c.pr == 12
            && c.body.starts_with("<!-- amagent:env=production -->")
            && c.body.contains("✅ **production**")
            && c.body.contains("#### What v1.4.0 carries\n\n- #12 ")),
        "{comments:#?}"
    );

    // A commit staging never verified (a side branch) is refused, with a clear reason.
    git(&f.work, &["checkout", "-q", "-b", "side"]);
    let path = f.work.join("environments/staging.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("desiredCount: 1", "desiredCount: 2", 1),
    )
    .unwrap();
    git(&f.work, &["commit", "-qam", "never merged"]);
    let side = git(&f.work, &["rev-parse", "HEAD"]);
    git(&f.work, &["tag", "v1.5.0", &side]);
    git(&f.work, &["push", "-q", "origin", "v1.5.0"]);
    f.eventually("the unverified tag is refused", || {
        final_status(&f, &side, "amagent/production").as_deref() == Some("failure")
    });
    let refusal = f
        .github
        .statuses()
        .into_iter()
        .rev()
        .find(|s| s.sha == side)
        .unwrap();
    assert!(
        refusal
            .description
            .contains("staging never verified commit"),
        "{refusal:?}"
    );
    agent.stop();
    assert_eq!(
        verified_api_images(&production()).len(),
        1,
        "nothing more was deployed"
    );

    // `amagent promote` of an older version is refused unless --allow-downgrade.
    git(&f.work, &["checkout", "-q", "main"]);
    let promote = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_amagent"))
            .args([
                "promote",
                "--repo",
                f.remote.to_str().unwrap(),
                "--sim",
                "healthy",
            ])
            .args(["--tag", "v1.3.9", "--commit", &merge])
            .args(extra)
            .env(
                "AMAGENT_SIM_REGISTRY",
                f.registry.sim_registry(&f.registry.password),
            )
            .env("AMAGENT_CACHE", f.tmp.path().join("cache"))
            .env("AMAGENT_JOURNAL", f.journal())
            .env_remove("GITHUB_TOKEN")
            .output()
            .unwrap()
    };
    let out = promote(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("older than 1.4.0") && stdout.contains("--allow-downgrade"),
        "{stdout}"
    );
    assert_eq!(verified_api_images(&production()).len(), 1);
}
