//! The README's first command: `amagent demo` runs its six acts on the simulator with real
//! git repositories, buildah and a local registry, and each act's outcome is checked here from
//! its JSON summary.

use std::process::Command;

#[test]
fn the_demo_deploys_rolls_back_promotes_and_rolls_back_production() {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["--output", "json", "demo"])
        .output()
        .expect("amagent runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // Progress goes to stderr; stdout is one JSON document.
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("JSON summary");
    let acts = summary["acts"].as_array().unwrap();
    assert_eq!(acts.len(), 6, "{summary:#}");
    let facts = |n: usize| &acts[n]["facts"];

    // 1: staging deployed a new revision of the built image, after a snapshot (major version).
    assert!(
        facts(0)["task_definition"]
            .as_str()
            .unwrap()
            .ends_with("aussie-markets-api-task:43")
    );
    assert!(
        facts(0)["image"]
            .as_str()
            .unwrap()
            .contains("/aussie-markets/api@sha256:")
    );
    assert!(
        facts(0)["snapshot"]
            .as_str()
            .unwrap()
            .starts_with("amagent-staging-api-")
    );
    // 2: the crash-looping release was rolled back to act 1's revision, with ECS's reason.
    assert_eq!(facts(1)["rolled_back"], true);
    assert_eq!(facts(1)["running"], facts(0)["task_definition"]);
    assert!(
        facts(1)["reason"]
            .as_str()
            .unwrap()
            .contains("Essential container in task exited")
    );
    // 3: production got exactly staging's digest, in its own repository, after a snapshot.
    let digest = facts(2)["staging_digest"].as_str().unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(facts(2)["production_digest"], digest);
    assert!(
        facts(2)["production_image"]
            .as_str()
            .unwrap()
            .contains("/aussie-markets/api-production@")
    );
    assert!(
        facts(2)["snapshot"]
            .as_str()
            .unwrap()
            .starts_with("amagent-production-api-")
    );
    // 4: the rollback returned production to the revision v1.0.0 had.
    assert_eq!(facts(3)["to"], facts(2)["task_definition"]);
    assert_ne!(facts(3)["from"], facts(3)["to"]);
    // 5: the migration ran on the revision then deployed, exited 0, before UpdateService.
    assert_eq!(facts(4)["exit_code"], 0);
    assert_eq!(
        facts(4)["pre_deploy_task_definition"],
        facts(4)["task_definition"]
    );
    assert_ne!(facts(4)["task_definition"], facts(1)["running"]);
    // Act 6: the tag waited for an approver; a non-approver's comment did not promote it.
    assert_eq!(facts(5)["waited_for_a_non_approver"], true);
    assert!(!facts(5)["asked_on"].as_array().unwrap().is_empty());
    assert!(facts(5)["task_definition"].is_string(), "{summary:#}");
    assert_eq!(facts(4)["migrated_before_update"], true);
    assert_eq!(facts(4)["log_tail"][3], "2 migrations applied");

    // The PR comments as GitHub would show them: staging's failure says why, on PR 2.
    let comments = summary["comments"].as_array().unwrap();
    assert!(comments.iter().any(|c| {
        c["pr"] == 2
            && c["body"]
                .as_str()
                .unwrap()
                .contains("❌ **staging**: deploy failed — rolled back")
    }));
    assert!(
        comments
            .iter()
            .any(|c| c["pr"] == 1 && c["body"].as_str().unwrap().contains("✅ **production**"))
    );
    assert!(comments.iter().any(|c| {
        c["pr"] == 4
            && c["body"]
                .as_str()
                .unwrap()
                .contains("| api | pre-deploy | ✅ |")
    }));
}
