//! The S3 journal: one object per record, so that appends need no read-modify-write and two
//! agents cannot both record the same step.
//!
//! Key layout (`<prefix>` is empty or ends with `/`):
//!
//! ```text
//! <prefix>journal/<env>/<run>/<service | _run>/<step>-<phase>-<nnn>.json
//! e.g. amagent/journal/staging/staging-20261125T090000Z-abc1234-0f3a2b/api/deploy-started-001.json
//! ```
//!
//! The key is the step's identity: run + service (or `_run` for environment-wide steps such as
//! `run`, `snapshot`, `lifecycle`) + step + phase, and `nnn`, the how-many-th time this journal
//! has appended that same (run, service, step, phase) — today no step repeats within a run, so
//! it is `001`, but a repeating step (e.g. a second rollback attempt) gets its own key instead
//! of a false conflict. Every object is written with `If-None-Match: *`: a second agent writing
//! the same step of the same run gets [`JournalError::Conflict`] naming the key. Run ids begin
//! with the environment and a UTC timestamp, so keys list in time order.
//!
//! The body is the [`Record`] as JSON plus `seq`, this process's append counter: records of the
//! same instant (common on the simulator's virtual clock) read back in the order appended.

use super::{Journal, JournalError, Record};
use crate::cloud::ObjectStore;
use crate::cloud::types::PutCondition;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Environment-wide steps (no service) are filed under this name.
const RUN_SCOPE: &str = "_run";

pub struct S3Journal {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
    /// Appends so far per step identity (run, service, step, phase).
    occurrences: Mutex<HashMap<String, u32>>,
    seq: AtomicU64,
}

/// What an object holds: the record, and its place among this process's appends.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    record: Record,
    #[serde(default)]
    seq: u64,
}

/// A key segment from a name: names are already `[a-z0-9-]` by validation; anything else
/// (a `/` above all) must not change the layout.
fn segment(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl S3Journal {
    /// `prefix`: empty, or ending with `/` (added when missing).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        let mut prefix = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        S3Journal {
            store,
            bucket: bucket.into(),
            prefix,
            occurrences: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
        }
    }

    fn env_prefix(&self, env: Option<&str>) -> String {
        match env {
            Some(env) => format!("{}journal/{}/", self.prefix, segment(env)),
            None => format!("{}journal/", self.prefix),
        }
    }

    /// The key of a record, without its occurrence number and `.json`.
    fn identity(&self, record: &Record) -> String {
        format!(
            "{}{}/{}/{}-{}",
            self.env_prefix(Some(&record.env)),
            segment(&record.run),
            record
                .service
                .as_deref()
                .map(segment)
                .unwrap_or_else(|| RUN_SCOPE.into()),
            segment(&record.step),
            record.phase.as_str()
        )
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

#[async_trait]
impl Journal for S3Journal {
    async fn append(&self, record: &Record) -> Result<(), JournalError> {
        let identity = self.identity(record);
        let n = {
            let occurrences = self.occurrences.lock().unwrap_or_else(|p| p.into_inner());
            occurrences.get(&identity).copied().unwrap_or(0) + 1
        };
        let key = format!("{identity}-{n:03}.json");
        let body = serde_json::to_vec(&Stored {
            record: record.clone(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
        })
        .expect("records serialize");
        match self
            .store
            .put(&self.bucket, &key, &body, PutCondition::IfAbsent)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_precondition_failed() => {
                // Our own earlier attempt may have landed (a timeout after S3 stored it, then
                // the SDK's retry): the same bytes there are our record, not a conflict.
                let ours = matches!(
                    self.store.get(&self.bucket, &key).await,
                    Ok(Some(existing)) if existing.body == body
                );
                if !ours {
                    return Err(JournalError::Conflict {
                        key: self.location(&key),
                    });
                }
            }
            Err(source) => {
                return Err(JournalError::Store {
                    location: self.location(&key),
                    source,
                });
            }
        }
        // Counted only once stored: a failed append is retried under the same key.
        let mut occurrences = self.occurrences.lock().unwrap_or_else(|p| p.into_inner());
        let count = occurrences.entry(identity).or_insert(0);
        *count = (*count).max(n);
        Ok(())
    }

    /// Lists the prefix and fetches the objects one by one (sequentially: a journal read is
    /// one GET per record; fine for `history` and a deploy's rollback lookup today, a candidate
    /// for bounded concurrency or a per-run summary object when histories grow long).
    async fn read(&self, env: Option<&str>) -> Result<Vec<Record>, JournalError> {
        let prefix = self.env_prefix(env);
        let keys = self
            .store
            .list(&self.bucket, &prefix)
            .await
            .map_err(|source| JournalError::Store {
                location: self.location(&prefix),
                source,
            })?;
        let mut stored = Vec::new();
        for key in keys.iter().filter(|k| k.ends_with(".json")) {
            let object = match self.store.get(&self.bucket, key).await {
                Ok(Some(o)) => o,
                // Listed, then gone: nothing of ours deletes journal objects, but a retention
                // rule on the bucket may.
                Ok(None) => continue,
                Err(source) => {
                    return Err(JournalError::Store {
                        location: self.location(key),
                        source,
                    });
                }
            };
            let s: Stored =
                serde_json::from_slice(&object.body).map_err(|e| JournalError::Corrupt {
                    path: self.location(key),
                    line: 1,
                    message: e.to_string(),
                })?;
            stored.push(s);
        }
        stored.sort_by(|a, b| {
            (a.record.at, &a.record.run, a.seq).cmp(&(b.record.at, &b.record.run, b.seq))
        });
        Ok(stored.into_iter().map(|s| s.record).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::cloud::sim::{FaultScript, Simulator};
    use crate::state::journal::{last_verified, tests::record};

    const BUCKET: &str = "aussie-markets-staging-logs";

    fn journal() -> (Simulator, S3Journal) {
        let sim = Simulator::new(
            Clock::starting_at("2026-11-25T00:00:00Z".parse().unwrap()),
            FaultScript::new(),
        );
        sim.add_bucket(BUCKET);
        let j = S3Journal::new(sim.cloud().s3, BUCKET, "amagent");
        (sim, j)
    }

    #[tokio::test(start_paused = true)]
    async fn records_round_trip_one_object_each_under_a_deterministic_key() {
        let (sim, j) = journal();
        let mut run = record(1, "api", "run", None, "");
        run.service = None;
        j.append(&run).await.unwrap();
        j.append(&record(2, "api", "deploy", None, "td:42"))
            .await
            .unwrap();
        j.append(&record(3, "api", "deploy", Some("succeeded"), "td:42"))
            .await
            .unwrap();
        let keys = sim.cloud().s3.list(BUCKET, "amagent/").await.unwrap();
        assert_eq!(
            keys,
            [
                "amagent/journal/staging/r1/_run/run-started-001.json",
                "amagent/journal/staging/r1/api/deploy-finished-001.json",
                "amagent/journal/staging/r1/api/deploy-started-001.json",
            ]
        );
        let records = j.read(Some("staging")).await.unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0], run);
        assert_eq!(
            last_verified(&records, "staging", "api").as_deref(),
            Some("td:42")
        );
        assert_eq!(j.read(None).await.unwrap(), records);
        assert!(j.read(Some("production")).await.unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_agent_writing_the_same_step_gets_a_conflict_naming_the_key() {
        let (sim, first) = journal();
        let second = S3Journal::new(sim.cloud().s3, BUCKET, "amagent/");
        let step = record(2, "api", "deploy", None, "td:42");
        first.append(&step).await.unwrap();
        let mut theirs = step.clone();
        theirs.detail = serde_json::json!({ "task_definition": "td:43" });
        let err = second.append(&theirs).await.unwrap_err();
        assert!(matches!(err, JournalError::Conflict { .. }), "{err}");
        assert!(
            err.to_string().contains(
                "s3://aussie-markets-staging-logs/amagent/journal/staging/r1/api/deploy-started-001.json"
            ),
            "{err}"
        );
        // The first record stands.
        let records = first.read(None).await.unwrap();
        assert_eq!(records, [step]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_repeated_by_the_same_journal_gets_the_next_key() {
        let (sim, j) = journal();
        let step = record(2, "api", "rollback", None, "td:41");
        j.append(&step).await.unwrap();
        j.append(&step).await.unwrap();
        let keys = sim.cloud().s3.list(BUCKET, "amagent/").await.unwrap();
        assert_eq!(
            keys,
            [
                "amagent/journal/staging/r1/api/rollback-started-001.json",
                "amagent/journal/staging/r1/api/rollback-started-002.json",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn read_orders_by_time_then_by_append_order() {
        let (_sim, j) = journal();
        // Appended out of time order.
        j.append(&record(5, "api", "deploy", Some("succeeded"), "td:42"))
            .await
            .unwrap();
        j.append(&record(1, "api", "deploy", None, "td:42"))
            .await
            .unwrap();
        j.append(&record(7, "api", "verified", Some("succeeded"), "td:42"))
            .await
            .unwrap();
        let steps: Vec<(i64, String)> = j
            .read(None)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.at.timestamp(), r.step.clone()))
            .collect();
        assert_eq!(
            steps,
            [
                (1, "deploy".to_string()),
                (5, "deploy".to_string()),
                (7, "verified".to_string())
            ]
        );
        // Same instant, same run: the order appended (not the key order, where "deploy" sorts
        // before "gate").
        let (_sim, j) = journal();
        j.append(&record(5, "api", "gate", Some("succeeded"), "td:42"))
            .await
            .unwrap();
        j.append(&record(5, "api", "deploy", Some("succeeded"), "td:42"))
            .await
            .unwrap();
        let steps: Vec<String> = j
            .read(None)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.step)
            .collect();
        assert_eq!(steps, ["gate", "deploy"]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_object_and_a_missing_bucket_are_reported_with_their_location() {
        let (sim, j) = journal();
        sim.cloud()
            .s3
            .put(
                BUCKET,
                "amagent/journal/staging/r1/api/x-started-001.json",
                b"{\"not\": \"a record\"}",
                PutCondition::Always,
            )
            .await
            .unwrap();
        let err = j.read(None).await.unwrap_err();
        assert!(
            err.to_string().contains(
                "s3://aussie-markets-staging-logs/amagent/journal/staging/r1/api/x-started-001.json:1: unreadable record"
            ),
            "{err}"
        );
        let nowhere = S3Journal::new(sim.cloud().s3, "no-such-bucket", "");
        let err = nowhere
            .append(&record(1, "api", "deploy", None, ""))
            .await
            .unwrap_err();
        assert!(matches!(err, JournalError::Store { .. }), "{err}");
        assert!(err.to_string().contains("no-such-bucket"), "{err}");
    }
}
