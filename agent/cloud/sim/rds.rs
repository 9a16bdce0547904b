//! RDS: instances (always `available`) and manual snapshots that take time to finish.

use super::Simulator;
use crate::cloud::ports::{CloudResult, Rds};
use crate::cloud::types::*;
use crate::cloud::{CloudError, ResourceKind};
use async_trait::async_trait;

/// Manual snapshots per region (the default quota).
pub const MANUAL_SNAPSHOT_QUOTA: usize = 100;

/// RDS snapshot identifier rules: 1–255 letters, digits and hyphens; starts with a letter;
/// no trailing hyphen and no two hyphens in a row.
pub fn validate_snapshot_id(id: &str) -> Result<(), String> {
    let problem = if id.is_empty() || id.len() > 255 {
        Some("must be 1 to 255 characters")
    } else if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Some("must start with a letter")
    } else if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Some("may contain only ASCII letters, digits and hyphens")
    } else if id.ends_with('-') {
        Some("must not end with a hyphen")
    } else if id.contains("--") {
        Some("must not contain two consecutive hyphens")
    } else {
        None
    };
    match problem {
        Some(p) => Err(format!(
            "InvalidParameterValue: DBSnapshotIdentifier `{id}` {p}"
        )),
        None => Ok(()),
    }
}

/// The RDS port of the simulator.
pub struct SimRds(pub(super) Simulator);

#[async_trait]
impl Rds for SimRds {
    async fn describe_db_instance(&self, instance_id: &str) -> CloudResult<DbInstance> {
        self.0.call(
            "DescribeDBInstances",
            |w| w.db_arn(instance_id),
            |w| {
                w.db_instances
                    .get(instance_id)
                    .cloned()
                    .ok_or_else(|| CloudError::not_found(ResourceKind::DbInstance, instance_id))
            },
        )
    }

    async fn create_db_snapshot(
        &self,
        instance_id: &str,
        snapshot_id: &str,
        tags: &[(String, String)],
    ) -> CloudResult<DbSnapshot> {
        self.0.call(
            "CreateDBSnapshot",
            |w| w.db_arn(instance_id),
            |w| {
                validate_snapshot_id(snapshot_id)
                    .map_err(|m| CloudError::invalid("CreateDBSnapshot", m))?;
                let instance = w
                    .db_instances
                    .get(instance_id)
                    .ok_or_else(|| CloudError::not_found(ResourceKind::DbInstance, instance_id))?;
                if instance.status != "available" && instance.status != "storage-optimization" {
                    return Err(CloudError::invalid(
                        "CreateDBSnapshot",
                        format!(
                            "InvalidDBInstanceState: instance {instance_id} is {}",
                            instance.status
                        ),
                    ));
                }
                if w.snapshots.contains_key(snapshot_id) {
                    return Err(CloudError::invalid(
                        "CreateDBSnapshot",
                        format!("DBSnapshotAlreadyExists: snapshot {snapshot_id} already exists"),
                    ));
                }
                if w.snapshots.len() >= MANUAL_SNAPSHOT_QUOTA {
                    return Err(CloudError::invalid(
                        "CreateDBSnapshot",
                        format!(
                            "SnapshotQuotaExceeded: {MANUAL_SNAPSHOT_QUOTA} manual snapshots already exist"
                        ),
                    ));
                }
                let snapshot = DbSnapshot {
                    id: snapshot_id.to_string(),
                    instance_id: instance_id.to_string(),
                    status: "creating".into(),
                    snapshot_type: "manual".into(),
                    created_at: w.now(),
                    tags: tags.iter().cloned().collect(),
                };
                let done_at = w.t + w.faults.snapshot_seconds;
                let fails = w.faults.snapshot_fails;
                w.snapshots.insert(
                    snapshot_id.to_string(),
                    super::world::SimSnapshot {
                        snapshot: snapshot.clone(),
                        done_at,
                        fails,
                    },
                );
                Ok(snapshot)
            },
        )
    }

    async fn describe_db_snapshots(&self, instance_id: &str) -> CloudResult<Vec<DbSnapshot>> {
        self.0.call(
            "DescribeDBSnapshots",
            |w| w.db_arn(instance_id),
            |w| {
                if !w.db_instances.contains_key(instance_id) {
                    return Err(CloudError::not_found(ResourceKind::DbInstance, instance_id));
                }
                Ok(w.snapshots
                    .values()
                    .filter(|s| s.snapshot.instance_id == instance_id)
                    .map(|s| s.snapshot.clone())
                    .collect())
            },
        )
    }

    async fn delete_db_snapshot(&self, snapshot_id: &str) -> CloudResult<()> {
        self.0.call(
            "DeleteDBSnapshot",
            |w| w.snapshot_arn(snapshot_id),
            |w| {
                let snap = w
                    .snapshots
                    .get(snapshot_id)
                    .ok_or_else(|| CloudError::not_found(ResourceKind::DbSnapshot, snapshot_id))?;
                if snap.snapshot.status == "creating" {
                    return Err(CloudError::invalid(
                        "DeleteDBSnapshot",
                        format!("InvalidDBSnapshotState: snapshot {snapshot_id} is still creating"),
                    ));
                }
                w.snapshots.remove(snapshot_id);
                Ok(())
            },
        )
    }
}
