//! Configuration anyone with push access (or a pull request) can write, through the binary:
//! `validate` on the checkout and `plan` on the commit must both answer with a clear
//! `file:line:col` problem and exit normally — never a stack overflow, a hang, a flood of output,
//! another file's contents or raw terminal escapes.

mod support;

use std::path::Path;
use std::process::Command;
use support::envrepo::{example, git};

fn amagent(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The example repository with `payload` appended to staging.yaml, committed.
fn repo_with_staging(dir: &Path, edit: impl Fn(&str) -> String) {
    example(dir, |t| t.to_string());
    let path = dir.join("environments/staging.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(&text)).unwrap();
    git(dir, &["commit", "-qam", "edit staging"]);
}

/// `validate` (exit 1) and `plan` (exit 2) on `dir` both print `expected`.
fn both_refuse(dir: &Path, expected: &str) -> String {
    let d = dir.to_str().unwrap();
    let (code, stdout, stderr) = amagent(&["validate", d]);
    assert_eq!(code, Some(1), "validate: {stdout}{stderr}");
    assert!(stdout.contains(expected), "validate:\n{stdout}");
    let (code, stdout_plan, stderr) = amagent(&["plan", "--repo", d]);
    assert_eq!(code, Some(2), "plan: {stdout_plan}{stderr}");
    assert!(
        stderr.contains(expected) || stdout_plan.contains(expected),
        "plan:\n{stdout_plan}{stderr}"
    );
    stdout
}

#[test]
fn deep_yaml_is_refused_at_its_position_without_crashing() {
    let deep = "the YAML here is nested more than 64 levels deep";
    let cases: [(String, &str); 3] = [
        // 10 KB of block sequences: overflowed the stack (exit 134).
        (
            format!("deep:\n  {}x\n", "- ".repeat(5000)),
            "environments/staging.yaml:54:",
        ),
        // 200 KB of flow sequences: 264 s, quadratic.
        (format!("deep: {}\n", "[".repeat(100_000)), deep),
        // 4,000 nested block maps (8 MB with their indentation).
        (
            (0..4000)
                .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
                .collect::<String>()
                .replacen("k0:", "deep:", 1),
            "configuration files are limited to 1048576 bytes",
        ),
    ];
    for (payload, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        repo_with_staging(dir.path(), |t| format!("{t}{payload}"));
        let out = both_refuse(dir.path(), expected);
        assert!(out.lines().count() <= 3, "one problem, not a flood:\n{out}");
        if expected.ends_with(':') {
            assert!(out.contains(deep), "{out}");
        }
    }
}

#[test]
fn environments_sharing_names_report_each_name_once_with_every_place() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let staging = std::fs::read_to_string(root.join("environments/staging.yaml")).unwrap();
    std::fs::create_dir_all(dir.path().join("environments")).unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    std::fs::copy(
        root.join("pipelines/api.yaml"),
        dir.path().join("pipelines/api.yaml"),
    )
    .unwrap();
    // Every environment names its own cluster, database, service and parameters, but all
    // share the task family `aussie-markets-api-task` and the ECR repository.
    for i in 0..2000 {
        let name = format!("env-{i:04}");
        std::fs::write(
            dir.path().join(format!("environments/{name}.yaml")),
            staging.replace("staging", &name),
        )
        .unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = amagent(&["--output", "json", "validate", d]);
    assert_eq!(code, Some(1), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["problems"], 2, "{:#}", json["diagnostics"]);
    let messages: Vec<&str> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    for what in [
        "task definition family `aussie-markets-api-task`",
        "ECR repository `aussie-markets/api`",
    ] {
        let m = messages
            .iter()
            .find(|m| m.contains(what))
            .unwrap_or_else(|| panic!("{what}: {} messages", messages.len()));
        let start: String = m.chars().take(300).collect();
        assert!(m.starts_with("env-1999 uses the"), "{start}");
        assert!(
            m.contains(
                "which 1999 other environments use too: env-0000 (environments/env-0000.yaml:"
            ),
            "{start}"
        );
        assert!(
            m.contains("env-0019 (environments/env-0019.yaml:"),
            "{start}"
        );
        assert!(!m.contains("env-0020 ("), "{start}");
        assert!(
            m.ends_with(" and 1979 more (same account 123456789012, ap-southeast-2)"),
            "{start}"
        );
    }
}

#[test]
fn printed_problems_are_capped_and_the_rest_counted() {
    let dir = tempfile::tempdir().unwrap();
    example(dir.path(), |t| t.to_string());
    let staging = std::fs::read_to_string(dir.path().join("environments/staging.yaml")).unwrap();
    let broken = staging.replace("bakeSeconds: 120", "bakeSeconds: 120\n      nope: 1");
    std::fs::write(dir.path().join("environments/staging.yaml"), &broken).unwrap();
    for i in 0..250 {
        let name = format!("copy-{i:03}");
        let text = broken.replace("name: staging", &format!("name: {name}"));
        std::fs::write(dir.path().join(format!("environments/{name}.yaml")), text).unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = amagent(&["validate", d]);
    assert_eq!(code, Some(1));
    assert_eq!(stdout.matches("unknown field `nope`").count(), 200);
    assert!(
        stdout.ends_with("… and 53 more problem(s) not shown (fix the ones above first)\n"),
        "{}",
        stdout.lines().last().unwrap_or_default()
    );
    assert!(stderr.contains("253 problem(s) in 251 file(s)"), "{stderr}");
    let (_, json, _) = amagent(&["--output", "json", "validate", d]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["diagnostics"].as_array().unwrap().len(), 200);
    assert_eq!(json["problems"], 253);
    assert_eq!(json["not_shown"], 53);
}

#[test]
fn symlinked_files_are_refused_alike_and_never_read() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("shadow");
    std::fs::write(
        &secret,
        "root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    example(dir.path(), |t| t.to_string());
    std::os::unix::fs::symlink(&secret, dir.path().join("environments/leak.yaml")).unwrap();
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "link"]);
    let out = both_refuse(
        dir.path(),
        "environments/leak.yaml:1:1: environments/leak.yaml is a symbolic link to a path outside the repository",
    );
    assert!(!out.contains("root:"), "{out}");
}

#[test]
fn fifos_are_refused_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    example(dir.path(), |t| t.to_string());
    let fifo = dir.path().join("environments/pipe.yaml");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let (code, stdout, _) = amagent(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("environments/pipe.yaml:1:1: environments/pipe.yaml is not a regular file"),
        "{stdout}"
    );
}

#[test]
fn long_unknown_field_names_are_cut_short_and_escapes_neutralised() {
    let dir = tempfile::tempdir().unwrap();
    let key = format!("\"\\e[2J{}\"", "x".repeat(300));
    repo_with_staging(dir.path(), |t| format!("{t}{key}: 1\n"));
    let (code, stdout, _) = amagent(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(!stdout.contains('\u{1b}'), "raw escape printed: {stdout:?}");
    let line = stdout
        .lines()
        .find(|l| l.contains("unknown field"))
        .unwrap();
    assert!(line.contains("unknown field `\\u{1b}[2Jxxx"), "{line}");
    assert!(line.contains("x…` at the top level"), "{line}");
    assert!(line.len() < 150, "{line}");
}

#[test]
fn names_must_suit_files_s3_keys_and_ssm_paths() {
    let dir = tempfile::tempdir().unwrap();
    repo_with_staging(dir.path(), |t| {
        t.replacen("  - name: api", "  - name: \"../..$(reboot)\\e[31m\"", 1)
    });
    let out = both_refuse(
        dir.path(),
        "environments/staging.yaml:22:11: `../..$(reboot)\\u{1b}[31m` is not a valid service name",
    );
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(
        out.contains("use 1 to 63 letters, digits, `-` and `_`"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    repo_with_staging(dir.path(), |t| {
        t.replacen("  - name: api", "  - name: \"\"", 1)
    });
    both_refuse(
        dir.path(),
        "environments/staging.yaml:22:11: the service name is empty",
    );
}

#[test]
fn merge_keys_and_tags_are_refused_once_at_their_line() {
    let cases = [
        (
            "    cpu: 256        # 0.25 vCPU\n    memory: 512     # MiB\n",
            "    <<: {cpu: 256, memory: 512}\n",
            "environments/staging.yaml:34:5: YAML merge keys (`<<`) are not supported",
        ),
        (
            "    cpu: 256",
            "    cpu: !Ref Cpu",
            "environments/staging.yaml:34:15: YAML tags such as `!Ref` are not supported",
        ),
        (
            "      ref: v1.3.0",
            "      ref: !!binary djEuMy4w",
            "environments/staging.yaml:33:21: YAML tags such as `!!binary` are not supported",
        ),
    ];
    for (from, to, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        repo_with_staging(dir.path(), |t| {
            assert!(t.contains(from));
            t.replacen(from, to, 1)
        });
        let out = both_refuse(dir.path(), expected);
        assert_eq!(out.lines().count(), 2, "one problem and its hint:\n{out}");
    }
}

/// The agent's path: the model at a commit (a pull request's head), on a stack the size of a
/// tokio worker's.
#[test]
fn the_model_at_a_commit_with_deep_yaml_is_invalid_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    repo_with_staging(dir.path(), |t| {
        format!("{t}deep:\n  {}x\n", "- ".repeat(5000))
    });
    let path = dir.path().to_path_buf();
    let result = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let repo = amagent::repo::EnvRepo::open(&path).unwrap();
            match repo.model_at("HEAD") {
                Err(amagent::repo::RepoError::InvalidConfig { diagnostics, .. }) => {
                    diagnostics.to_string()
                }
                other => panic!("expected invalid configuration, got {:?}", other.is_ok()),
            }
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(
        result.contains("environments/staging.yaml:54:129: the YAML here is nested more than 64"),
        "{result}"
    );
}
