//! Simulations never touch real state: `--sim` commands keep their own journal, real commands
//! never read it (and the other way round), every simulated run says it is simulated, the
//! simulated ECR never hands out a real registry host, and `promote --sim` never pushes a tag
//! to a network remote. Through the binary, as a user runs it, in a scratch working directory.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::envrepo::{example, git};
use support::gitserver::{SshGitServer, publish};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `amagent args…` with `cwd` as working directory (the default journals are relative to it).
fn amagent(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amagent"));
    cmd.current_dir(cwd).args(args);
    for var in ["AMAGENT_JOURNAL", "AMAGENT_SIM_REGISTRY", "AMAGENT_CACHE"] {
        cmd.env_remove(var);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const DEPLOY: &[&str] = &[
    "deploy",
    "--env",
    "staging",
    "--service",
    "api",
    "--image",
    "v1.4.0",
    "--sim",
    "healthy",
];

#[test]
fn a_simulated_deploy_keeps_its_own_journal_and_says_it_is_simulated() {
    let cwd = tempfile::tempdir().unwrap();
    let dir = root().display().to_string();
    let out = amagent(cwd.path(), &[DEPLOY, &["--dir", &dir]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("simulated: "),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !cwd.path().join(".amagent/journal").exists(),
        "real journal written"
    );
    assert!(cwd.path().join(".amagent/sim/journal/SIMULATED").exists());
    // The next simulated command works on the same simulated journal (the repro:
    // lifecycle after a simulated deploy).
    let out = amagent(
        cwd.path(),
        &[
            "lifecycle",
            "--env",
            "staging",
            "--sim",
            "healthy",
            "--dry-run",
            "--dir",
            &dir,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Real history sees nothing; --simulated sees the simulated deploy.
    let out = amagent(cwd.path(), &["history"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !text(&out.stdout).contains("aussie-markets-api-task"),
        "{}",
        text(&out.stdout)
    );
    let out = amagent(cwd.path(), &["history", "--simulated"]);
    assert!(text(&out.stdout).contains("api        succeeded aussie-markets-api-task:43"));
}

#[test]
fn real_commands_refuse_a_simulated_journal_and_simulations_refuse_a_real_one() {
    let cwd = tempfile::tempdir().unwrap();
    let dir = root().display().to_string();
    let sim_journal = cwd.path().join("sim-journal");
    let sj = sim_journal.to_str().unwrap();
    let out = amagent(
        cwd.path(),
        &[DEPLOY, &["--dir", &dir, "--journal", sj]].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for real in [
        vec!["history", "--journal", sj],
        vec!["resume", "--env", "staging", "--dir", &dir, "--journal", sj],
    ] {
        let out = amagent(cwd.path(), &real);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{real:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("is the journal of simulated runs"),
            "{real:?}: {}",
            text(&out.stderr)
        );
    }
    // A journal with real records: a simulation refuses to write there, and leaves it as it was.
    let real = cwd.path().join("real-journal");
    std::fs::create_dir_all(&real).unwrap();
    let record = std::fs::read_to_string(sim_journal.join("staging.jsonl")).unwrap();
    std::fs::write(real.join("staging.jsonl"), &record).unwrap();
    let out = amagent(
        cwd.path(),
        &[
            DEPLOY,
            &["--dir", &dir, "--journal", real.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("holds real deployment records"));
    assert_eq!(
        std::fs::read_to_string(real.join("staging.jsonl")).unwrap(),
        record
    );
    assert!(!real.join("SIMULATED").exists());
}

#[test]
fn a_simulated_build_never_pushes_to_the_real_ecr_host() {
    let cwd = tempfile::tempdir().unwrap();
    let dir = root().display().to_string();
    // No AMAGENT_SIM_REGISTRY: the simulated ECR login is refused, naming the variable.
    let out = amagent(
        cwd.path(),
        &[
            "build",
            "--env",
            "staging",
            "--service",
            "api",
            "--sim",
            "healthy",
            "--dir",
            &dir,
        ],
    );
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("amazonaws.com/v2"), "{stderr}");
}

#[test]
fn promote_under_sim_never_pushes_a_tag_to_a_network_remote() {
    let server = SshGitServer::start();
    let work = tempfile::tempdir().unwrap();
    example(work.path(), |t| t.to_string());
    let bare = publish(&server.root, "env.git", work.path());
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .current_dir(cwd.path())
        .args(["promote", "--tag", "v1.0.0", "--sim", "healthy", "--repo"])
        .arg(server.url("env.git"))
        .arg("--cache")
        .arg(cwd.path().join("cache"))
        .env("AMAGENT_GIT_SSH_KEY", &server.client_key)
        .env("AMAGENT_GIT_KNOWN_HOSTS", &server.known_hosts)
        .env_remove("AMAGENT_JOURNAL")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("scratch clone"), "{stderr}");
    assert!(!stderr.contains("cannot create and push"), "{stderr}");
    // The remote has no tag: the version number is not used up.
    assert_eq!(git(&bare, &["tag", "--list"]), "", "{stderr}");
}
