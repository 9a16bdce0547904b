use super::*;

const A: &str = "sha256:aaaa";
const B: &str = "sha256:bbbb";

fn at(minute: u32) -> DateTime<Utc> {
    chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, 10, minute, 0).unwrap()
}

fn deploy(minute: u32, digest: &str, outcome: &str, rolled: bool) -> Record {
    Record {
        at: at(minute),
        run: format!("run-{minute}"),
        env: "staging".into(),
        service: Some("api".into()),
        step: "deploy".into(),
        phase: Phase::Finished,
        outcome: Some(outcome.into()),
        detail: serde_json::json!({
            "image": format!("123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/api@{digest}"),
            "failure_kind": (outcome == "failed").then_some("rollout"),
            "reason": (outcome == "failed").then_some("new task stopped: exit 1"),
            "new_task_definition": rolled.then_some(format!("api:{minute}")),
            "task_definition": format!("api:{minute}"),
        }),
    }
}

#[test]
fn a_gate_failure_makes_the_digest_bad_until_unblocked() {
    let mut records = vec![
        deploy(1, A, "succeeded", true),
        deploy(2, B, "failed", true),
    ];
    let bad = bad_digests(&records, "staging", "api");
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].digest, B);
    assert_eq!(
        bad[0].reason,
        "failed the health gate: new task stopped: exit 1"
    );
    assert_eq!(bad[0].run, "run-2");
    assert!(bad_digests(&records, "production", "api").is_empty());
    records.push(unblock_record("staging", "api", B, "alice", at(3)));
    assert!(bad_digests(&records, "staging", "api").is_empty());
    // Failing again after the unblock makes it bad again.
    records.push(deploy(4, B, "failed", true));
    assert_eq!(bad_digests(&records, "staging", "api")[0].run, "run-4");
}

#[test]
fn a_deploy_that_never_rolled_says_nothing_about_its_image() {
    let records = vec![deploy(1, A, "failed", false)];
    assert!(bad_digests(&records, "staging", "api").is_empty());
}

#[test]
fn rolling_back_from_a_revision_with_a_reason_makes_its_image_bad() {
    let mut rollback = deploy(3, A, "succeeded", false);
    rollback.step = crate::rollback::STEP.into();
    rollback.detail = serde_json::json!({
        "from": "api:2", "to": "api:1", "actor": "bob", "reason": "checkout broken",
    });
    let records = vec![
        deploy(1, A, "succeeded", true),
        deploy(2, B, "succeeded", true),
        rollback,
    ];
    let bad = bad_digests(&records, "staging", "api");
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].digest, B);
    assert_eq!(bad[0].reason, "rolled back by bob: checkout broken");
}
