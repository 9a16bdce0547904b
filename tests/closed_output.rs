//! A reader that goes away (`amagent deploy … | head -3`) never aborts work in flight: the
//! deploy finishes or rolls back, journals its decision, and exits with its own documented
//! code — not a panic (101) between UpdateService and the gate.

use amagent::state::journal::{Journal, LocalJournal, Phase};
use std::path::Path;
use std::process::{Command, Stdio};

fn deploy_to_closed_pipes(scenario: &str, journal: &Path) -> Option<i32> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args([
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
            "--image",
            "v1.4.0",
            "--sim",
        ])
        .arg(scenario)
        .arg("--journal")
        .arg(journal)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read ends before the first line: every write the agent makes gets EPIPE.
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().unwrap().code()
}

fn finished(journal: &Path, step: &str) -> Vec<String> {
    let records = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(LocalJournal::new(journal).read(Some("staging")))
        .unwrap();
    records
        .iter()
        .filter(|r| r.step == step && r.phase == Phase::Finished)
        .filter_map(|r| r.outcome.clone())
        .collect()
}

#[test]
fn a_healthy_deploy_finishes_and_records_its_verdict() {
    let journal = tempfile::tempdir().unwrap();
    assert_eq!(deploy_to_closed_pipes("healthy", journal.path()), Some(0));
    assert_eq!(finished(journal.path(), "deploy"), ["succeeded"]);
    assert_eq!(finished(journal.path(), "run"), ["succeeded"]);
}

#[test]
fn a_failing_deploy_still_rolls_back_and_records_it() {
    let journal = tempfile::tempdir().unwrap();
    // 1: the deploy failed (and the journal says it was rolled back).
    assert_eq!(deploy_to_closed_pipes("crash", journal.path()), Some(1));
    assert_eq!(finished(journal.path(), "gate"), ["failed"]);
    assert_eq!(finished(journal.path(), "rollback"), ["succeeded"]);
    assert_eq!(finished(journal.path(), "deploy"), ["failed"]);
}
