//! The `amagent` binary as a user meets it: help, version, validate in text and JSON.

use std::process::Command;

fn amagent(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn validate_accepts_the_worked_example_from_root_or_environments_dir() {
    for args in [
        &["validate"][..],
        &["validate", "environments"],
        &["validate", "."],
    ] {
        let (code, stdout, stderr) = amagent(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert_eq!(
            stdout,
            "ok: 2 environment(s) (production, staging), 1 pipeline(s) (api), 2 service(s)\n"
        );
    }
}

#[test]
fn validate_json_on_success_and_failure() {
    let (code, stdout, _) = amagent(&["--output", "json", "validate"]);
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(
        json["environments"],
        serde_json::json!(["production", "staging"])
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("environments")).unwrap();
    std::fs::write(
        dir.path().join("environments/staging.yaml"),
        "apiVersion: amagent/v1\nkind: Environment\nname: staging\nawz: {}\n",
    )
    .unwrap();
    let (code, stdout, _) =
        amagent(&["validate", "--output", "json", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["valid"], false);
    let diagnostics = json["diagnostics"].as_array().unwrap();
    let first = diagnostics
        .iter()
        .find(|d| d["line"] == 4)
        .expect("a diagnostic on line 4");
    assert_eq!(first["file"], "environments/staging.yaml");
    assert_eq!(first["line"], 4);
    assert_eq!(first["column"], 1);
    assert_eq!(first["message"], "unknown field `awz` at the top level");
    assert_eq!(first["hint"], "did you mean `aws`?");
    // Every missing section is reported too, not only the first problem.
    let messages: Vec<&str> = diagnostics
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"missing required field `ecs` at the top level"),
        "{messages:?}"
    );
}

#[test]
fn validate_without_environments_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = amagent(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no environments/*.yaml under"), "{stderr}");
}

#[test]
fn help_teaches_with_examples_and_exit_codes() {
    let (code, stdout, _) = amagent(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("amagent plan --from v1.2.0 --to main"));
    assert!(stdout.contains("Exit codes: 0 ok, 1 failed"));
    let (code, stdout, _) = amagent(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("amagent "));
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, stderr) = amagent(&["deploy-everything"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("unrecognized subcommand"), "{stderr}");
}
