//! The snapshot stage of an apply: one RDS snapshot protects every deploy of the run whose
//! plan asks for one. Without the snapshot the policy requires, those deploys do not happen.

use super::runner::EnvRunner;
use super::{EnvReport, failed, running_task_definitions};
use crate::config::{Database, StageKind};
use crate::stages::deploy::{DeployResult, FailureKind, Target};
use crate::stages::snapshot::{self, SnapshotReport, SnapshotRequest};
use crate::state::journal::Phase;

/// Takes the snapshot when a target needs one; on failure every target moves to `early` as
/// failed, nothing having changed.
pub(super) async fn protect(
    r: &EnvRunner<'_>,
    report: &mut EnvReport,
    targets: &mut Vec<Target>,
    early: &mut Vec<DeployResult>,
) {
    let snapshotting: Vec<String> = r
        .wants(StageKind::Snapshot)
        .iter()
        .filter(|s| targets.iter().any(|t| t.spec.name == s.name))
        .map(|s| s.name.clone())
        .collect();
    let Some(db) = r.env.database.as_ref().filter(|_| !snapshotting.is_empty()) else {
        return;
    };
    match take(r, report, db, &snapshotting).await {
        Ok(snap) => {
            let detail = serde_json::to_value(&snap).unwrap_or_default();
            let _ = r
                .journal("snapshot", Phase::Finished, Some("succeeded"), detail)
                .await;
            report.snapshot = Some(snap);
        }
        Err(why) => {
            let detail = serde_json::json!({ "error": why });
            let _ = r
                .journal("snapshot", Phase::Finished, Some("failed"), detail)
                .await;
            block_deploys(r, targets, early, &why).await;
            report.snapshot_error = Some(why);
        }
    }
}

/// Journals the start (write-ahead), then takes the snapshot and waits for it.
async fn take(
    r: &EnvRunner<'_>,
    report: &mut EnvReport,
    db: &Database,
    services: &[String],
) -> Result<SnapshotReport, String> {
    let ctx = r.ctx;
    let request = SnapshotRequest {
        env: r.env.name.clone(),
        instance_id: db.instance_id.clone(),
        services: services.to_vec(),
        commit: r.run.commit.clone(),
        run_id: r.id.clone(),
        retain: db.snapshots.retain,
        timeout: ctx.snapshot_timeout,
        resume_since: r.run.resume_since,
    };
    for s in services {
        let step = format!("snapshotting RDS {}", db.instance_id);
        ctx.progress.step(&r.env.name, s, &step);
    }
    let detail = serde_json::json!({ "instance": db.instance_id, "services": services });
    if let Err(e) = r.journal("snapshot", Phase::Started, None, detail).await {
        report.journal_error = Some(e.to_string());
        return Err(format!("not taken: cannot write the journal ({e})"));
    }
    snapshot::take_snapshot(ctx.cloud, ctx.clock, ctx.retry, &request)
        .await
        .map_err(|e| e.to_string())
}

/// No deploy without the snapshot the policy requires: each target fails, unchanged.
async fn block_deploys(
    r: &EnvRunner<'_>,
    targets: &mut Vec<Target>,
    early: &mut Vec<DeployResult>,
    why: &str,
) {
    for t in targets.drain(..) {
        let reason = format!("not deployed: {why}");
        let mut result = failed(r.env, &t.spec, FailureKind::Rollout, reason);
        result.image = t.image.clone();
        result.task_definition = running_task_definitions(r.ctx, r.env, &t.spec)
            .await
            .ok()
            .map(|(td, _)| td);
        let reason = result.reason.as_deref().unwrap_or_default();
        r.ctx
            .progress
            .done(&r.env.name, &t.spec.name, false, reason);
        early.push(result);
    }
}
