//! `deploy`, `rollback` and `lifecycle` by hand while an agent holds the lease on the same S3
//! journal (moto): refused with who holds it and until when (exit 3); `--force` acts and the
//! override is journalled first.

mod support;

use amagent::state::journal::{Journal, S3Journal};
use amagent::state::lease::{Lease, LeaseState};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BUCKET: &str = "aussie-markets-staging-logs";

fn amagent(args: &[&str], endpoint: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(args)
        .args(["--journal", &format!("s3://{BUCKET}/amagent/")])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "ap-southeast-2")
        .env("USER", "on-call")
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[tokio::test]
async fn manual_commands_are_refused_while_an_agent_holds_the_lease() {
    let (_guard, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    support::create_bucket(&aws, BUCKET).await;
    let s3 = aws.cloud().s3;
    let mut lease = Lease::new(
        s3.clone(),
        BUCKET,
        "amagent/lease.json",
        "agent-7f3a",
        Duration::from_secs(600),
    );
    let LeaseState::Held { expires_at } = lease.try_acquire(chrono::Utc::now()).await.unwrap()
    else {
        panic!("the lease is free at first");
    };
    let until = expires_at.to_string();
    let commands: [&[&str]; 3] = [
        &[
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
            "--image",
            "v1.4.0",
        ],
        &["rollback", "--env", "staging", "--service", "api"],
        &["lifecycle", "--env", "staging"],
    ];
    for args in commands {
        let (code, out) = amagent(args, &endpoint);
        assert_eq!(code, Some(3), "{args:?}: {out}");
        assert!(
            out.contains("agent-7f3a") && out.contains(&until),
            "{args:?}: {out}"
        );
        assert!(out.contains("--force"), "{out}");
    }
    let journal = S3Journal::new(s3.clone(), BUCKET, "amagent/");
    assert!(
        journal.read(None).await.unwrap().is_empty(),
        "nothing acted"
    );

    // --force goes past the lease (and then on to AWS: here moto has no such repository, so
    // the deploy itself stops) — the override was journalled before anything acted.
    let mut args = commands[0].to_vec();
    args.push("--force");
    let (code, out) = amagent(&args, &endpoint);
    assert_ne!(code, Some(3), "{out}");
    let records = journal.read(Some("staging")).await.unwrap();
    let forced = records
        .iter()
        .find(|r| r.step == "lease-override")
        .unwrap_or_else(|| panic!("no override journalled: {records:?}\n{out}"));
    assert_eq!(forced.detail["holder"], "agent-7f3a");
    assert_eq!(forced.detail["command"], "deploy");
    assert_eq!(forced.detail["by"], "on-call");

    // Once the agent lets go, no refusal and nothing to force.
    lease.release(chrono::Utc::now()).await.unwrap();
    let (code, out) = amagent(&["lifecycle", "--env", "staging", "--dry-run"], &endpoint);
    assert!(!out.contains("holds the lease"), "{code:?}: {out}");
}
