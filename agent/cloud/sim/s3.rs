//! S3: buckets of objects with conditional writes (the journal's one-writer lock).

use super::Simulator;
use crate::cloud::ports::{CloudResult, ObjectStore};
use crate::cloud::types::*;
use crate::cloud::{CloudError, ResourceKind};
use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// S3-style ETag (quoted) of a body: here the hex SHA-256.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

fn unquoted(etag: &str) -> &str {
    etag.trim_start_matches("W/").trim_matches('"')
}

/// The object-store port of the simulator.
pub struct SimS3(pub(super) Simulator);

#[async_trait]
impl ObjectStore for SimS3 {
    async fn get(&self, bucket: &str, key: &str) -> CloudResult<Option<StoredObject>> {
        self.0.call(
            "GetObject",
            |_| format!("arn:aws:s3:::{bucket}/{key}"),
            |w| {
                let objects = w
                    .buckets
                    .get(bucket)
                    .ok_or_else(|| CloudError::not_found(ResourceKind::Bucket, bucket))?;
                Ok(objects.get(key).cloned())
            },
        )
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        condition: PutCondition,
    ) -> CloudResult<String> {
        self.0.call(
            "PutObject",
            |_| format!("arn:aws:s3:::{bucket}/{key}"),
            |w| {
                let objects = w
                    .buckets
                    .get_mut(bucket)
                    .ok_or_else(|| CloudError::not_found(ResourceKind::Bucket, bucket))?;
                let existing = objects.get(key);
                let failed = match (&condition, existing) {
                    (PutCondition::Always, _) => None,
                    (PutCondition::IfAbsent, Some(_)) => Some("the object already exists"),
                    (PutCondition::IfAbsent, None) => None,
                    (PutCondition::IfMatch(_), None) => Some("the object does not exist"),
                    (PutCondition::IfMatch(etag), Some(o)) => {
                        (unquoted(etag) != unquoted(&o.etag)).then_some("the object has changed")
                    }
                };
                if let Some(why) = failed {
                    return Err(CloudError::invalid(
                        "PutObject",
                        format!("PreconditionFailed: s3://{bucket}/{key}: {why}"),
                    ));
                }
                let etag = etag_of(body);
                objects.insert(
                    key.to_string(),
                    StoredObject {
                        body: body.to_vec(),
                        etag: etag.clone(),
                    },
                );
                Ok(etag)
            },
        )
    }

    async fn delete(&self, bucket: &str, key: &str) -> CloudResult<()> {
        self.0.call(
            "DeleteObject",
            |_| format!("arn:aws:s3:::{bucket}/{key}"),
            |w| {
                let objects = w
                    .buckets
                    .get_mut(bucket)
                    .ok_or_else(|| CloudError::not_found(ResourceKind::Bucket, bucket))?;
                objects.remove(key);
                Ok(())
            },
        )
    }

    async fn list(&self, bucket: &str, prefix: &str) -> CloudResult<Vec<String>> {
        self.0.call(
            "ListObjectsV2",
            |_| format!("arn:aws:s3:::{bucket}"),
            |w| {
                let objects = w
                    .buckets
                    .get(bucket)
                    .ok_or_else(|| CloudError::not_found(ResourceKind::Bucket, bucket))?;
                Ok(objects
                    .keys()
                    .filter(|k| k.starts_with(prefix))
                    .cloned()
                    .collect())
            },
        )
    }
}
