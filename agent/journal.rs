//! The journal: a durable record of every deployment step, written *before* a step acts and
//! after it finishes, so that `history` can show what happened and the agent knows which
//! revision it last verified (the rollback target). This is the local-directory backend: one
//! JSON-lines file per environment, appended and synced line by line.
//! Must not know: AWS, GitHub. Never holds secret values (only names, ARNs, digests).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Started,
    Finished,
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
}

pub trait Journal: Send + Sync {
    fn append(&self, record: &Record) -> Result<(), JournalError>;
    /// Every record of `env` (all environments if None), oldest first.
    fn read(&self, env: Option<&str>) -> Result<Vec<Record>, JournalError>;
}

/// `<dir>/<env>.jsonl`, one record per line.
pub struct LocalJournal {
    dir: PathBuf,
    // Appends from concurrent rollouts must not interleave within a line.
    lock: Mutex<()>,
}

impl LocalJournal {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalJournal {
            dir: dir.into(),
            lock: Mutex::new(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, env: &str) -> PathBuf {
        self.dir.join(format!("{env}.jsonl"))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Journal for LocalJournal {
    fn append(&self, record: &Record) -> Result<(), JournalError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.path(&record.env);
        let mut line = serde_json::to_vec(record).expect("records serialize");
        line.push(b'\n');
        // A crash mid-write can leave a line without its newline: start ours on a fresh line.
        let torn = std::fs::read(&path)
            .map(|bytes| bytes.last().is_some_and(|b| *b != b'\n'))
            .unwrap_or(false);
        if torn {
            line.insert(0, b'\n');
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.write_all(&line).map_err(io_err(&path))?;
        // Written before the step acts: it must survive a crash right after.
        file.sync_data().map_err(io_err(&path))
    }

    fn read(&self, env: Option<&str>) -> Result<Vec<Record>, JournalError> {
        let mut paths = Vec::new();
        match env {
            Some(e) => paths.push(self.path(e)),
            None => {
                let entries = match std::fs::read_dir(&self.dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(io_err(&self.dir)(e)),
                };
                for entry in entries {
                    let p = entry.map_err(io_err(&self.dir))?.path();
                    if p.extension().is_some_and(|x| x == "jsonl") {
                        paths.push(p);
                    }
                }
            }
        }
        let mut records = Vec::new();
        for path in paths {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e)),
            };
            let lines: Vec<&str> = text.split('\n').collect();
            for (i, line) in lines.iter().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Record>(line) {
                    Ok(record) => records.push(record),
                    // A line cut short by a crash (no newline after it): the step it recorded
                    // never finished writing, so it is skipped, not fatal.
                    Err(e) if e.is_eof() => {
                        tracing::warn!(path = %path.display(), line = i + 1, "skipping a torn journal line");
                    }
                    Err(e) => {
                        return Err(JournalError::Corrupt {
                            path: path.display().to_string(),
                            line: i + 1,
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        records.sort_by_key(|a| a.at);
        Ok(records)
    }
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

    fn record(at: i64, service: &str, step: &str, outcome: Option<&str>, td: &str) -> Record {
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
    fn appends_and_reads_back_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let j = LocalJournal::new(dir.path());
        j.append(&record(2, "api", "deploy", Some("succeeded"), "td:2"))
            .unwrap();
        j.append(&record(1, "api", "deploy", None, "td:2")).unwrap();
        let all = j.read(None).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].at < all[1].at);
        assert_eq!(j.read(Some("production")).unwrap().len(), 0);
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
    fn a_torn_line_from_a_crash_is_skipped_and_appends_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let j = LocalJournal::new(dir.path());
        j.append(&record(1, "api", "deploy", Some("succeeded"), "td:41"))
            .unwrap();
        // A crash in the middle of the next write.
        let path = dir.path().join("staging.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"at\":\"2026-11-25T09:00:02Z\",\"run\":\"r1\",\"env\":\"sta");
        std::fs::write(&path, text).unwrap();
        j.append(&record(3, "api", "deploy", Some("succeeded"), "td:42"))
            .unwrap();
        let records = j.read(Some("staging")).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(
            last_verified(&records, "staging", "api").as_deref(),
            Some("td:42")
        );
    }

    #[test]
    fn a_corrupt_line_is_reported_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("staging.jsonl"),
            "{\"not\": \"a record\"}\n",
        )
        .unwrap();
        let err = LocalJournal::new(dir.path()).read(None).unwrap_err();
        assert!(
            err.to_string()
                .contains("staging.jsonl:1: unreadable record"),
            "{err}"
        );
    }
}
