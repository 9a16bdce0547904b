//! `amagent rollback --revert-pr` (issue 16 item 3), through the library in one simulated
//! world: after a rollback, a pull request on the fake GitHub whose one commit (pushed to a
//! real git remote) puts the service's entry back to the spec that deployed what runs; merging
//! it releases the pin and deploys nothing new.

mod support;

use amagent::cloud::sim::FaultScript;
use amagent::repo::{EnvRepo, GitCredentials};
use amagent::report::github::GitHub;
use amagent::sandbox::Sandbox;
use amagent::secret::Secret;
use amagent::stages::deploy::{Outcome, Silent};
use amagent::state::journal::pins::pins;
use amagent::state::journal::{Journal, LocalJournal};
use std::sync::Arc;
use support::envrepo::{self, edit, git, source_repo};
use support::github::FakeGitHub;

/// The remote, bare as on a git server, that `repo` (the test's work tree) pushes its merges to.
fn bare_remote(dir: &std::path::Path, repo: &std::path::Path) -> std::path::PathBuf {
    let remote = dir.join("remote.git");
    let (repo_path, remote_path) = (repo.to_str().unwrap(), remote.to_str().unwrap());
    git(dir, &["clone", "-q", "--bare", repo_path, remote_path]);
    git(repo, &["remote", "add", "origin", remote_path]);
    remote
}

/// The `+`/`-` lines of a unified diff, without its file headers.
fn changed_lines(diff: &str) -> Vec<&str> {
    diff.lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect()
}

/// Merge a change of staging's file and push it.
fn merged(repo: &std::path::Path, from: &str, to: &str, message: &str) {
    edit(repo, "environments/staging.yaml", from, to, message);
    git(repo, &["push", "-q", "origin", "main"]);
}

#[tokio::test(start_paused = true)]
async fn a_revert_pr_returns_git_to_what_runs_and_merging_it_deploys_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    envrepo::example(&repo, str::to_string);
    let remote = bare_remote(tmp.path(), &repo);
    let merge = |from: &str, to: &str, message: &str| merged(&repo, from, to, message);
    let model = amagent::config::load_dir(&repo).unwrap();
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, FaultScript::new(), amagent::sandbox::epoch());
    let journal: Arc<dyn Journal> = Arc::new(LocalJournal::new(tmp.path().join("journal")));
    let mut agent = envrepo::sim_agent(&remote, tmp.path(), &sandbox, journal.clone());
    agent.tick().await.unwrap(); // adopt
    merge(
        "memory: 512 ",
        "memory: 1024 ",
        "Merge pull request #1 from team/more-memory",
    );
    let good = git(&repo, &["rev-parse", "HEAD"]);
    agent.tick().await.unwrap();
    merge(
        "memory: 1024 ",
        "memory: 2048 ",
        "Merge pull request #2 from team/even-more",
    );
    agent.tick().await.unwrap();

    let staging = model.environments["staging"].clone();
    let report = amagent::rollback::rollback(
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
            reason: Some("p99 latency after #2".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Succeeded);
    let pin = report.services[0].pin.clone().unwrap();
    assert_eq!(pin.restores.as_deref(), Some(good.as_str()), "{pin:?}");

    // The revert: a mirror of the remote, as the CLI keeps one; the remote is the work tree's repo.
    let url = remote.display().to_string();
    let creds = GitCredentials::default();
    let mirror = EnvRepo::open_or_clone(&url, &tmp.path().join("revert-mirror"), &creds).unwrap();
    let github = FakeGitHub::start();
    let reporter =
        GitHub::from_token(&github.url, "o", "r", Secret::new("ghp_revert_test_token")).unwrap();
    let records = journal.read(Some("staging")).await.unwrap();
    let undone = amagent::revert::undone_pull_requests(&report, &records);
    assert_eq!(undone, [2]);
    let opened = amagent::revert::open(
        &amagent::revert::Request {
            repo: &mirror,
            url: &url,
            credentials: &creds,
            base: "main",
            undo: &amagent::revert::Undo::of_rollback(&report),
            undone: &undone,
        },
        &reporter,
    )
    .await
    .unwrap();
    assert_eq!(opened.services, ["api"]);

    // Exactly one pull request, from the pushed branch into main, saying why and what.
    let pulls = github.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pr = &pulls[0];
    assert_eq!((pr.number, pr.base.as_str()), (opened.number, "main"));
    assert_eq!(pr.head, opened.branch);
    assert_eq!(
        pr.title,
        "Revert staging api to what runs (rolled back by ada)"
    );
    assert!(
        pr.body.contains("reason: p99 latency after #2"),
        "{}",
        pr.body
    );
    assert!(
        pr.body
            .contains("| api | aussie-markets-api-task:44 | aussie-markets-api-task:43 |"),
        "{}",
        pr.body
    );
    assert!(pr.body.contains("Undoes the change of #2."), "{}", pr.body);
    // Its diff against main restores the running spec, and nothing else.
    git(&repo, &["fetch", "-q", "origin"]);
    let theirs = format!("origin/{}", opened.branch);
    let branch_tip = git(&repo, &["rev-parse", &theirs]);
    assert_eq!(branch_tip, opened.commit);
    let diff = git(&repo, &["diff", "--unified=0", "main", &theirs]);
    let changed = changed_lines(&diff);
    assert_eq!(
        changed,
        ["-    memory: 2048     # MiB", "+    memory: 1024     # MiB"],
        "{diff}"
    );
    assert_eq!(
        git(&repo, &["rev-parse", &format!("{theirs}~1")]),
        git(&repo, &["rev-parse", "main"])
    );

    // Merged on GitHub: the agent sees its spec is what runs, releases the pin, deploys nothing.
    let calls = |op: &str| sandbox.sim.calls().get(op).copied().unwrap_or(0);
    let before = (calls("RegisterTaskDefinition"), calls("UpdateService"));
    git(
        &repo,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            &format!(
                "Merge pull request #{} from o/{}",
                opened.number, opened.branch
            ),
            &theirs,
        ],
    );
    git(&repo, &["push", "-q", "origin", "main"]);
    let tick = agent.tick().await.unwrap();
    assert!(
        tick.applied.iter().all(|r| r.deploys.is_empty()),
        "{tick:?}"
    );
    assert_eq!(
        (calls("RegisterTaskDefinition"), calls("UpdateService")),
        before
    );
    let records = journal.read(Some("staging")).await.unwrap();
    assert!(pins(&records).is_empty(), "still pinned");
    let release = records.iter().rev().find(|r| r.step == "resume").unwrap();
    assert_eq!(release.detail["by"], "git");
    // Git and the account agree from here: the next change of the api deploys as usual.
    merge(
        "desiredCount: 1",
        "desiredCount: 2",
        "Merge pull request #3",
    );
    let tick = agent.tick().await.unwrap();
    let staging = tick.applied.iter().find(|r| r.env == "staging").unwrap();
    assert_eq!(
        (staging.outcome, staging.deploys.len()),
        (Outcome::Succeeded, 1)
    );

    // Asked again (a retry after a lost answer): the branch exists, nothing is overwritten.
    let again = amagent::revert::open(
        &amagent::revert::Request {
            repo: &mirror,
            url: &url,
            credentials: &creds,
            base: "main",
            undo: &amagent::revert::Undo::of_rollback(&report),
            undone: &undone,
        },
        &reporter,
    )
    .await;
    assert!(again.is_err());
    assert_eq!(github.pulls().len(), 1);
}

/// The agent's own rollbacks, opted in with `deploy.revertPr: true`: when the gate rolls a
/// merge back, the agent opens the revert pull request and says so in the merge's comment.
#[tokio::test(start_paused = true)]
async fn the_gate_rolling_back_an_opted_in_service_opens_a_revert_pr() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("api-src");
    std::fs::create_dir_all(&source).unwrap();
    let (v14, v15) = source_repo(&source);
    let repo = tmp.path().join("envrepo");
    envrepo::example(&repo, |text| {
        text.replace(
            "url: https://github.com/aussie-markets/api.git",
            &format!("url: {}", source.display()),
        )
        .replacen(
            "      autoRollback: true",
            "      autoRollback: true\n      revertPr: true",
            1,
        )
    });
    let remote = bare_remote(tmp.path(), &repo);
    let merge = |from: &str, to: &str, message: &str| merged(&repo, from, to, message);
    // Both images are in ECR already (built by CI, say); v1.5.0's tasks crash.
    let (good, bad) = (
        format!("sha256:{}", "4".repeat(64)),
        format!("sha256:{}", "5".repeat(64)),
    );
    let faults =
        FaultScript::new().image(amagent::cloud::sim::ImageRule::new(&bad).crash_after(15));
    let model = amagent::config::load_dir(&repo).unwrap();
    assert!(model.environments["staging"].services[0].deploy.revert_pr);
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, faults, amagent::sandbox::epoch());
    let now = amagent::sandbox::epoch();
    sandbox
        .sim
        .push_image("aussie-markets/api", &good, &[&v14, "v1.4.0"], now);
    sandbox
        .sim
        .push_image("aussie-markets/api", &bad, &[&v15, "v1.5.0"], now);
    let journal: Arc<dyn Journal> = Arc::new(LocalJournal::new(tmp.path().join("journal")));
    let mut agent = envrepo::sim_agent(&remote, tmp.path(), &sandbox, journal.clone());
    let github = FakeGitHub::start();
    agent.reporter = Arc::new(
        GitHub::from_token(&github.url, "o", "r", Secret::new("ghp_gate_revert_token")).unwrap(),
    );
    agent.tick().await.unwrap(); // adopt

    merge(
        "ref: v1.3.0",
        "ref: v1.4.0",
        "Merge pull request #11 from team/v1.4.0",
    );
    let tick = agent.tick().await.unwrap();
    let staging = tick.applied.iter().find(|r| r.env == "staging").unwrap();
    assert_eq!(staging.outcome, Outcome::Succeeded, "{staging:?}");
    assert!(
        github.pulls().is_empty(),
        "nothing rolled back, nothing to revert"
    );

    merge(
        "ref: v1.4.0",
        "ref: v1.5.0",
        "Merge pull request #12 from team/v1.5.0",
    );
    let tick = agent.tick().await.unwrap();
    let staging = tick.applied.iter().find(|r| r.env == "staging").unwrap();
    assert!(staging.deploys[0].rolled_back, "{staging:?}");

    let pulls = github.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pr = &pulls[0];
    assert_eq!(
        pr.title,
        "Revert staging api to what runs (rolled back by the health gate)"
    );
    assert!(
        pr.body
            .starts_with("The health gate returned `api` in **staging**"),
        "{}",
        pr.body
    );
    assert!(pr.body.contains("Undoes the change of #12."), "{}", pr.body);
    git(&repo, &["fetch", "-q", "origin"]);
    let diff = git(
        &repo,
        &[
            "diff",
            "--unified=0",
            "main",
            &format!("origin/{}", pr.head),
        ],
    );
    let changed = changed_lines(&diff);
    assert_eq!(
        changed,
        ["-      ref: v1.5.0", "+      ref: v1.4.0"],
        "{diff}"
    );
    // The merge's comment says so; the journal keeps it.
    let comment = github.comments().into_iter().find(|c| c.pr == 12).unwrap();
    assert!(
        comment
            .body
            .contains(&format!("Revert pull request #{} opened", pr.number)),
        "{}",
        comment.body
    );
    let records = journal.read(Some("staging")).await.unwrap();
    let step = records.iter().find(|r| r.step == "revert-pr").unwrap();
    assert_eq!(step.outcome.as_deref(), Some("succeeded"));
    assert_eq!(step.detail["pull_request"], pr.number);
}
