use super::*;
use crate::status::{LastOutcome, ServiceStatus};
use chrono::TimeZone;
use serde_json::json;

const TD: &str = "arn:aws:ecs:ap-southeast-2:123456789012:task-definition/api-task";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const COMMIT: &str = "c0ffee0000111122223333444455556666777788";

fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600 + s, 0).unwrap()
}

fn rec(s: i64, env: &str, run: &str, service: Option<&str>, step: &str, phase: Phase) -> Record {
    Record {
        at: at(s),
        run: run.into(),
        env: env.into(),
        service: service.map(str::to_string),
        step: step.into(),
        phase,
        outcome: None,
        detail: serde_json::Value::Null,
    }
}

fn finished(mut r: Record, outcome: &str, detail: serde_json::Value) -> Record {
    r.phase = Phase::Finished;
    r.outcome = Some(outcome.into());
    r.detail = detail;
    r
}

fn status(digest: &str, last: Option<LastOutcome>) -> ServiceStatus {
    ServiceStatus {
        service: "api".into(),
        task_definition: Some(format!("{TD}:43")),
        revision: Some("api-task:43".into()),
        image: Some(format!("123.dkr.ecr/api@{digest}")),
        digest: Some(digest.into()),
        tags: vec!["v1.4.0".into()],
        verified: true,
        since: Some(at(200)),
        commit: Some(COMMIT.into()),
        last,
        pin: None,
        error: None,
    }
}

/// Staging: a merge of PR #21 deployed api:43 (verified), then PR #22's deploy failed and was
/// rolled back to 43. Production: tag v1.4.0 promoted staging's digest.
const RUN1: &str = "staging-r1";
const RUN2: &str = "staging-r2";
const EXEC2: &str = "staging-r2-executor";

fn records() -> Vec<Record> {
    let (run1, run2, exec2) = (RUN1, RUN2, EXEC2);
    let started = |s, run| {
        let mut r = rec(s, "staging", run, None, "apply", Phase::Started);
        r.detail = json!({ "commit": if run == run1 { COMMIT } else { "bad0000" }, "pull_requests": if run == run1 { [21] } else { [22] } });
        r
    };
    vec![
        started(100, run1),
        finished(
            rec(110, "staging", run1, None, "snapshot", Phase::Started),
            "succeeded",
            json!({"snapshot_id": "amagent-staging-r1", "seconds": 30.0}),
        ),
        rec(150, "staging", run1, Some("api"), "deploy", Phase::Started),
        finished(
            rec(200, "staging", run1, Some("api"), "deploy", Phase::Started),
            "succeeded",
            json!({"task_definition": format!("{TD}:43"), "seconds": 50.0}),
        ),
        finished(
            rec(201, "staging", run1, None, "apply", Phase::Started),
            "succeeded",
            json!({"commit": COMMIT}),
        ),
        started(300, run2),
        // The executor's records carry a run id of its own, which the apply's end names.
        rec(310, "staging", exec2, Some("api"), "deploy", Phase::Started),
        finished(
            rec(400, "staging", exec2, Some("api"), "deploy", Phase::Started),
            "failed",
            json!({
            "reason": "new tasks crashed: Essential container in task exited",
            "rolled_back": true, "task_definition": format!("{TD}:43"),
            "new_task_definition": format!("{TD}:44"), "seconds": 90.0}),
        ),
        finished(
            rec(401, "staging", run2, None, "apply", Phase::Started),
            "failed",
            json!({"commit": "bad0000", "executor_run": exec2}),
        ),
        finished(
            rec(
                500,
                "production",
                "production-r1",
                None,
                "apply",
                Phase::Started,
            ),
            "succeeded",
            json!({"commit": COMMIT, "tag": "v1.4.0"}),
        ),
    ]
}

fn snapshot() -> Snapshot {
    let records = records();
    let last = LastOutcome {
        kind: "deploy".into(),
        outcome: "failed".into(),
        at: at(400),
        run: EXEC2.into(),
        rolled_back: true,
    };
    let service = |digest: &str, last| ServiceSnapshot {
        status: status(digest, last),
        source_url: "https://github.com/o/api.git".into(),
        source_ref: "v1.4.0".into(),
    };
    Snapshot {
        at: at(600),
        head: "bad0000".into(),
        github: Some("https://github.com/o/env".into()),
        // As the agent's model sorts them: by name.
        environments: vec![
            EnvSnapshot {
                name: "production".into(),
                promoted_from: Some("staging".into()),
                services: vec![service(DIGEST, None)],
                error: None,
            },
            EnvSnapshot {
                name: "staging".into(),
                promoted_from: None,
                services: vec![service(DIGEST, Some(last))],
                error: None,
            },
        ],
        records,
    }
}

#[test]
fn the_overview_shows_what_runs_with_its_pull_request_and_the_last_failure() {
    let o = overview(&snapshot());
    let names: Vec<&str> = o.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["staging", "production"],
        "a source before its promotion"
    );
    let staging = &o.environments[0];
    let api = &staging.services[0];
    assert_eq!(api.revision.as_deref(), Some("api-task:43"));
    assert_eq!(api.digest_short.as_deref(), Some("sha256:0123456789ab"));
    assert_eq!(api.digest.as_deref(), Some(DIGEST));
    assert_eq!(
        api.pull_requests,
        vec![Link {
            text: "#21".into(),
            href: Some("https://github.com/o/env/pull/21".into())
        }]
    );
    assert_eq!(
        api.commit.as_ref().map(|c| c.text.as_str()),
        Some("c0ffee000011")
    );
    assert_eq!(
        api.last,
        Some((
            false,
            "deploy failed, rolled back: new tasks crashed: Essential container in task exited"
                .into()
        ))
    );
    assert_eq!(api.href, "/services/staging/api");
    assert_eq!(staging.version.as_deref(), Some("bad0000"));
    assert_eq!(o.environments[1].version.as_deref(), Some("v1.4.0"));
}

#[test]
fn the_promotion_chain_pairs_each_promoted_environment_with_its_source() {
    let o = overview(&snapshot());
    assert_eq!(o.chain.len(), 1);
    let link = &o.chain[0];
    assert_eq!(
        (link.from.as_str(), link.to.as_str()),
        ("staging", "production")
    );
    assert_eq!(link.to_version.as_deref(), Some("v1.4.0"));
    let short = Some("sha256:0123456789ab".to_string());
    assert_eq!(link.services, vec![("api".into(), short.clone(), short)]);
}

#[test]
fn history_lists_deploys_newest_first_with_reason_rollback_duration_and_snapshot() {
    let rows = history(&snapshot(), "staging", "api");
    assert_eq!(rows.len(), 2);
    let failed = &rows[0];
    assert!(!failed.succeeded);
    assert_eq!(failed.revision.as_deref(), Some("api-task:44"));
    assert_eq!(failed.rolled_back_to.as_deref(), Some("api-task:43"));
    assert_eq!(failed.seconds, Some(90.0));
    assert_eq!(failed.at, at(310));
    assert!(failed.reason.as_deref().unwrap().contains("crashed"));
    assert_eq!(failed.pull_requests[0].text, "#22");
    let ok = &rows[1];
    assert!(ok.succeeded);
    assert_eq!(ok.snapshot.as_deref(), Some("amagent-staging-r1"));
    assert_eq!(ok.rolled_back_to, None);
    assert_eq!(
        ok.commit.as_ref().map(|c| c.text.as_str()),
        Some("c0ffee000011")
    );
    assert!(history(&snapshot(), "production", "api").is_empty());
}

#[test]
fn without_github_links_are_plain_text_and_names_are_escaped_in_paths() {
    let mut s = snapshot();
    s.github = None;
    let api = &overview(&s).environments[0].services[0];
    assert_eq!(api.pull_requests[0].href, None);
    assert_eq!(api.commit.as_ref().and_then(|c| c.href.clone()), None);
    assert_eq!(path_part("a b/c"), "a%20b%2Fc");
}
