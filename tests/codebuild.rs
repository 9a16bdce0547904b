//! The `codebuild` builder end to end on the simulator (issue 22): the agent applies real
//! merges of an environments repo whose pipeline says `builder: codebuild`. Two services'
//! refs change in one merge → two CodeBuild builds at once → the digests they export are
//! deployed; a failing build's log tail reaches the PR comment; an agent that dies mid-build
//! and starts again follows the same build; a stopped agent stops its build.

mod support;

use amagent::cloud::sim::{BuildRule, FaultScript};
use amagent::cloud::types::BuildStatus;
use amagent::report::github::GitHub;
use amagent::sandbox::Sandbox;
use amagent::secret::Secret;
use amagent::stages::deploy::Outcome;
use amagent::state::journal::{Journal, LocalJournal, Phase, Record};
use std::path::Path;
use std::sync::Arc;
use support::dying::DiesAt;
use support::envrepo::{self, edit, git, source_repo};
use support::github::FakeGitHub;

const PROJECT: &str = "aussie-markets-builds";
const BUCKET: &str = "aussie-markets-build-sources";

/// The api's service block, copied as a second service `web` (its own ECS service, task
/// family, target group and ECR repository).
fn with_web(text: &str) -> String {
    let start = text.find("  - name: api").expect("the api service");
    let block = &text[start..];
    let end = block[1..]
        .find("\n  - name:")
        .map_or(block.len(), |i| i + 1);
    let web = block[..end]
        .replace("name: api", "name: web")
        .replace("aussie-markets-api", "aussie-markets-web")
        .replace("aussie-markets/api", "aussie-markets/web")
        .replace("container: api", "container: web")
        .replace("/api/", "/web/");
    format!("{}{}\n{}", &text[..start + end], "", web.trim_end()) + "\n"
}

/// The example with the api pipeline building on CodeBuild, staging running api and web
/// from `source`, staging snapshots off (not what this test is about).
fn example(repo: &Path, source: &Path, create: bool) {
    let create = if create {
        "\n    create:\n      serviceRole: arn:aws:iam::123456789012:role/amagent-codebuild"
    } else {
        ""
    };
    envrepo::example(repo, |text| {
        let text = text.replace(
            "url: https://github.com/aussie-markets/api.git",
            &format!("url: {}", source.display()),
        );
        if text.contains("kind: Pipeline") {
            return text.replacen(
                "  platform: linux/amd64   # Fargate X86_64\n",
                &format!(
                    "  platform: linux/amd64   # Fargate X86_64\n  builder: codebuild\n  codebuild:\n    project: {PROJECT}\n    sourceBucket: {BUCKET}{create}\n"
                ),
                1,
            );
        }
        match text.contains("name: staging") {
            true => with_web(&text.replace("policy: major", "policy: never")),
            false => text,
        }
    });
}

struct World {
    tmp: tempfile::TempDir,
    repo: std::path::PathBuf,
    sandbox: Sandbox,
    commits: (String, String),
}

fn world(faults: FaultScript, project: bool, create: bool) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("src");
    std::fs::create_dir_all(&source).unwrap();
    let commits = source_repo(&source);
    let repo = tmp.path().join("envrepo");
    example(&repo, &source, create);
    let model = amagent::config::load_dir(&repo).unwrap_or_else(|e| panic!("{e:?}"));
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, faults, amagent::sandbox::epoch());
    if project {
        sandbox.sim.add_build_project(PROJECT);
    }
    sandbox.sim.add_bucket(BUCKET);
    World {
        tmp,
        repo,
        sandbox,
        commits,
    }
}

fn agent(w: &World, journal: Arc<dyn Journal>) -> amagent::daemon::Agent {
    envrepo::sim_agent(&w.repo, w.tmp.path(), &w.sandbox, journal)
}

fn journal(w: &World) -> Arc<dyn Journal> {
    Arc::new(LocalJournal::new(w.tmp.path().join("journal")))
}

/// Staging's api to v1.4.0 and web to v1.5.0, in one merge.
fn merge_both(repo: &Path) {
    let file = repo.join("environments/staging.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text =
        text.replacen("ref: v1.3.0", "ref: v1.4.0", 1)
            .replacen("ref: v1.3.0", "ref: v1.5.0", 1);
    std::fs::write(&file, text).unwrap();
    git(
        repo,
        &["commit", "-qam", "Merge pull request #21 from team/release"],
    );
}

/// Staging's api to v1.4.0, merged as pull request `pr`.
fn merge_api(repo: &Path, pr: u32) {
    let message = format!("Merge pull request #{pr}");
    edit(
        repo,
        "environments/staging.yaml",
        "ref: v1.3.0",
        "ref: v1.4.0",
        &message,
    );
}

fn n(w: &World, op: &str) -> u64 {
    w.sandbox.sim.calls().get(op).copied().unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn two_services_build_at_once_on_codebuild_and_deploy_the_digests_they_report() {
    let w = world(FaultScript::new(), true, false);
    let journal = journal(&w);
    let mut a = agent(&w, journal.clone());
    a.tick().await.unwrap(); // adopts
    merge_both(&w.repo);
    let tick = a.tick().await.unwrap();
    let report = &tick.applied[0];
    assert_eq!(report.outcome, Outcome::Succeeded, "{report:?}");
    assert_eq!(n(&w, "StartBuild"), 2);

    // Both builds ran, and at the same time.
    let runs = w.sandbox.sim.build_runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(
        runs.iter().all(|r| r.status == BuildStatus::Succeeded),
        "{runs:?}"
    );
    let (a0, a1) = (runs[0].started, runs[0].ended.unwrap());
    let (b0, b1) = (runs[1].started, runs[1].ended.unwrap());
    assert!(a0 < b1 && b0 < a1, "the builds overlapped: {runs:?}");

    // Each service runs the digest its build put in ECR under the commit's tag.
    for (service, repository, commit) in [
        ("api", "aussie-markets/api", &w.commits.0),
        ("web", "aussie-markets/web", &w.commits.1),
    ] {
        let deployed = report
            .deploys
            .iter()
            .find(|d| d.service == service)
            .unwrap_or_else(|| panic!("{service} deployed: {report:?}"));
        let image = deployed.image.clone();
        let pushed = w.sandbox.sim.images(repository);
        let built = pushed
            .iter()
            .find(|i| i.tags.contains(commit))
            .unwrap_or_else(|| panic!("{repository} has {commit}: {pushed:?}"));
        assert!(
            image.ends_with(&format!("{repository}@{}", built.digest)),
            "{image}"
        );
    }

    // The journal holds each build's id, started and finished.
    let records = journal.read(Some("staging")).await.unwrap();
    let builds: Vec<(Phase, Option<String>)> = records
        .iter()
        .filter(|r| r.step == "build")
        .map(|r| (r.phase, r.outcome.clone()))
        .collect();
    assert_eq!(
        builds.iter().filter(|b| b.0 == Phase::Started).count(),
        2,
        "{builds:?}"
    );
    assert_eq!(
        builds
            .iter()
            .filter(|b| b.1.as_deref() == Some("succeeded"))
            .count(),
        2,
        "{builds:?}"
    );

    // A merge of the same refs elsewhere finds the images by their commit tags: no build.
    let calls = n(&w, "StartBuild");
    edit(
        &w.repo,
        "environments/staging.yaml",
        "memory: 512 ",
        "memory: 1024 ",
        "Merge pull request #22",
    );
    let tick = a.tick().await.unwrap();
    assert_eq!(tick.applied[0].outcome, Outcome::Succeeded);
    assert_eq!(n(&w, "StartBuild"), calls, "nothing rebuilt");
}

#[tokio::test(start_paused = true)]
async fn a_failing_build_puts_its_log_tail_in_the_pr_comment_and_the_other_service_deploys() {
    let faults = FaultScript::new().codebuild(
        BuildRule::new("aussie-markets/web")
            .fail_in("BUILD")
            .log_lines(&[
                "npm ERR! Missing script: \"build\"",
                "npm ERR! A complete log of this run can be found in: /root/.npm/_logs/debug.log",
            ]),
    );
    let w = world(faults, true, false);
    let mut a = agent(&w, journal(&w));
    let github = FakeGitHub::start();
    a.reporter = Arc::new(
        GitHub::from_token(&github.url, "o", "r", Secret::new("ghp_codebuild_token")).unwrap(),
    );
    a.tick().await.unwrap();
    merge_both(&w.repo);
    let tick = a.tick().await.unwrap();
    let report = &tick.applied[0];
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    let web = report.deploys.iter().find(|d| d.service == "web").unwrap();
    let reason = web.reason.clone().unwrap_or_default();
    assert!(reason.contains("failed on CodeBuild"), "{reason}");
    let api = report.deploys.iter().find(|d| d.service == "api").unwrap();
    assert_eq!(
        api.outcome,
        Outcome::Succeeded,
        "api still deployed: {api:?}"
    );

    let comment = github
        .comments()
        .into_iter()
        .rfind(|c| c.pr == 21)
        .expect("a comment on #21");
    let body = comment.versions.last().cloned().unwrap_or(comment.body);
    assert!(
        body.contains("npm ERR! Missing script: \\\"build\\\"")
            || body.contains("npm ERR! Missing script: \"build\""),
        "{body}"
    );
    assert!(body.contains("phase BUILD"), "{body}");
}

#[tokio::test(start_paused = true)]
async fn an_agent_that_dies_mid_build_follows_the_same_build_when_it_starts_again() {
    let w = world(FaultScript::new(), true, false);
    let journal = journal(&w);
    let dying = DiesAt::new(journal.clone(), "build");
    let died = dying.died.clone();
    let mut a = agent(&w, dying.clone());
    a.tick().await.unwrap();
    merge_api(&w.repo, 23);
    dying.arm();
    tokio::select! {
        r = a.tick() => panic!("agent A should have died at its build: {r:?}"),
        _ = died.notified() => {}
    }
    drop(a);
    assert_eq!(n(&w, "StartBuild"), 1);

    let mut b = agent(&w, journal.clone());
    let tick = b.tick().await.unwrap();
    let report = tick
        .applied
        .iter()
        .find(|r| r.env == "staging")
        .expect("B applied staging");
    assert_eq!(report.outcome, Outcome::Succeeded, "{report:?}");
    assert_eq!(
        n(&w, "StartBuild"),
        1,
        "B followed A's build instead of starting another"
    );
    let runs = w.sandbox.sim.build_runs();
    assert_eq!(runs.len(), 1);
    let records = journal.read(Some("staging")).await.unwrap();
    let ended: Vec<&Record> = records
        .iter()
        .filter(|r| r.step == "build" && r.phase == Phase::Finished)
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].detail["build_id"], runs[0].id.as_str());
    assert_eq!(ended[0].outcome.as_deref(), Some("succeeded"));
}

#[tokio::test(start_paused = true)]
async fn an_agent_stopped_mid_build_stops_its_build() {
    let faults = FaultScript::new().codebuild(BuildRule::new("*").build_seconds(600));
    let w = world(faults, true, false);
    let journal = journal(&w);
    let mut a = agent(&w, journal.clone());
    a.tick().await.unwrap();
    merge_api(&w.repo, 24);
    tokio::select! {
        r = a.tick() => panic!("the build takes 10 minutes: {r:?}"),
        _ = tokio::time::sleep(std::time::Duration::from_secs(120)) => {}
    }
    a.interrupted().await;
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let runs = w.sandbox.sim.build_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, BuildStatus::Stopped, "{runs:?}");
    let records = journal.read(Some("staging")).await.unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.step == "build" && r.outcome.as_deref() == Some("stopped")),
        "{records:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_project_is_created_when_the_pipeline_says_how_and_named_when_not() {
    let w = world(FaultScript::new(), false, false);
    let mut a = agent(&w, journal(&w));
    a.tick().await.unwrap();
    merge_api(&w.repo, 25);
    let tick = a.tick().await.unwrap();
    let reason = tick.applied[0].deploys[0]
        .reason
        .clone()
        .unwrap_or_default();
    assert!(
        reason.contains(&format!("CodeBuild project `{PROJECT}` not found")),
        "{reason}"
    );
    assert!(
        reason.contains("serviceRole"),
        "says how to have it created: {reason}"
    );
    assert_eq!(n(&w, "StartBuild"), 0);

    let w = world(FaultScript::new(), false, true);
    let mut a = agent(&w, journal(&w));
    a.tick().await.unwrap();
    merge_api(&w.repo, 26);
    let tick = a.tick().await.unwrap();
    assert_eq!(tick.applied[0].outcome, Outcome::Succeeded, "{tick:?}");
    assert_eq!(n(&w, "CreateProject"), 1);
    assert_eq!(n(&w, "StartBuild"), 1);
}

#[tokio::test(start_paused = true)]
async fn the_source_bundle_is_uploaded_once_per_content() {
    let w = world(FaultScript::new(), true, false);
    let mut a = agent(&w, journal(&w));
    a.tick().await.unwrap();
    merge_both(&w.repo);
    a.tick().await.unwrap();
    // api (v1.4.0) and web (v1.5.0): two trees, two bundles.
    let puts = n(&w, "PutObject");
    assert!(puts >= 2, "{puts}");
    let keys = w
        .sandbox
        .sim
        .cloud()
        .s3
        .list(BUCKET, "amagent/sources/")
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.ends_with(".zip") && k.len() == "amagent/sources/".len() + 64 + 4),
        "{keys:?}"
    );
}

/// docs/operations.md shows the buildspec the example's api pipeline renders (v1.4.0 at a
/// fixed commit): the documented one is the real one.
#[test]
fn the_buildspec_in_operations_md_is_the_rendered_one() {
    use amagent::stages::image::codebuild::buildspec::{BuildSpecInput, render};
    use std::collections::BTreeMap;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = amagent::config::load_dir(root).unwrap_or_else(|e| panic!("{e:?}"));
    let build = &model.pipelines["api"].build;
    let commit = "3f2a9c0e5b7d1a4f6e8c2b0d9a7f5e3c1b8d6a4f";
    let labels = BTreeMap::from([
        (
            "org.opencontainers.image.created".to_string(),
            "2025-12-02T08:00:00+00:00".to_string(),
        ),
        (
            "org.opencontainers.image.revision".to_string(),
            commit.to_string(),
        ),
        (
            "org.opencontainers.image.source".to_string(),
            "https://github.com/aussie-markets/api.git".to_string(),
        ),
    ]);
    let rendered = render(&BuildSpecInput {
        context: &build.context,
        dockerfile: &build.dockerfile,
        args: &build.args,
        platform: &build.platform,
        labels: &labels,
        timestamp: 1_764_662_400,
        tags: &[commit.to_string(), "v1.4.0".to_string()],
    });
    let docs = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
    let start = docs
        .find("```yaml\nversion: 0.2\n")
        .expect("the buildspec block")
        + "```yaml\n".len();
    let documented = &docs[start..start + docs[start..].find("```").unwrap()];
    assert_eq!(
        documented, rendered,
        "update docs/operations.md's buildspec to what render() gives"
    );
}
