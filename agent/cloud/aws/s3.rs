//! S3 through aws-sdk-s3 (path-style addressing when an endpoint is set).

use super::error::{Subject, map};
use crate::cloud::types::{PutCondition, StoredObject};
use crate::cloud::{CloudError, CloudResult, ObjectStore, ResourceKind};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub struct AwsS3 {
    pub(super) client: aws_sdk_s3::Client,
}

#[async_trait]
impl ObjectStore for AwsS3 {
    async fn get(&self, bucket: &str, key: &str) -> CloudResult<Option<StoredObject>> {
        let path = format!("s3://{bucket}/{key}");
        match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| CloudError::Unavailable {
                        operation: "GetObject".into(),
                        message: e.to_string(),
                    })?;
                Ok(Some(StoredObject {
                    body: body.into_bytes().to_vec(),
                    etag,
                }))
            }
            Err(e) => {
                let is_missing_key = e.as_service_error().is_some_and(|s| s.is_no_such_key());
                if is_missing_key {
                    return Ok(None);
                }
                Err(map(
                    "GetObject",
                    Subject {
                        kind: ResourceKind::Object,
                        name: &path,
                    },
                    e,
                ))
            }
        }
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        condition: PutCondition,
    ) -> CloudResult<String> {
        let mut req = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()));
        let if_match = matches!(condition, PutCondition::IfMatch(_));
        req = match condition {
            PutCondition::Always => req,
            PutCondition::IfAbsent => req.if_none_match("*"),
            PutCondition::IfMatch(etag) => req.if_match(etag),
        };
        let out = req.send().await.map_err(|e| {
            // S3 answers If-Match on a missing key with 404 NoSuchKey: for the caller that is a
            // failed condition (the object it read is gone), as in the simulator.
            if if_match && e.code() == Some("NoSuchKey") {
                return CloudError::invalid(
                    "PutObject",
                    format!("PreconditionFailed: s3://{bucket}/{key}: the object does not exist"),
                );
            }
            map(
                "PutObject",
                Subject {
                    kind: ResourceKind::Bucket,
                    name: bucket,
                },
                e,
            )
        })?;
        Ok(out.e_tag().unwrap_or_default().to_string())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> CloudResult<Vec<String>> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                map(
                    "ListObjectsV2",
                    Subject {
                        kind: ResourceKind::Bucket,
                        name: bucket,
                    },
                    e,
                )
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, bucket: &str, key: &str) -> CloudResult<()> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                map(
                    "DeleteObject",
                    Subject {
                        kind: ResourceKind::Bucket,
                        name: bucket,
                    },
                    e,
                )
            })?;
        Ok(())
    }
}
