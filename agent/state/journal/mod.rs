//! The journal: a durable record of every deployment step, written *before* a step acts and
//! after it finishes, so that `history` can show what happened and the agent knows which
//! revision it last verified (the rollback target). Two backends behind one [`Journal`] trait:
//! - [`LocalJournal`] (`local.rs`): a local directory, one JSON-lines file per environment,
//!   appended and synced line by line;
//! - [`S3Journal`] (`s3.rs`): one S3 object per record under `s3://bucket/prefix`, each written
//!   with `If-None-Match: *` so that two agents can never both record the same step.
//!
//! [`open`] picks one from the `--journal` / `AMAGENT_JOURNAL` value.
//! Must not know: ECS, GitHub. Never holds secret values (only names, ARNs, digests).

pub mod approvals;
pub mod bad;
pub mod check;
pub mod crash;
mod local;
pub mod pins;
pub mod realm;
mod s3;

pub use local::LocalJournal;
pub use s3::S3Journal;

use crate::cloud::{CloudError, ObjectStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Started,
    Finished,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Started => "started",
            Phase::Finished => "finished",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub at: DateTime<Utc>,
    /// One execution of a plan (or of `deploy`) for one environment.
    pub run: String,
    pub env: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// snapshot, register, update-service, gate, rollback, deploy, lifecycle, run.
    pub step: String,
    pub phase: Phase,
    /// For finished steps: succeeded, failed, skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {path}:{line}: unreadable record: {message}")]
    Corrupt {
        path: String,
        line: usize,
        message: String,
    },
    /// Another writer already recorded this step (S3: `If-None-Match: *` failed). Two agents
    /// are acting on the same run: this one must not go on as if it were alone.
    #[error(
        "journal conflict: {key} already exists — another agent recorded this step (is a second agent running on this environments repo?)"
    )]
    Conflict { key: String },
    /// A simulated run's journal offered to a real command, or the other way round.
    #[error(transparent)]
    Realm(#[from] realm::RealmError),
    /// The object store refused or failed (access denied, bucket missing, throttled…).
    #[error("journal {location}: {source}")]
    Store {
        location: String,
        #[source]
        source: CloudError,
    },
    /// A journal file that is not one: not a regular file (a device, a FIFO), or over the
    /// size a journal file may have.
    #[error("journal {path}: {message}")]
    NotAJournal { path: String, message: String },
    /// A `--journal` value that names no usable place.
    #[error("journal `{spec}`: {message}")]
    Spec { spec: String, message: String },
}

#[async_trait]
pub trait Journal: Send + Sync {
    /// Durably record one step (it must survive a crash right after this returns).
    async fn append(&self, record: &Record) -> Result<(), JournalError>;
    /// Every record of `env` (all environments if None), oldest first.
    async fn read(&self, env: Option<&str>) -> Result<Vec<Record>, JournalError>;
}

/// Where a journal lives, parsed from `--journal` / `AMAGENT_JOURNAL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Dir(PathBuf),
    /// `s3://bucket/prefix`; `prefix` is empty or ends with `/`.
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// `s3://bucket[/prefix]` selects S3; anything else is a directory.
    pub fn parse(spec: &str) -> Result<Location, JournalError> {
        let Some(rest) = spec.strip_prefix("s3://") else {
            return Ok(Location::Dir(PathBuf::from(spec)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(JournalError::Spec {
                spec: spec.to_string(),
                message: "no bucket: expected s3://bucket/prefix".into(),
            });
        }
        let prefix = prefix.trim_start_matches('/');
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix,
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(dir) => write!(f, "{}", dir.display()),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The journal a `--journal` value names: `s3://bucket/prefix` → [`S3Journal`] over `store`
/// (the cloud's object store), anything else → [`LocalJournal`] in that directory.
pub fn open(spec: &str, store: &Arc<dyn ObjectStore>) -> Result<Box<dyn Journal>, JournalError> {
    Ok(match Location::parse(spec)? {
        Location::Dir(dir) => Box::new(LocalJournal::new(dir)),
        Location::S3 { bucket, prefix } => Box::new(S3Journal::new(store.clone(), bucket, prefix)),
    })
}

/// The task definition the agent last verified healthy for a service: the rollback target.
pub fn last_verified(records: &[Record], env: &str, service: &str) -> Option<String> {
    recently_verified(records, env, service, 1)
        .into_iter()
        .next()
}

/// Up to `n` distinct task definitions the agent verified healthy for a service, newest first.
pub fn recently_verified(records: &[Record], env: &str, service: &str, n: usize) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let verified = records
        .iter()
        .rev()
        .filter(|r| r.env == env && r.service.as_deref() == Some(service))
        .filter(|r| {
            r.phase == Phase::Finished
                && matches!(r.step.as_str(), "deploy" | "verified")
                && r.outcome.as_deref() == Some("succeeded")
        })
        .filter_map(|r| r.detail.get("task_definition")?.as_str().map(String::from));
    for td in verified {
        if found.len() == n {
            break;
        }
        if !found.contains(&td) {
            found.push(td);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record(
        at: i64,
        service: &str,
        step: &str,
        outcome: Option<&str>,
        td: &str,
    ) -> Record {
        Record {
            at: DateTime::from_timestamp(at, 0).unwrap(),
            run: "r1".into(),
            env: "staging".into(),
            service: Some(service.into()),
            step: step.into(),
            phase: if outcome.is_some() {
                Phase::Finished
            } else {
                Phase::Started
            },
            outcome: outcome.map(String::from),
            detail: serde_json::json!({ "task_definition": td }),
        }
    }

    #[test]
    fn last_verified_skips_failures_and_other_services() {
        let records = vec![
            record(1, "api", "deploy", Some("succeeded"), "td:41"),
            record(2, "worker", "deploy", Some("succeeded"), "wk:9"),
            record(3, "api", "deploy", Some("failed"), "td:42"),
        ];
        assert_eq!(
            last_verified(&records, "staging", "api").as_deref(),
            Some("td:41")
        );
        assert_eq!(last_verified(&records, "production", "api"), None);
    }

    #[test]
    fn a_journal_value_selects_its_backend() {
        assert_eq!(
            Location::parse(".amagent/journal").unwrap(),
            Location::Dir(".amagent/journal".into())
        );
        assert_eq!(
            Location::parse("s3://aussie-markets-staging-logs/amagent").unwrap(),
            Location::S3 {
                bucket: "aussie-markets-staging-logs".into(),
                prefix: "amagent/".into()
            }
        );
        assert_eq!(
            Location::parse("s3://aussie-markets-staging-logs").unwrap(),
            Location::S3 {
                bucket: "aussie-markets-staging-logs".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Location::parse("s3://b/amagent/").unwrap().to_string(),
            "s3://b/amagent/"
        );
        let err = Location::parse("s3:///amagent").unwrap_err();
        assert!(err.to_string().contains("no bucket"), "{err}");
    }
}
