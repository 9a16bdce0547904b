//! The RDS snapshot stage: a manual snapshot with a recognisable id and tags, waited for until
//! `available` (a failed or late snapshot blocks the deploy), then retention of the agent's own
//! snapshots. Snapshots the agent did not create are never touched.

use crate::clock::Clock;
use crate::cloud::retry::RetryPolicy;
use crate::cloud::types::DbSnapshot;
use crate::cloud::{Cloud, CloudError};
use serde::Serialize;
use std::time::Duration;

/// Tag marking a snapshot as the agent's (retention only ever deletes these).
pub const MANAGED_TAG: &str = "amagent:managed";

#[derive(Clone, Debug)]
pub struct SnapshotRequest {
    pub env: String,
    pub instance_id: String,
    /// Services whose deploy this snapshot protects.
    pub services: Vec<String>,
    /// The environments-repo commit being applied, if any.
    pub commit: Option<String>,
    pub run_id: String,
    /// Keep this many of the agent's snapshots of the instance.
    pub retain: u32,
    /// Give up waiting for `available` after this long.
    pub timeout: Duration,
    /// Resuming an apply of `commit` that started at this time and was interrupted: a snapshot
    /// this agent took for the same environment and commit since then is used, not taken again.
    pub resume_since: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SnapshotReport {
    pub snapshot_id: String,
    pub seconds: f64,
    /// The agent's older snapshots deleted by retention.
    pub deleted: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("RDS instance {instance} is `{status}`; a snapshot needs it `available`")]
    InstanceNotAvailable { instance: String, status: String },
    #[error("snapshot {id} of {instance} failed (RDS status `failed`); the deploy is blocked")]
    Failed { id: String, instance: String },
    #[error(
        "snapshot {id} of {instance} was not available after {seconds} s; the deploy is blocked"
    )]
    Timeout {
        id: String,
        instance: String,
        seconds: u64,
    },
    #[error("{0}")]
    Cloud(#[from] CloudError),
}

/// `amagent-staging-api-4f1c0f8-20261125-161700`: env, service(s), short commit, UTC time —
/// letters, digits and single hyphens, starting with a letter, as RDS requires.
pub fn snapshot_id(
    env: &str,
    services: &[String],
    commit: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
) -> String {
    let what = match services {
        [one] => one.clone(),
        [] => "env".to_string(),
        many => format!("{}-services", many.len()),
    };
    let commit = commit.map(|c| &c[..c.len().min(7)]).unwrap_or("manual");
    let raw = format!(
        "amagent-{env}-{what}-{commit}-{}",
        at.format("%Y%m%d-%H%M%S")
    );
    let mut id = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && id.ends_with('-')) {
            id.push(c);
        }
    }
    id.truncate(255);
    id.trim_end_matches('-').to_string()
}

/// Snapshot the instance (or, resuming, find the snapshot the interrupted run took), wait until
/// it is `available`, then apply retention.
pub async fn take_snapshot(
    cloud: &Cloud,
    clock: &Clock,
    retry: RetryPolicy,
    request: &SnapshotRequest,
) -> Result<SnapshotReport, SnapshotError> {
    let started = tokio::time::Instant::now();
    ensure_instance_available(cloud, retry, request).await?;
    // Named at the start (before any lookup), so the id carries the time the stage began.
    let fresh = snapshot_id(
        &request.env,
        &request.services,
        request.commit.as_deref(),
        clock.now(),
    );
    let id = match taken_by_interrupted_run(cloud, retry, request).await? {
        Some(taken) => taken,
        None => {
            create(cloud, retry, request, &fresh).await?;
            fresh
        }
    };
    wait_until_available(cloud, clock, retry, request, &id, started).await?;
    let deleted = prune(cloud, retry, request).await?;
    Ok(SnapshotReport {
        snapshot_id: id,
        seconds: started.elapsed().as_secs_f64(),
        deleted,
    })
}

/// RDS snapshots only an `available` instance.
async fn ensure_instance_available(
    cloud: &Cloud,
    retry: RetryPolicy,
    request: &SnapshotRequest,
) -> Result<(), SnapshotError> {
    let instance = retry
        .run("DescribeDBInstances", || {
            cloud.rds.describe_db_instance(&request.instance_id)
        })
        .await?;
    if instance.status != "available" {
        return Err(SnapshotError::InstanceNotAvailable {
            instance: request.instance_id.clone(),
            status: instance.status,
        });
    }
    Ok(())
}

/// Resuming an interrupted apply: the snapshot it took for the same environment and commit,
/// if any (one that failed or is being deleted does not count).
async fn taken_by_interrupted_run(
    cloud: &Cloud,
    retry: RetryPolicy,
    request: &SnapshotRequest,
) -> Result<Option<String>, SnapshotError> {
    let (Some(since), Some(commit)) = (request.resume_since, request.commit.as_deref()) else {
        return Ok(None);
    };
    let existing = retry
        .run("DescribeDBSnapshots", || {
            cloud.rds.describe_db_snapshots(&request.instance_id)
        })
        .await?;
    let taken = existing
        .iter()
        .filter(|s| s.created_at >= since && s.status != "failed" && s.status != "deleting")
        .filter(|s| s.tags.get(MANAGED_TAG).map(String::as_str) == Some("true"))
        .filter(|s| s.tags.get("amagent:env") == Some(&request.env))
        .filter(|s| s.tags.get("amagent:commit").map(String::as_str) == Some(commit))
        .max_by_key(|s| s.created_at);
    Ok(taken.map(|taken| {
        tracing::info!(snapshot = %taken.id, "resuming: the interrupted run already took this snapshot");
        taken.id.clone()
    }))
}

/// The tags that mark the snapshot as the agent's and say what it protects.
fn snapshot_tags(request: &SnapshotRequest) -> Vec<(String, String)> {
    vec![
        (MANAGED_TAG.to_string(), "true".to_string()),
        ("amagent:env".to_string(), request.env.clone()),
        ("amagent:services".to_string(), request.services.join(",")),
        (
            "amagent:commit".to_string(),
            request.commit.clone().unwrap_or_default(),
        ),
        ("amagent:run".to_string(), request.run_id.clone()),
    ]
}

/// CreateDBSnapshot `id`, tagged as the agent's.
async fn create(
    cloud: &Cloud,
    retry: RetryPolicy,
    request: &SnapshotRequest,
    id: &str,
) -> Result<(), SnapshotError> {
    let tags = snapshot_tags(request);
    // Not retried blindly: a retry after a lost response would hit DBSnapshotAlreadyExists,
    // which is then treated as "ours, carry on".
    let created = retry
        .run("CreateDBSnapshot", || {
            cloud
                .rds
                .create_db_snapshot(&request.instance_id, id, &tags)
        })
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(CloudError::InvalidRequest { message, .. }) if message.contains("AlreadyExists") => {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Poll until snapshot `id` is `available`; failed, gone or late blocks the deploy.
async fn wait_until_available(
    cloud: &Cloud,
    clock: &Clock,
    retry: RetryPolicy,
    request: &SnapshotRequest,
    id: &str,
    started: tokio::time::Instant,
) -> Result<(), SnapshotError> {
    loop {
        let snapshots = retry
            .run("DescribeDBSnapshots", || {
                cloud.rds.describe_db_snapshots(&request.instance_id)
            })
            .await?;
        match snapshots
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.status.as_str())
        {
            Some("available") => return Ok(()),
            Some("failed") | None => {
                return Err(SnapshotError::Failed {
                    id: id.to_string(),
                    instance: request.instance_id.clone(),
                });
            }
            Some(_) => {}
        }
        if started.elapsed() >= request.timeout {
            return Err(SnapshotError::Timeout {
                id: id.to_string(),
                instance: request.instance_id.clone(),
                seconds: request.timeout.as_secs(),
            });
        }
        // Snapshots take minutes: poll gently.
        clock
            .sleep(Duration::from_secs(10).min(request.timeout))
            .await;
    }
}

/// Delete the agent's snapshots of this environment beyond the newest `retain`.
async fn prune(
    cloud: &Cloud,
    retry: RetryPolicy,
    request: &SnapshotRequest,
) -> Result<Vec<String>, SnapshotError> {
    let snapshots = retry
        .run("DescribeDBSnapshots", || {
            cloud.rds.describe_db_snapshots(&request.instance_id)
        })
        .await?;
    let mut ours: Vec<&DbSnapshot> = snapshots
        .iter()
        .filter(|s| s.tags.get(MANAGED_TAG).map(String::as_str) == Some("true"))
        .filter(|s| s.tags.get("amagent:env") == Some(&request.env))
        .filter(|s| s.status == "available")
        .collect();
    ours.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    let mut deleted = Vec::new();
    for old in ours.iter().skip(request.retain as usize) {
        retry
            .run("DeleteDBSnapshot", || cloud.rds.delete_db_snapshot(&old.id))
            .await?;
        deleted.push(old.id.clone());
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_are_recognisable_and_valid_for_rds() {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 25, 16, 17, 0)
            .unwrap();
        assert_eq!(
            snapshot_id("staging", &["api".into()], Some("4f1c0f8a9b2d"), at),
            "amagent-staging-api-4f1c0f8-20261125-161700"
        );
        assert_eq!(
            snapshot_id("prod_eu", &["a".into(), "b".into()], None, at),
            "amagent-prod-eu-2-services-manual-20261125-161700"
        );
        let id = snapshot_id("x--y", &["Web_API".into()], None, at);
        assert!(!id.contains("--") && id.starts_with('a'), "{id}");
    }
}
