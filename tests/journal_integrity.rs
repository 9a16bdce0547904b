//! A journal that cannot be read stops every command the same way — exit 4, naming
//! `file:line` and the repair — and `amagent journal check/repair` make it usable again. A
//! line torn by a crash at the end is tolerated; garbage in the middle is not.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn amagent(args: &[&str], journal: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(args)
        .arg("--journal")
        .arg(journal)
        .current_dir(root())
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn deploy(journal: &Path, image: &str) -> (Option<i32>, String) {
    amagent(
        &[
            "--output",
            "json",
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
            "--image",
            image,
            "--sim",
            "healthy",
        ],
        journal,
    )
}

fn mutations(output: &str) -> u64 {
    let start = output.find('{').expect("a JSON report");
    let json: serde_json::Value = serde_json::Deserializer::from_str(&output[start..])
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    [
        "RegisterTaskDefinition",
        "UpdateService",
        "BatchDeleteImage",
    ]
    .iter()
    .map(|op| json["aws_calls"][op].as_u64().unwrap_or(0))
    .sum()
}

#[test]
fn a_garbage_line_stops_every_command_until_repaired() {
    let journal = tempfile::tempdir().unwrap();
    let (code, out) = deploy(journal.path(), "v1.4.0");
    assert_eq!(code, Some(0), "{out}");
    let file = journal.path().join("staging.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 3);
    let broken = format!("{}\nnot a record\n{}\n", lines[0], lines[1..].join("\n"));
    std::fs::write(&file, broken).unwrap();
    let at = format!("{}:2", file.display());

    let (code, out) = deploy(journal.path(), "v1.4.1");
    assert_eq!(code, Some(4), "deploy: {out}");
    assert!(
        out.contains(&at) && out.contains("amagent journal repair"),
        "{out}"
    );
    assert_eq!(mutations(&out), 0, "deploy changed AWS: {out}");
    for args in [
        // The simulated deploys' journal: history reads it with --simulated.
        &["history", "--simulated"][..],
        &["status", "--env", "staging", "--sim", "healthy"],
        &[
            "rollback",
            "--env",
            "staging",
            "--service",
            "api",
            "--sim",
            "healthy",
        ],
        &["lifecycle", "--env", "staging", "--sim", "healthy"],
    ] {
        let (code, out) = amagent(args, journal.path());
        assert_eq!(code, Some(4), "{args:?}: {out}");
        assert!(out.contains(&at), "{args:?}: {out}");
    }

    let (code, out) = amagent(&["journal", "check"], journal.path());
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains(&at), "{out}");
    let (code, out) = amagent(&["journal", "repair"], journal.path());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("moved line(s) 2"), "{out}");
    assert_eq!(
        std::fs::read_to_string(journal.path().join("staging.jsonl.rejected")).unwrap(),
        "not a record\n"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let (code, out) = amagent(&["journal", "check"], journal.path());
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = deploy(journal.path(), "v1.4.1");
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_torn_last_line_is_tolerated() {
    let journal = tempfile::tempdir().unwrap();
    let (code, out) = deploy(journal.path(), "v1.4.0");
    assert_eq!(code, Some(0), "{out}");
    let file = journal.path().join("staging.jsonl");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"at\":\"2026-11-25T09:00:02Z\",\"run\":\"r1\",\"env\":\"sta");
    std::fs::write(&file, text).unwrap();
    let (code, out) = deploy(journal.path(), "v1.4.1");
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = amagent(&["history", "--simulated"], journal.path());
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn a_journal_that_cannot_be_written_stops_the_deploy_before_it_acts() {
    let journal = tempfile::tempdir().unwrap();
    // A directory where the environment's journal file belongs: neither readable nor
    // writable as a file (root ignores permissions, so this is the portable way).
    std::fs::create_dir(journal.path().join("staging.jsonl")).unwrap();
    // A journal of simulated runs (the deploy below is simulated).
    amagent::state::journal::realm::mark_simulated(journal.path()).unwrap();
    let (code, out) = deploy(journal.path(), "v1.4.0");
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("staging.jsonl"), "{out}");
    assert_eq!(mutations(&out), 0, "deploy changed AWS: {out}");
}

#[test]
fn a_journal_file_that_is_a_device_is_refused_at_once() {
    let journal = tempfile::tempdir().unwrap();
    // Once read until the OOM killer came.
    std::os::unix::fs::symlink("/dev/zero", journal.path().join("staging.jsonl")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["history", "--journal"])
        .arg(journal.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A guard against the old behaviour only (reading forever), not a speed assertion.
    let mut waited = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if waited == 600 {
            child.kill().unwrap();
            panic!("`amagent history` still reading /dev/zero after a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(4), "{err}");
    assert!(err.contains("staging.jsonl: not a regular file"), "{err}");
}
