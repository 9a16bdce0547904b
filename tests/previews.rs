//! Plan previews are never lost and never wrong (issue 16 item 5), through the `amagent run`
//! binary on the simulator, the environments repo served over HTTPS by git's own http-backend
//! (token auth, a per-run CA: `tests/support/gitserver.rs`) and the fake GitHub, with the pull_request
//! deliveries GitHub itself documents (`tests/fixtures/github/`, from octokit/webhooks):
//! 200 deliveries at once give 200 previews; a base commit no branch holds is fetched by id;
//! a base gone for good is compared with the fork point, or the comment says it cannot preview.

mod support;

use amagent::watch::webhook::sign;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::github::FakeGitHub;
use support::gitserver::{HttpsGitServer, TestCa, publish};

const SECRET: &str = "webhook-secret-for-preview-tests";
const OPENED: &str = include_str!("fixtures/github/pull_request.opened.json");
const SYNCHRONIZE: &str = include_str!("fixtures/github/pull_request.synchronize.json");
const REOPENED: &str = include_str!("fixtures/github/pull_request.reopened.json");

/// A child process killed when the test ends, also when it fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example environments repo served over HTTPS; `repo` is the served bare repository,
/// written to directly as GitHub's side would be.
struct Served {
    server: HttpsGitServer,
    ca: TestCa,
    repo: std::path::PathBuf,
    tmp: tempfile::TempDir,
}

fn served() -> Served {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(tmp.path());
    let server = HttpsGitServer::start(&ca);
    let work = tmp.path().join("envrepo");
    support::envrepo::example(&work, str::to_string);
    let repo = publish(&server.root, "env.git", &work);
    // As GitHub does, serve a commit asked for by id even when no ref holds it.
    let config = git2::Repository::open(&repo).unwrap().config().unwrap();
    config
        .open_level(git2::ConfigLevel::Local)
        .unwrap()
        .set_bool("uploadpack.allowAnySHA1InWant", true)
        .unwrap();
    Served {
        server,
        ca,
        repo,
        tmp,
    }
}

fn agent(s: &Served, github: &str, port: u16) -> Killed {
    let work = s.tmp.path();
    let child = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args([
            "run",
            "--sim",
            "healthy",
            "--repo",
            &s.server.url("env.git"),
        ])
        .args(["--poll-interval", "3600"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("SSL_CERT_FILE", &s.ca.ca_pem)
        .env("AMAGENT_GIT_TOKEN", &s.server.token)
        .env("AMAGENT_GIT_USER", &s.server.user)
        .env("AMAGENT_JOURNAL", work.join("journal"))
        .env("AMAGENT_CACHE", work.join("cache"))
        .env("AMAGENT_WEBHOOK_SECRET", SECRET)
        .env("GITHUB_TOKEN", "ghp_preview_test_token")
        .env("GITHUB_API_URL", github)
        .env("AMAGENT_GITHUB_REPO", "o/r")
        .env_remove("AMAGENT_GITHUB_APP_ID")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    Killed(child)
}

fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Start the agent and wait until it has adopted the running services and listens.
fn started(s: &Served, github: &FakeGitHub) -> (Killed, u16) {
    let port = support::free_port();
    let agent = agent(s, &github.url, port);
    let journal = s.tmp.path().join("journal/staging.jsonl");
    let log = s.tmp.path().join("agent.log");
    eventually("adoption and the webhook server", || {
        std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"adopted\""))
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("ERROR") && panic!("{l}"))
    });
    (agent, port)
}

/// GitHub's published delivery for `action`, made about pull request `n` of this repository.
fn delivery(action: &str, n: u64, base: &str, head: &str) -> String {
    let published = match action {
        "opened" => OPENED,
        "synchronize" => SYNCHRONIZE,
        _ => REOPENED,
    };
    let mut v: serde_json::Value = serde_json::from_str(published).unwrap();
    assert_eq!(
        v["action"], action,
        "the fixture is GitHub's {action} example"
    );
    v["number"] = n.into();
    v["pull_request"]["number"] = n.into();
    v["pull_request"]["head"]["sha"] = head.into();
    v["pull_request"]["base"]["sha"] = base.into();
    v["pull_request"]["base"]["ref"] = "main".into();
    v.to_string()
}

async fn deliver(client: &reqwest::Client, port: u16, id: &str, body: String) -> u16 {
    client
        .post(format!("http://127.0.0.1:{port}/webhooks/github"))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", id)
        .header("X-Hub-Signature-256", sign(SECRET, body.as_bytes()))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// A commit on `parent` whose staging api runs `desired` tasks, at `refs/pull/<n>/head`
/// (written with git2: 200 of them in a blink). Returns its id.
fn pull_request_head(repo: &git2::Repository, parent: git2::Oid, n: u64, desired: u64) -> String {
    let parent = repo.find_commit(parent).unwrap();
    let path = Path::new("environments/staging.yaml");
    let entry = parent.tree().unwrap().get_path(path).unwrap();
    let text = String::from_utf8(repo.find_blob(entry.id()).unwrap().content().to_vec()).unwrap();
    let edited = text.replacen("desiredCount: 1", &format!("desiredCount: {desired}"), 1);
    let mut index = git2::Index::new().unwrap();
    index.read_tree(&parent.tree().unwrap()).unwrap();
    let blob = repo.blob(edited.as_bytes()).unwrap();
    let mut e = index.get_path(path, 0).unwrap();
    e.id = blob;
    e.file_size = edited.len() as u32;
    index.add(&e).unwrap();
    let tree = repo.find_tree(index.write_tree_to(repo).unwrap()).unwrap();
    let who = git2::Signature::now("Ada", "ada@example.com").unwrap();
    let message = format!("scale the api to {desired}");
    let id = repo
        .commit(None, &who, &who, &message, &tree, &[&parent])
        .unwrap();
    repo.reference(
        &format!("refs/pull/{n}/head"),
        id,
        true,
        "pull request head",
    )
    .unwrap();
    id.to_string()
}

fn previews_on(github: &FakeGitHub, n: u64) -> Vec<String> {
    github
        .comments()
        .into_iter()
        .filter(|c| c.pr == n && c.body.starts_with("<!-- amagent:plan -->"))
        .map(|c| c.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_deliveries_at_once_give_two_hundred_previews() {
    let served = served();
    let github = FakeGitHub::start();
    let (_agent, port) = started(&served, &github);

    let repo = git2::Repository::open(&served.repo).unwrap();
    let base = repo.refname_to_id("refs/heads/main").unwrap();
    let actions = ["opened", "synchronize", "reopened"];
    let bodies: Vec<(u64, String)> = (1..=200u64)
        .map(|n| {
            let head = pull_request_head(&repo, base, n, n + 1);
            let action = actions[n as usize % actions.len()];
            (n, delivery(action, n, &base.to_string(), &head))
        })
        .collect();
    let client = reqwest::Client::new();
    let mut parallel = tokio::task::JoinSet::new();
    for (n, body) in bodies {
        let client = client.clone();
        parallel.spawn(async move { deliver(&client, port, &format!("d-{n}"), body).await });
    }
    let sent = parallel.join_all().await;
    assert!(sent.iter().all(|s| *s == 202), "{sent:?}");

    eventually("a preview on each of the 200 pull requests", || {
        let mut commented: Vec<u64> = github.comments().iter().map(|c| c.pr).collect();
        commented.sort_unstable();
        commented.dedup();
        commented.len() == 200
    });
    for n in 1..=200u64 {
        let on_pr = previews_on(&github, n);
        assert_eq!(on_pr.len(), 1, "PR {n}");
        assert!(
            on_pr[0].contains(&format!("| api | deploy | desired count 1 → {}", n + 1)),
            "PR {n}: {}",
            on_pr[0]
        );
    }
}

/// A commit no ref holds (a base branch's old tip after a force-push): like
/// [`pull_request_head`] without the ref.
fn dangling(repo: &git2::Repository, parent: git2::Oid, desired: u64) -> String {
    let id = pull_request_head(repo, parent, 999, desired);
    repo.find_reference("refs/pull/999/head")
        .unwrap()
        .delete()
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_base_or_head_commits_are_fetched_replaced_by_the_fork_point_or_said() {
    let served = served();
    let github = FakeGitHub::start();
    let (_agent, port) = started(&served, &github);

    let repo = git2::Repository::open(&served.repo).unwrap();
    let main = repo.refname_to_id("refs/heads/main").unwrap();
    let gone = "0123456789abcdef0123456789abcdef01234567";
    // 1: the base is an object no ref holds (the branch was force-pushed since): fetched by id.
    let old_tip = dangling(&repo, main, 3);
    let head1 = pull_request_head(&repo, main, 1, 5);
    // 2: the base is gone everywhere: compared with where the head left main.
    let head2 = pull_request_head(&repo, main, 2, 6);
    // 3: gone, and the base branch is unknown too: said, not compared with nothing.
    let head3 = pull_request_head(&repo, main, 3, 7);
    let client = reqwest::Client::new();
    let mut bodies = vec![
        delivery("opened", 1, &old_tip, &head1),
        delivery("opened", 2, gone, &head2),
        {
            let mut v: serde_json::Value =
                serde_json::from_str(&delivery("opened", 3, gone, &head3)).unwrap();
            v["pull_request"]["base"]["ref"] = "release-2019".into();
            v.to_string()
        },
        // 4: a head nobody has.
        delivery("opened", 4, &main.to_string(), gone),
    ];
    for (i, body) in bodies.drain(..).enumerate() {
        assert_eq!(deliver(&client, port, &format!("m-{i}"), body).await, 202);
    }
    eventually("four previews", || {
        (1..=4).all(|n| !previews_on(&github, n).is_empty())
    });

    let one = &previews_on(&github, 1)[0];
    assert!(
        one.contains("| api | deploy | desired count 3 → 5"),
        "{one} base {old_tip} main {main}"
    );
    assert!(!one.contains("⚠️"), "{one}");

    let two = &previews_on(&github, 2)[0];
    assert!(
        two.contains("| api | deploy | desired count 1 → 6"),
        "{two}"
    );
    assert!(
        two.contains("The base commit `0123456` GitHub named is not in the environments repo")
            && two.contains(&format!(
                "compares with `{}`, where this pull request left `main`",
                &main.to_string()[..7]
            )),
        "{two}"
    );

    let three = &previews_on(&github, 3)[0];
    assert!(three.contains("cannot preview"), "{three}");
    assert!(
        three.contains("The base commit `0123456` of #3 is not in the environments repo"),
        "{three}"
    );
    assert!(
        !three.contains("| api |"),
        "compared against something: {three}"
    );

    let four = &previews_on(&github, 4)[0];
    assert!(
        four.contains("The head commit `0123456` of #4 is not in the environments repo"),
        "{four}"
    );
}
