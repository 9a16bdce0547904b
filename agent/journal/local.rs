//! The local-directory journal: one JSON-lines file per environment, appended and synced line
//! by line.

use super::{Journal, JournalError, Record};
use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

#[async_trait]
impl Journal for LocalJournal {
    // Plain blocking file I/O on the runtime's thread: one small append and fsync per step, and
    // the lock must cover the whole append (a std Mutex across no await point).
    async fn append(&self, record: &Record) -> Result<(), JournalError> {
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

    async fn read(&self, env: Option<&str>) -> Result<Vec<Record>, JournalError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::last_verified;
    use crate::journal::tests::record;

    #[tokio::test]
    async fn appends_and_reads_back_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let j = LocalJournal::new(dir.path());
        j.append(&record(2, "api", "deploy", Some("succeeded"), "td:2"))
            .await
            .unwrap();
        j.append(&record(1, "api", "deploy", None, "td:2"))
            .await
            .unwrap();
        let all = j.read(None).await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].at < all[1].at);
        assert_eq!(j.read(Some("production")).await.unwrap().len(), 0);
    }

    #[tokio::test]
    async fn a_torn_line_from_a_crash_is_skipped_and_appends_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let j = LocalJournal::new(dir.path());
        j.append(&record(1, "api", "deploy", Some("succeeded"), "td:41"))
            .await
            .unwrap();
        // A crash in the middle of the next write.
        let path = dir.path().join("staging.jsonl");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"at\":\"2026-11-25T09:00:02Z\",\"run\":\"r1\",\"env\":\"sta");
        std::fs::write(&path, text).unwrap();
        j.append(&record(3, "api", "deploy", Some("succeeded"), "td:42"))
            .await
            .unwrap();
        let records = j.read(Some("staging")).await.unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(
            last_verified(&records, "staging", "api").as_deref(),
            Some("td:42")
        );
    }

    #[tokio::test]
    async fn a_corrupt_line_is_reported_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("staging.jsonl"),
            "{\"not\": \"a record\"}\n",
        )
        .unwrap();
        let err = LocalJournal::new(dir.path()).read(None).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("staging.jsonl:1: unreadable record"),
            "{err}"
        );
    }
}
