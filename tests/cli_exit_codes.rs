//! Exit codes as docs/operations.md lists them (issue 20, item 1): 2 usage or configuration,
//! 3 refused from outside (git, the cloud), 4 a file or directory that cannot be read.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Run amagent in `cwd` with no AWS credentials anywhere it could find them.
fn amagent(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let home = tempfile::tempdir().unwrap();
    let no_config = home.path().join("empty");
    std::fs::write(&no_config, "").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amagent"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("AMAGENT_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .args(args)
        .current_dir(cwd)
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", &no_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &no_config)
        // No instance metadata service here: without this the chain waits for it.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A copy of the worked example (environments/ and pipelines/) in a fresh directory.
fn example_checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["environments", "pipelines"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(root().join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name())).unwrap();
        }
    }
    dir
}

#[test]
fn validate_exit_codes_follow_the_doc() {
    let empty = tempfile::tempdir().unwrap();
    // A directory that is not an environments repo: a usage error, named.
    let (code, _, stderr) = amagent(empty.path(), &["validate"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no environments/*.yaml"), "{stderr}");
    // A path that does not exist: a directory that cannot be read.
    let (code, _, stderr) = amagent(empty.path(), &["validate", "no-such-dir"]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("no-such-dir"), "{stderr}");
    // `validate .` inside environments/ checks the checkout it belongs to.
    let checkout = example_checkout();
    let (code, stdout, stderr) = amagent(&checkout.path().join("environments"), &["validate", "."]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("ok: 2 environment(s)"), "{stdout}");
}

#[test]
fn deploy_without_aws_credentials_is_refused_with_how_to_provide_them() {
    let checkout = example_checkout();
    let (code, stdout, stderr) = amagent(
        checkout.path(),
        &[
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
            "--image",
            "v1.4.0",
        ],
    );
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(stderr.contains("no AWS credentials found"), "{stderr}");
    assert!(stderr.contains("AWS_ACCESS_KEY_ID"), "{stderr}");
    assert!(stderr.contains("--sim"), "{stderr}");
}

#[test]
fn history_of_an_unknown_environment_is_a_usage_error_listing_the_known_ones() {
    let checkout = example_checkout();
    let dir = checkout.path();
    let (code, _, stderr) = amagent(
        dir,
        &[
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
            "--image",
            "v1.4.0",
            "--sim",
            "healthy",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = amagent(dir, &["history", "--simulated", "--env", "nope"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("`nope`"), "{stderr}");
    assert!(stderr.contains("production, staging"), "{stderr}");
    // An environment of the checkout that has no deploys yet is not an error.
    let (code, stdout, stderr) = amagent(dir, &["history", "--simulated", "--env", "production"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("No deployments recorded"), "{stdout}");
    let (code, stdout, _) = amagent(dir, &["history", "--simulated", "--env", "staging"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("deployed") || stdout.contains("succeeded"),
        "{stdout}"
    );
}

#[test]
fn status_outside_an_environments_repo_is_a_usage_error() {
    let empty = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = amagent(empty.path(), &["status", "--sim", "healthy"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("no environments/*.yaml"), "{stderr}");
}

/// Issue 20, item 7: one clear line, not a ✗ per resource with misleading fixes.
#[test]
fn doctor_without_aws_credentials_says_so_in_one_line() {
    let checkout = example_checkout();
    let (code, stdout, stderr) = amagent(checkout.path(), &["doctor", "--env", "staging"]);
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(!stdout.contains('✗'), "{stdout}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("no AWS credentials found"), "{stderr}");
    assert!(errors[0].contains("AWS_PROFILE"), "{stderr}");
}
