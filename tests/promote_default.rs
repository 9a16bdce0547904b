//! `amagent promote --tag T` without `--commit` tags the newest commit on the branch whose
//! images staging verified — not the head — and says which; with none verified it refuses
//! before any tag is created or pushed. Through the binary, against a real bare remote.

mod support;

use amagent::state::journal::{Journal, LocalJournal, Phase, Record};
use std::path::Path;
use std::process::{Command, Output};
use support::envrepo::git;

fn record(n: i64, service: Option<&str>, step: &str, detail: serde_json::Value) -> Record {
    Record {
        at: chrono::DateTime::from_timestamp(1_790_000_000 + n, 0).unwrap(),
        run: "staging-verified".into(),
        env: "staging".into(),
        service: service.map(String::from),
        step: step.into(),
        phase: Phase::Finished,
        outcome: Some("succeeded".into()),
        detail,
    }
}

/// A journal of simulated runs in which staging applied `commit` and verified its api image.
fn staging_verified(dir: &Path, commit: &str) {
    let journal = LocalJournal::new(dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let image = format!(
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api@sha256:{}",
        "a".repeat(64)
    );
    for r in [
        record(
            0,
            Some("api"),
            "deploy",
            serde_json::json!({ "image": image }),
        ),
        record(1, None, "apply", serde_json::json!({ "commit": commit })),
    ] {
        rt.block_on(journal.append(&r)).unwrap();
    }
    std::fs::write(dir.join("SIMULATED"), "").unwrap();
}

/// The environments repo (its first commit `verified`), a bare remote of it, and a newer
/// head nobody deployed yet, pushed. Returns (work tree, bare remote, verified, head).
fn repos(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf, String, String) {
    let work = tmp.join("envrepo");
    support::envrepo::example(&work, str::to_string);
    let verified = git(&work, &["rev-parse", "HEAD"]);
    let bare = tmp.join("remote.git");
    git(
        tmp,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
    std::fs::write(work.join("README.md"), "not yet deployed\n").unwrap();
    git(&work, &["add", "README.md"]);
    git(
        &work,
        &["commit", "-qm", "Merge pull request #5 from team/readme"],
    );
    git(&work, &["push", "-q", "origin", "main"]);
    let head = git(&work, &["rev-parse", "HEAD"]);
    (work, bare, verified, head)
}

fn promote(tmp: &Path, bare: &Path, journal: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amagent"))
        .current_dir(tmp)
        .args(["promote", "--tag", "v1.4.0", "--sim", "healthy", "--repo"])
        .arg(bare)
        .arg("--journal")
        .arg(journal)
        .arg("--cache")
        .arg(tmp.join("cache"))
        .env_remove("AMAGENT_JOURNAL")
        .env_remove("GITHUB_TOKEN")
        .env_remove("AMAGENT_REPO")
        .output()
        .unwrap()
}

#[test]
fn without_commit_the_newest_verified_commit_is_tagged_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, bare, verified, head) = repos(tmp.path());
    let journal = tmp.path().join("journal");
    staging_verified(&journal, &verified);

    let out = promote(tmp.path(), &bare, &journal);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tagged = git(&bare, &["rev-parse", "v1.4.0^{commit}"]);
    assert_eq!(
        tagged, verified,
        "the head {head} is not verified\n{stdout}{stderr}"
    );
    assert!(
        stdout.contains(&format!("tagging v1.4.0 at {}", &verified[..7]))
            && stdout.contains("the newest commit on main that staging verified")
            && stdout.contains("1 commit(s) behind the head"),
        "{stdout}{stderr}"
    );
}

#[test]
fn with_no_verified_commit_it_refuses_before_pushing_a_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, bare, _verified, _head) = repos(tmp.path());
    let journal = tmp.path().join("journal");

    let out = promote(tmp.path(), &bare, &journal);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("no commit on the branch is verified by staging"),
        "{stdout}{stderr}"
    );
    // No tag anywhere: not on the remote, and the version number is not used up.
    assert_eq!(git(&bare, &["tag", "--list"]), "", "{stdout}{stderr}");
}
