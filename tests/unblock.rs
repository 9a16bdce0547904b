//! Known-bad images from the command line (issue 16 item 4): after a deploy of an image fails
//! the gate, `amagent deploy` of the same image is refused (naming the ways out), runs with
//! `--allow-bad`, and runs again by itself once `amagent unblock` cleared it. Each command is
//! a separate process on the simulator; the journal carries what is bad between them.

use std::path::Path;
use std::process::{Command, Output};

fn amagent(journal: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(args)
        .args(["--repo", env!("CARGO_MANIFEST_DIR"), "--journal"])
        .arg(journal)
        .output()
        .unwrap()
}

fn deploy(journal: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "deploy",
        "--env",
        "staging",
        "--service",
        "api",
        "--image",
        "v1.4.0",
        "--sim",
        "crash",
    ];
    args.extend_from_slice(extra);
    let out = amagent(journal, &args);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn a_bad_image_is_refused_until_allowed_or_unblocked() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("journal");
    let (code, out) = deploy(&journal, &[]);
    assert_eq!(code, Some(1), "the crashing image fails the gate: {out}");
    assert!(out.contains("rolled back"), "{out}");

    let (code, out) = deploy(&journal, &[]);
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("is known bad for staging/api (failed the health gate:"),
        "{out}"
    );
    let digest = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("the refusal names the digest")
        .trim_end_matches(|c: char| !c.is_ascii_hexdigit())
        .to_string();
    assert!(
        out.contains("FAILED (not rolled back"),
        "refused before anything changed: {out}"
    );

    let (code, out) = deploy(&journal, &["--allow-bad"]);
    assert_eq!(
        code,
        Some(1),
        "allowed: attempted, and fails the gate again: {out}"
    );
    assert!(out.contains("rolled back"), "{out}");

    let unblock = |digest: &str| {
        amagent(
            &journal,
            &[
                "unblock",
                "--env",
                "staging",
                "--service",
                "api",
                "--digest",
                digest,
                "--simulated",
                "--actor",
                "alice",
            ],
        )
    };
    let out = unblock("sha256:0000");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("known bad: {digest}")));
    let out = unblock(&digest);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("unblocked by alice"));

    let (code, out) = deploy(&journal, &[]);
    assert_eq!(code, Some(1), "cleared: attempted without the flag: {out}");
    assert!(!out.contains("known bad"), "{out}");
}
