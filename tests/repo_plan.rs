//! `repo` and `plan` on real git repositories built with git2: a work tree with history, a bare
//! remote it is pushed to, and a clone the agent fetches from it.

use amagent::config::StageKind::{self, *};
use amagent::plan::plan;
use amagent::repo::{EnvRepo, GitCredentials, RepoError};
use git2::{Repository, Signature};
use std::path::Path;
use std::process::Command;

const STAGING: &str = include_str!("../environments/staging.yaml");
const PRODUCTION: &str = include_str!("../environments/production.yaml");
const PIPELINE: &str = include_str!("../pipelines/api.yaml");

fn write(dir: &Path, path: &str, text: &str) {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

/// Stage everything in the work tree and commit it on HEAD.
fn commit(repo: &Repository, message: &str) -> String {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("Ada Lovelace", "ada@example.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
        .to_string()
}

struct History {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    repo: Repository,
    /// The worked example, then: ref bump, major bump, lifecycle change.
    commits: [String; 4],
}

fn history() -> History {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("envrepo");
    let repo = Repository::init_opts(
        &path,
        git2::RepositoryInitOptions::new().initial_head("main"),
    )
    .unwrap();
    write(&path, "README.md", "environments\n");
    write(&path, "environments/staging.yaml", STAGING);
    write(&path, "environments/production.yaml", PRODUCTION);
    write(&path, "pipelines/api.yaml", PIPELINE);
    let c0 = commit(&repo, "Add staging and production");

    let bumped = STAGING.replace("ref: v1.3.0", "ref: v1.3.1");
    write(&path, "environments/staging.yaml", &bumped);
    let c1 = commit(
        &repo,
        "Merge pull request #101 from aussie-markets/api-1.3.1\n\nBump api to v1.3.1",
    );

    let major = bumped.replace("ref: v1.3.1", "ref: v2.0.0");
    write(&path, "environments/staging.yaml", &major);
    let c2 = commit(&repo, "Bump api to v2.0.0 (#102)");

    let lifecycle = major.replace("keepLastTagged: 10 ", "keepLastTagged: 20 ");
    write(&path, "environments/staging.yaml", &lifecycle);
    let c3 = commit(&repo, "Keep 20 images in staging (#103)");

    History {
        _dir: dir,
        path,
        repo,
        commits: [c0, c1, c2, c3],
    }
}

fn stages_of(p: &amagent::plan::Plan, env: &str, service: &str) -> Vec<StageKind> {
    p.environment(env)
        .and_then(|e| e.service(service))
        .map(|s| s.stage_kinds())
        .unwrap_or_default()
}

#[test]
fn three_commits_plan_exactly_the_expected_stages() {
    let h = history();
    let repo = EnvRepo::open(&h.path).unwrap();
    let model = |i: usize| repo.model_at(&h.commits[i]).unwrap();

    // 1. source ref bump: build, deploy, lifecycle in staging only.
    let p = plan(&model(0), &model(1));
    assert_eq!(p.environments.len(), 1);
    assert_eq!(stages_of(&p, "staging", "api"), [Build, Deploy, Lifecycle]);
    let staging = &p.environment("staging").unwrap().services[0];
    assert_eq!(staging.stages[0].reason, "source ref v1.3.0 → v1.3.1");

    // 2. major tag bump: the `major` snapshot policy snapshots first.
    let p = plan(&model(1), &model(2));
    assert_eq!(
        stages_of(&p, "staging", "api"),
        [Build, Snapshot, Deploy, Lifecycle]
    );
    let snapshot = &p.environment("staging").unwrap().services[0].stages[1];
    assert_eq!(snapshot.reason, "major version 1 → 2");

    // 3. lifecycle rule change: lifecycle alone.
    let p = plan(&model(2), &model(3));
    assert_eq!(stages_of(&p, "staging", "api"), [Lifecycle]);
    assert!(p.environment("production").is_none());

    // All three at once: the newest state wins, the major bump still snapshots.
    let p = plan(&model(0), &model(3));
    assert_eq!(
        stages_of(&p, "staging", "api"),
        [Build, Snapshot, Deploy, Lifecycle]
    );
}

#[test]
fn commits_between_carry_pull_request_numbers() {
    let h = history();
    let repo = EnvRepo::open(&h.path).unwrap();
    let commits = repo.commits_between(&h.commits[0], "HEAD").unwrap();
    let ids: Vec<&str> = commits.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [&h.commits[1], &h.commits[2], &h.commits[3]]);
    let prs: Vec<Option<u64>> = commits.iter().map(|c| c.pull_request).collect();
    assert_eq!(prs, [Some(101), Some(102), Some(103)]);
    assert_eq!(
        commits[0].summary,
        "Merge pull request #101 from aussie-markets/api-1.3.1"
    );
    assert_eq!(commits[0].author, "Ada Lovelace");
}

#[test]
fn semver_tags_are_listed_in_version_order() {
    let h = history();
    let c1 = h
        .repo
        .find_object(git2::Oid::from_str(&h.commits[1]).unwrap(), None)
        .unwrap();
    let c3 = h
        .repo
        .find_object(git2::Oid::from_str(&h.commits[3]).unwrap(), None)
        .unwrap();
    let sig = Signature::now("Ada", "ada@example.com").unwrap();
    h.repo.tag("v1.10.0", &c3, &sig, "release", false).unwrap(); // annotated
    h.repo.tag_lightweight("v1.2.0", &c1, false).unwrap();
    h.repo.tag_lightweight("latest", &c3, false).unwrap();
    h.repo.tag_lightweight("v2", &c3, false).unwrap();
    let repo = EnvRepo::open(&h.path).unwrap();
    let tags = repo.semver_tags("v").unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["v1.2.0", "v1.10.0"]);
    assert_eq!(tags[0].commit, h.commits[1]);
    assert_eq!(
        tags[1].commit, h.commits[3],
        "annotated tags peel to their commit"
    );
}

#[test]
fn clone_from_a_bare_remote_then_fetch_new_commits() {
    let h = history();
    let remote_dir = tempfile::tempdir().unwrap();
    let bare = Repository::init_bare(remote_dir.path()).unwrap();
    drop(bare);
    let url = remote_dir.path().to_str().unwrap().to_string();
    let mut remote = h.repo.remote("origin", &url).unwrap();
    remote
        .push(&["refs/heads/main:refs/heads/main"], None)
        .unwrap();

    let cache = tempfile::tempdir().unwrap();
    let dest = cache.path().join("mirror");
    let creds = GitCredentials::default();
    let agent = EnvRepo::open_or_clone(&url, &dest, &creds).unwrap();
    assert_eq!(agent.resolve("main").unwrap().to_string(), h.commits[3]);
    assert_eq!(agent.model_at("main").unwrap().environments.len(), 2);

    // A new merge lands on the remote; the agent's next fetch sees it.
    write(
        &h.path,
        "environments/staging.yaml",
        &STAGING.replace("ref: v1.3.0", "ref: v3.0.0"),
    );
    let c4 = commit(&h.repo, "Bump api to v3.0.0 (#104)");
    remote
        .push(&["refs/heads/main:refs/heads/main"], None)
        .unwrap();
    let agent = EnvRepo::open_or_clone(&url, &dest, &creds).unwrap();
    assert_eq!(agent.resolve("main").unwrap().to_string(), c4);
    let p = plan(
        &agent.model_at(&h.commits[3]).unwrap(),
        &agent.model_at("main").unwrap(),
    );
    assert_eq!(
        stages_of(&p, "staging", "api"),
        [Build, Snapshot, Deploy, Lifecycle]
    );
}

#[test]
fn clone_of_a_missing_remote_says_which() {
    let cache = tempfile::tempdir().unwrap();
    let err = EnvRepo::open_or_clone(
        "/nonexistent/envrepo.git",
        &cache.path().join("m"),
        &GitCredentials::default(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, RepoError::Clone { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/envrepo.git"));
}

#[test]
fn invalid_configuration_at_a_revision_is_reported_with_positions() {
    let h = history();
    write(
        &h.path,
        "environments/staging.yaml",
        &STAGING.replace("cpu: 256", "cpu: 300"),
    );
    let bad = commit(&h.repo, "Break staging");
    let repo = EnvRepo::open(&h.path).unwrap();
    match repo.model_at(&bad) {
        Err(RepoError::InvalidConfig { diagnostics, .. }) => {
            let text = diagnostics.to_string();
            assert!(
                text.starts_with("environments/staging.yaml:34:10: `cpu: 300`"),
                "{text}"
            );
        }
        other => panic!("expected invalid config, got {:?}", other.map(|_| ())),
    }
}

fn amagent(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn plan_command_json_lists_stages_per_environment_and_service() {
    let h = history();
    let repo = h.path.to_str().unwrap();
    let (code, stdout, stderr) = amagent(&[
        "--output",
        "json",
        "plan",
        "--from",
        &h.commits[1],
        "--to",
        &h.commits[2],
        "--repo",
        repo,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["from"], h.commits[1].as_str());
    assert_eq!(json["commits"][0]["pull_request"], 102);
    let env = &json["plan"]["environments"][0];
    assert_eq!(env["name"], "staging");
    let stages: Vec<&str> = env["services"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["build", "snapshot", "deploy", "lifecycle"]);
}

#[test]
fn plan_command_text_defaults_to_the_last_commit() {
    let h = history();
    let (code, stdout, _) = amagent(&["plan", "--repo", h.path.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("Keep 20 images in staging (#103)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("lifecycle  lifecycle rules changed: keep last 10 → 20 tagged images"),
        "{stdout}"
    );
}

#[test]
fn plan_command_from_the_first_commit_plans_everything() {
    let h = history();
    let (code, stdout, _) = amagent(&[
        "plan",
        "--to",
        &h.commits[0],
        "--repo",
        h.path.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("staging [new]"), "{stdout}");
    assert!(stdout.contains("production [new]"), "{stdout}");
}

#[test]
fn plan_command_exit_codes() {
    let h = history();
    let repo = h.path.to_str().unwrap();
    let (code, _, stderr) = amagent(&["plan", "--from", "no-such-rev", "--repo", repo]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("revision `no-such-rev` not found"),
        "{stderr}"
    );

    write(
        &h.path,
        "pipelines/api.yaml",
        &PIPELINE.replace("linux/amd64", "linux/s390x"),
    );
    let bad = commit(&h.repo, "Break the pipeline");
    let (code, _, stderr) = amagent(&["plan", "--to", &bad, "--repo", repo]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("pipelines/api.yaml:10:13: unsupported build platform"),
        "{stderr}"
    );

    let empty = tempfile::tempdir().unwrap();
    let (code, _, _) = amagent(&["plan", "--repo", empty.path().to_str().unwrap()]);
    assert_eq!(code, Some(3));
}

#[test]
fn plan_exit_code_says_whether_the_change_plans_anything() {
    let h = history();
    let repo = h.path.to_str().unwrap();
    let (code, stdout, _) = amagent(&["plan", "--exit-code", "--repo", repo]);
    assert_eq!(
        code,
        Some(1),
        "the last commit changes lifecycle rules: {stdout}"
    );
    let (code, _, _) = amagent(&["plan", "--repo", repo]);
    assert_eq!(code, Some(0), "without the flag a plan is not a failure");

    write(&h.path, "README.md", "environments repo\n");
    commit(&h.repo, "Reword the README");
    let (code, stdout, _) = amagent(&["plan", "--exit-code", "--repo", repo]);
    assert_eq!(code, Some(0), "nothing planned: {stdout}");
    let (code, _, _) = amagent(&[
        "plan",
        "--exit-code",
        "--from",
        "no-such-rev",
        "--repo",
        repo,
    ]);
    assert_eq!(code, Some(3), "errors keep their own codes");
}
