//! Terminal output a person reads (issue 20, item 6): the progress line ends before the
//! summary, a deploy that changes nothing says so, `plan` names what it does not plan and how
//! deep the history is.

mod support;

use std::path::Path;
use std::process::Command;
use support::envrepo::{edit, example};

fn amagent(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    example(dir.path(), |t| t.to_string());
    dir
}

#[test]
fn in_a_terminal_the_summary_starts_on_its_own_line_after_the_spinners() {
    let repo = checkout();
    let bin = env!("CARGO_BIN_EXE_amagent");
    // util-linux's `script` runs the command in a pseudo-terminal: spinners are drawn.
    let out = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{bin} deploy --env staging --service api --image v1.4.0 --sim healthy"
        ))
        .arg("/dev/null")
        .current_dir(repo.path())
        .output()
        .expect("`script` (util-linux) runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    let at = screen.find("staging — run").expect("the summary");
    assert!(
        screen[..at].contains("\u{1b}["),
        "no spinner was drawn: {screen}"
    );
    assert!(
        screen[..at].ends_with('\n'),
        "{:?}",
        &screen[at.saturating_sub(80)..at + 20]
    );
}

#[test]
fn a_deploy_that_changes_nothing_says_already_up_to_date() {
    let repo = checkout();
    // The simulated account runs the spec's ref (v1.3.0) already.
    let args = [
        "deploy",
        "--env",
        "staging",
        "--service",
        "api",
        "--image",
        "v1.3.0",
    ];
    let (code, stdout, stderr) = amagent(repo.path(), &[&args[..], &["--sim", "healthy"]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("api        already up to date: aussie-markets-api-task:42"),
        "{stdout}"
    );
    assert!(!stdout.contains("deployed and verified"), "{stdout}");
}

#[test]
fn plan_names_the_uncommitted_changes_it_ignores() {
    let repo = checkout();
    let staging = repo.path().join("environments/staging.yaml");
    let text = std::fs::read_to_string(&staging).unwrap();
    std::fs::write(&staging, text.replace("desiredCount: 1", "desiredCount: 3")).unwrap();
    std::fs::write(repo.path().join("pipelines/new.yaml"), "# draft\n").unwrap();
    let (code, _, stderr) = amagent(repo.path(), &["plan"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("uncommitted changes are not planned")
            && stderr.contains("environments/staging.yaml")
            && stderr.contains("pipelines/new.yaml"),
        "{stderr}"
    );
    let (_, stdout, _) = amagent(repo.path(), &["--output", "json", "plan"]);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        json["not_planned"],
        serde_json::json!(["environments/staging.yaml", "pipelines/new.yaml"])
    );
    // A clean tree: no note.
    let clean = checkout();
    let (_, _, stderr) = amagent(clean.path(), &["plan"]);
    assert!(!stderr.contains("uncommitted"), "{stderr}");
}

#[test]
fn plan_from_before_the_first_commit_says_how_deep_the_history_is() {
    let repo = checkout();
    edit(
        repo.path(),
        "environments/staging.yaml",
        "desiredCount: 1",
        "desiredCount: 2",
        "scale",
    );
    let (code, _, stderr) = amagent(repo.path(), &["plan", "--from", "HEAD~3"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("HEAD has 2 commit(s)"), "{stderr}");
    assert!(stderr.contains("HEAD~1 is the first commit"), "{stderr}");
    assert!(!stderr.contains("parent 0"), "{stderr}");
    assert_eq!(
        amagent(repo.path(), &["plan", "--from", "HEAD~1"]).0,
        Some(0)
    );
}
