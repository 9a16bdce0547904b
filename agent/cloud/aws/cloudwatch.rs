//! CloudWatch through aws-sdk-cloudwatch (DescribeAlarms: the gate's alarm signal) and
//! aws-sdk-cloudwatchlogs (GetLogEvents: the end of a pre-deploy task's log).

use super::error::{Subject, map};
use super::taskdef::time;
use crate::cloud::types::AlarmState;
use crate::cloud::{Alarms, CloudError, CloudResult, DESCRIBE_ALARMS_BATCH, Logs, ResourceKind};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::AlarmType;

pub struct AwsLogs {
    pub(super) client: aws_sdk_cloudwatchlogs::Client,
}

pub struct AwsAlarms {
    pub(super) client: aws_sdk_cloudwatch::Client,
}

#[async_trait]
impl Logs for AwsLogs {
    async fn tail(
        &self,
        group: &str,
        stream: &str,
        limit: u32,
    ) -> CloudResult<Option<Vec<String>>> {
        // From the end: the newest `limit` events, which the API returns oldest first.
        let answer = self
            .client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(false)
            .limit(limit.clamp(1, 10_000) as i32)
            .send()
            .await;
        match answer {
            Ok(out) => Ok(Some(
                out.events()
                    .iter()
                    .filter_map(|e| e.message())
                    .map(|m| m.trim_end().to_string())
                    .collect(),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(map(
                "GetLogEvents",
                Subject {
                    kind: ResourceKind::LogStream,
                    name: &format!("{group}/{stream}"),
                },
                e,
            )),
        }
    }
}

#[async_trait]
impl Alarms for AwsAlarms {
    async fn describe_alarms(&self, names: &[String]) -> CloudResult<Vec<AlarmState>> {
        if names.len() > DESCRIBE_ALARMS_BATCH {
            return Err(CloudError::invalid(
                "DescribeAlarms",
                "at most 100 alarm names per call",
            ));
        }
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let epoch = chrono::DateTime::UNIX_EPOCH;
        let mut found = Vec::new();
        let mut pages = self
            .client
            .describe_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                map(
                    "DescribeAlarms",
                    Subject {
                        kind: ResourceKind::Alarm,
                        name: &names.join(", "),
                    },
                    e,
                )
            })?;
            for a in page.metric_alarms() {
                found.push(AlarmState {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    state: a
                        .state_value()
                        .map(|s| s.as_str())
                        .unwrap_or("")
                        .to_string(),
                    reason: a.state_reason().unwrap_or_default().to_string(),
                    updated_at: time(a.state_updated_timestamp()).unwrap_or(epoch),
                });
            }
            for a in page.composite_alarms() {
                found.push(AlarmState {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    state: a
                        .state_value()
                        .map(|s| s.as_str())
                        .unwrap_or("")
                        .to_string(),
                    reason: a.state_reason().unwrap_or_default().to_string(),
                    updated_at: time(a.state_updated_timestamp()).unwrap_or(epoch),
                });
            }
        }
        Ok(found)
    }
}
