//! RDS through aws-sdk-rds.

use super::error::{Subject, map};
use super::taskdef::time;
use crate::cloud::types::{DbInstance, DbSnapshot};
use crate::cloud::{CloudError, CloudResult, Rds, ResourceKind};
use async_trait::async_trait;

pub struct AwsRds {
    pub(super) client: aws_sdk_rds::Client,
}

fn snapshot_from_sdk(s: &aws_sdk_rds::types::DbSnapshot) -> DbSnapshot {
    DbSnapshot {
        id: s.db_snapshot_identifier().unwrap_or_default().to_string(),
        instance_id: s.db_instance_identifier().unwrap_or_default().to_string(),
        status: s.status().unwrap_or_default().to_string(),
        snapshot_type: s.snapshot_type().unwrap_or_default().to_string(),
        created_at: time(s.snapshot_create_time()).unwrap_or(chrono::DateTime::UNIX_EPOCH),
        tags: s
            .tag_list()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
    }
}

#[async_trait]
impl Rds for AwsRds {
    async fn describe_db_instance(&self, instance_id: &str) -> CloudResult<DbInstance> {
        let out = self
            .client
            .describe_db_instances()
            .db_instance_identifier(instance_id)
            .send()
            .await
            .map_err(|e| {
                map(
                    "DescribeDBInstances",
                    Subject {
                        kind: ResourceKind::DbInstance,
                        name: instance_id,
                    },
                    e,
                )
            })?;
        out.db_instances()
            .first()
            .map(|i| DbInstance {
                id: i.db_instance_identifier().unwrap_or_default().to_string(),
                status: i.db_instance_status().unwrap_or_default().to_string(),
            })
            .ok_or_else(|| CloudError::not_found(ResourceKind::DbInstance, instance_id))
    }

    async fn create_db_snapshot(
        &self,
        instance_id: &str,
        snapshot_id: &str,
        tags: &[(String, String)],
    ) -> CloudResult<DbSnapshot> {
        let tags = tags
            .iter()
            .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
            .collect();
        let out = self
            .client
            .create_db_snapshot()
            .db_instance_identifier(instance_id)
            .db_snapshot_identifier(snapshot_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| {
                map(
                    "CreateDBSnapshot",
                    Subject {
                        kind: ResourceKind::DbInstance,
                        name: instance_id,
                    },
                    e,
                )
            })?;
        out.db_snapshot()
            .map(snapshot_from_sdk)
            .ok_or_else(|| CloudError::invalid("CreateDBSnapshot", "no snapshot in the response"))
    }

    async fn describe_db_snapshots(&self, instance_id: &str) -> CloudResult<Vec<DbSnapshot>> {
        let mut pages = self
            .client
            .describe_db_snapshots()
            .db_instance_identifier(instance_id)
            .snapshot_type("manual")
            .into_paginator()
            .send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                map(
                    "DescribeDBSnapshots",
                    Subject {
                        kind: ResourceKind::DbInstance,
                        name: instance_id,
                    },
                    e,
                )
            })?;
            all.extend(page.db_snapshots().iter().map(snapshot_from_sdk));
        }
        Ok(all)
    }

    async fn delete_db_snapshot(&self, snapshot_id: &str) -> CloudResult<()> {
        self.client
            .delete_db_snapshot()
            .db_snapshot_identifier(snapshot_id)
            .send()
            .await
            .map_err(|e| {
                map(
                    "DeleteDBSnapshot",
                    Subject {
                        kind: ResourceKind::DbSnapshot,
                        name: snapshot_id,
                    },
                    e,
                )
            })?;
        Ok(())
    }
}
