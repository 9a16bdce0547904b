//! `--output json` (issue 20, item 2): every command, in success and in failure, prints exactly
//! one JSON document on stdout with the format's `version`, the `exit` code it exits with, and
//! its keys in a stable (sorted) order; an error is in that same document.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use support::envrepo::{edit, example};

/// Run amagent with `--output json` in `cwd`; the one document it printed, and its exit code.
fn json(cwd: &Path, journal: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["--output", "json"])
        .args(args)
        .current_dir(cwd)
        .env("AMAGENT_JOURNAL", journal)
        .env("AMAGENT_CACHE", journal.join("cache"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    let code = out.status.code().expect("exits with a code");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let documents: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(documents.len(), 1, "{args:?}: {stdout}\n{stderr}");
    let doc = documents.into_iter().next().unwrap();
    assert_eq!(doc["version"], 1, "{args:?}: {doc}");
    assert_eq!(doc["exit"], code, "{args:?}: {doc}");
    assert_sorted_keys(&stdout, args);
    (code, doc)
}

/// The top-level keys, in the order printed, are sorted: the same order every time.
fn assert_sorted_keys(stdout: &str, args: &[&str]) {
    let keys: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  \""))
        .filter_map(|l| l.split_once("\":").map(|(k, _)| k))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "{args:?}");
}

fn error_kind(doc: &Value) -> &str {
    doc["error"]["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {doc}"))
}

#[test]
fn every_command_prints_one_versioned_document_in_success_and_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    std::fs::create_dir_all(&repo).unwrap();
    example(&repo, |t| t.to_string());
    edit(
        &repo,
        "environments/staging.yaml",
        "desiredCount: 1",
        "desiredCount: 2",
        "scale",
    );
    let journal = tmp.path().join("journal");
    let (r, j) = (repo.as_path(), journal.as_path());
    let elsewhere = tmp.path();

    // validate
    assert_eq!(json(r, j, &["validate"]).0, 0);
    let (code, doc) = json(elsewhere, j, &["validate"]);
    assert_eq!((code, error_kind(&doc)), (2, "no-environments"));
    // plan
    assert_eq!(json(r, j, &["plan"]).0, 0);
    let (code, doc) = json(r, j, &["plan", "--from", "no-such-rev"]);
    assert_eq!(code, 3, "{doc}");
    assert!(doc["error"]["message"].is_string(), "{doc}");
    // deploy
    let deploy = [
        "deploy",
        "--env",
        "staging",
        "--service",
        "api",
        "--image",
        "v1.4.0",
    ];
    let (code, doc) = json(r, j, &[&deploy[..], &["--sim", "healthy"]].concat());
    assert_eq!(
        (code, doc["outcome"].as_str()),
        (0, Some("succeeded")),
        "{doc}"
    );
    let (code, doc) = json(r, j, &[&deploy[..], &["--sim", "crash"]].concat());
    assert_eq!(
        (code, doc["rolled_back"].as_bool()),
        (1, Some(true)),
        "{doc}"
    );
    // unblock: the image that just failed the gate is known bad; another digest is not
    let bad = doc["image"]
        .as_str()
        .and_then(|i| i.split_once('@'))
        .map(|(_, d)| d.to_string());
    let bad = bad.unwrap_or_else(|| panic!("the failed deploy names its image: {doc}"));
    let unblock = [
        "unblock",
        "--env",
        "staging",
        "--service",
        "api",
        "--simulated",
        "--digest",
    ];
    let (code, doc) = json(r, j, &[&unblock[..], &["sha256:0"]].concat());
    assert_eq!((code, error_kind(&doc)), (2, "usage"), "{doc}");
    let (code, doc) = json(r, j, &[&unblock[..], &[bad.as_str()]].concat());
    assert_eq!(
        (code, doc["unblocked"]["digest"].as_str()),
        (0, Some(bad.as_str())),
        "{doc}"
    );
    // init: refuses to overwrite an environment file without --force
    let init = [
        "init",
        "--env",
        "staging",
        "--region",
        "ap-southeast-2",
        "--cluster",
        "c",
    ];
    let (code, doc) = json(
        r,
        j,
        &[&init[..], &["--service", "s", "--sim", "healthy"]].concat(),
    );
    assert_eq!(code, 2, "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--force")),
        "{doc}"
    );
    // build (its success needs a registry: tests/images.rs)
    let (code, doc) = json(
        r,
        j,
        &[
            "build",
            "--env",
            "staging",
            "--service",
            "nope",
            "--sim",
            "healthy",
        ],
    );
    assert_eq!((code, error_kind(&doc)), (2, "usage"));
    // lifecycle
    let lifecycle = ["lifecycle", "--dry-run", "--sim", "healthy", "--env"];
    assert_eq!(json(r, j, &[&lifecycle[..], &["staging"]].concat()).0, 0);
    let (code, doc) = json(r, j, &[&lifecycle[..], &["nope"]].concat());
    assert_eq!((code, error_kind(&doc)), (2, "usage"));
    // doctor
    let (code, doc) = json(r, j, &["doctor", "--env", "staging", "--sim", "healthy"]);
    assert_eq!((code, doc["env"].as_str()), (0, Some("staging")), "{doc}");
    let (code, doc) = json(r, j, &["doctor", "--env", "staging"]);
    assert_eq!((code, error_kind(&doc)), (3, "credentials"));
    // diff
    let (code, doc) = json(r, j, &["diff", "--env", "staging", "--sim", "healthy"]);
    assert_eq!((code, doc["env"].as_str()), (0, Some("staging")), "{doc}");
    let (code, doc) = json(r, j, &["diff", "--env", "nope", "--sim", "healthy"]);
    assert_eq!((code, error_kind(&doc)), (2, "usage"));
    // history: the two deploys and the unblock
    let (code, doc) = json(r, j, &["history", "--simulated", "--env", "staging"]);
    assert_eq!(
        (code, doc["runs"].as_array().map(Vec::len)),
        (0, Some(3)),
        "{doc}"
    );
    let (code, doc) = json(r, j, &["history", "--simulated", "--env", "nope"]);
    assert_eq!((code, error_kind(&doc)), (2, "usage"));
    // status: one document even when it fails (it printed two)
    let (code, doc) = json(r, j, &["status", "--sim", "healthy"]);
    assert_eq!(
        (code, doc["environments"].as_array().map(Vec::len)),
        (0, Some(2)),
        "{doc}"
    );
    let (code, doc) = json(elsewhere, j, &["status", "--sim", "healthy"]);
    assert_eq!((code, error_kind(&doc)), (2, "usage"));
    // rollback (its success needs two verified deploys in one account: tests/rollback.rs)
    let (code, doc) = json(
        r,
        j,
        &[
            "rollback", "--env", "staging", "--to", "nope:1", "--sim", "healthy",
        ],
    );
    assert_eq!(code, 2, "{doc}");
    assert!(doc["error"].is_object(), "{doc}");
    // resume
    let (code, doc) = json(r, j, &["resume", "--env", "staging", "--simulated"]);
    assert_eq!((code, doc["env"].as_str()), (0, Some("staging")), "{doc}");
    let (code, doc) = json(r, j, &["resume", "--env", "nope", "--simulated"]);
    assert_eq!((code, error_kind(&doc)), (2, "usage"));
    // journal
    let sim_journal = r.join(".amagent/sim/journal");
    let sim_journal = sim_journal.to_str().unwrap();
    assert_eq!(
        json(r, j, &["journal", "check", "--journal", sim_journal]).0,
        0
    );
    let (code, doc) = json(r, j, &["journal", "check", "--journal", "s3://bucket/x"]);
    assert_eq!((code, error_kind(&doc)), (2, "usage"));
    // run --once
    let url = r.to_str().unwrap();
    let mirror = tmp.path().join("mirror");
    let run = [
        "run",
        "--once",
        "--sim",
        "healthy",
        "--mirror",
        mirror.to_str().unwrap(),
    ];
    let (code, doc) = json(r, j, &[&run[..], &["--repo", url]].concat());
    assert_eq!((code, doc["head"].is_string()), (0, true), "{doc}");
    let (code, doc) = json(r, j, &[&run[..], &["--repo", "/no/such/repo"]].concat());
    assert_eq!((code, error_kind(&doc)), (3, "repository"));
    // promote
    let promote = ["promote", "--sim", "healthy", "--repo", url];
    let (code, doc) = json(r, j, &[&promote[..], &["--tag", "v9.9.9"]].concat());
    assert!(
        doc["head"].is_string() || doc["error"].is_object(),
        "{code} {doc}"
    );
    let (code, doc) = json(r, j, &[&promote[..], &["--tag", "v9.9.9"]].concat());
    assert_eq!(
        (code, error_kind(&doc)),
        (3, "repository"),
        "the tag exists now"
    );
    // a command line that does not parse
    let (code, doc) = json(r, j, &["deploy", "--env", "staging"]);
    assert_eq!((code, error_kind(&doc)), (2, "usage"));
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--service"),
        "{doc}"
    );
}
