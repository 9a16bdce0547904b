//! The RDS snapshot stage on the simulator: recognisable ids and tags, waiting for
//! `available`, retention of the agent's own snapshots only, and failure.

use amagent::cloud::retry::RetryPolicy;
use amagent::cloud::sim::FaultScript;
use amagent::config::load_dir;
use amagent::sandbox::Sandbox;
use amagent::stages::snapshot::{SnapshotError, SnapshotRequest, take_snapshot};
use std::time::Duration;

fn request(retain: u32) -> SnapshotRequest {
    SnapshotRequest {
        resume_since: None,
        env: "staging".into(),
        instance_id: "aussie-markets-staging-db".into(),
        services: vec!["api".into()],
        commit: Some("4f1c0f8a9b2d3e4c".into()),
        run_id: "run-1".into(),
        retain,
        timeout: Duration::from_secs(1800),
    }
}

fn staging() -> amagent::config::Environment {
    load_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .environments["staging"]
        .clone()
}

#[tokio::test(start_paused = true)]
async fn keeps_the_last_n_of_its_own_and_never_touches_others() {
    let sandbox = Sandbox::for_environment(&staging(), FaultScript::builtin("healthy").unwrap());
    let cloud = sandbox.sim.cloud();
    // A snapshot a person took by hand: not the agent's to delete.
    cloud
        .rds
        .create_db_snapshot("aussie-markets-staging-db", "before-manual-migration", &[])
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let report = take_snapshot(&cloud, &sandbox.clock, RetryPolicy::default(), &request(2))
            .await
            .unwrap();
        assert!(
            report.seconds >= 100.0,
            "waited for available: {}",
            report.seconds
        );
        ids.push(report.snapshot_id);
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    assert!(
        ids[0].starts_with("amagent-staging-api-4f1c0f8-20261125-"),
        "{}",
        ids[0]
    );
    let left: Vec<String> = sandbox
        .sim
        .snapshots("aussie-markets-staging-db")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(left.contains(&"before-manual-migration".to_string()));
    assert!(
        !left.contains(&ids[0]),
        "the oldest of the agent's is deleted"
    );
    assert!(left.contains(&ids[1]) && left.contains(&ids[2]));
    let tags = &sandbox
        .sim
        .snapshots("aussie-markets-staging-db")
        .into_iter()
        .find(|s| s.id == ids[2])
        .unwrap()
        .tags;
    assert_eq!(
        tags.get("amagent:managed").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        tags.get("amagent:services").map(String::as_str),
        Some("api")
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_snapshot_is_an_error_that_names_it() {
    let sandbox =
        Sandbox::for_environment(&staging(), FaultScript::builtin("snapshot-fails").unwrap());
    let cloud = sandbox.sim.cloud();
    let err = take_snapshot(&cloud, &sandbox.clock, RetryPolicy::default(), &request(5))
        .await
        .unwrap_err();
    assert!(matches!(err, SnapshotError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("the deploy is blocked"));
}

#[tokio::test(start_paused = true)]
async fn a_missing_instance_is_reported_by_name() {
    let sandbox = Sandbox::for_environment(&staging(), FaultScript::builtin("healthy").unwrap());
    let cloud = sandbox.sim.cloud();
    let mut req = request(5);
    req.instance_id = "no-such-db".into();
    let err = take_snapshot(&cloud, &sandbox.clock, RetryPolicy::default(), &req)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no-such-db"), "{err}");
}
