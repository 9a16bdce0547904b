//! `amagent deploy`, `lifecycle` and `history` as a user runs them, and the promise that no
//! secret reaches the output or the journal.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn amagent(args: &[&str], journal: &Path, envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(args)
        .arg("--dir")
        .arg(root())
        .env("AMAGENT_JOURNAL", journal)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn secrets_never_reach_output_logs_or_journal() {
    let journal = tempfile::tempdir().unwrap();
    let secrets = [
        (
            "AMAGENT_SIM_REGISTRY",
            "http://AWS:s3cr3t-registry-pw@127.0.0.1:5999",
        ),
        ("GITHUB_TOKEN", "ghp_s3cr3tgithubtoken000000000000000000"),
        ("AMAGENT_GIT_TOKEN", "s3cr3t-git-token"),
    ];
    let mut everything = String::new();
    for scenario in ["healthy", "crash", "access-denied"] {
        for output in ["text", "json"] {
            let (_, stdout, stderr) = amagent(
                &[
                    "-vvv",
                    "--output",
                    output,
                    "deploy",
                    "--env",
                    "staging",
                    "--service",
                    "api",
                    "--image",
                    "v1.4.0",
                    "--sim",
                    scenario,
                ],
                journal.path(),
                &[secrets[0], secrets[1], secrets[2], ("RUST_LOG", "trace")],
            );
            everything.push_str(&stdout);
            everything.push_str(&stderr);
        }
    }
    for entry in std::fs::read_dir(journal.path()).unwrap() {
        everything.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert!(
        everything.contains("aussie-markets-api-task"),
        "the runs produced output"
    );
    for needle in [
        "s3cr3t-registry-pw",
        "ghp_s3cr3tgithubtoken",
        "s3cr3t-git-token",
    ] {
        assert!(!everything.contains(needle), "{needle} leaked");
    }
    // Secrets reach the task definition only as SSM ARNs, never as values.
    assert!(!everything.contains("postgresql://"));
}

#[test]
fn lifecycle_dry_run_shows_and_deletes_nothing() {
    let journal = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = amagent(
        &[
            "--output",
            "json",
            "lifecycle",
            "--env",
            "staging",
            "--dry-run",
            "--sim",
            "healthy",
        ],
        journal.path(),
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let repo = &json["repositories"][0];
    assert_eq!(repo["repository"], "aussie-markets/api");
    assert_eq!(repo["dry_run"], true);
    assert_eq!(repo["deleted"].as_array().unwrap().len(), 0);
    // 13 tagged (12 old + the running v1.3.0) keep 10: the 3 oldest go, and the 2 untagged.
    assert_eq!(repo["expire"].as_array().unwrap().len(), 5);
    assert_eq!(
        json["ecr_policy"]["rules"][1]["selection"]["countNumber"],
        10
    );
}

#[test]
fn history_lists_deploys_newest_first() {
    let journal = tempfile::tempdir().unwrap();
    let deploy = |scenario: &str| {
        amagent(
            &[
                "deploy",
                "--env",
                "staging",
                "--service",
                "api",
                "--image",
                "v1.4.0",
                "--sim",
                scenario,
            ],
            journal.path(),
            &[],
        )
    };
    assert_eq!(deploy("healthy").0, Some(0));
    assert_eq!(deploy("crash").0, Some(1));
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        // Simulated deploys: their journal is read with --simulated.
        .args([
            "--output",
            "json",
            "history",
            "--simulated",
            "--env",
            "staging",
        ])
        .env("AMAGENT_JOURNAL", journal.path())
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["deploys"][0]["outcome"], "failed");
    assert_eq!(runs[0]["deploys"][0]["rolled_back"], true);
    assert_eq!(runs[1]["deploys"][0]["outcome"], "succeeded");
}

#[test]
fn wrong_environment_or_scenario_is_a_usage_error() {
    let journal = tempfile::tempdir().unwrap();
    let (code, _, stderr) = amagent(
        &[
            "deploy",
            "--env",
            "stagin",
            "--service",
            "api",
            "--image",
            "v1",
            "--sim",
            "healthy",
        ],
        journal.path(),
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("did you mean `staging`?"), "{stderr}");
    let (code, _, stderr) = amagent(
        &[
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
            "--image",
            "v1",
            "--sim",
            "no-such-scenario",
        ],
        journal.path(),
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no-such-scenario"), "{stderr}");
}
