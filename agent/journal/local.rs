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

/// One line of a journal file, read back.
pub(super) enum Line {
    Record(Box<Record>),
    /// Cut short by a crash mid-write (the JSON ends early): the step it recorded never
    /// finished writing, so readers skip it.
    Torn,
    /// Anything else: readers stop, naming the line.
    Unreadable(String),
}

fn corrupt(dir: &Path, path: &Path, line: usize, why: &str) -> JournalError {
    JournalError::Corrupt {
        path: path.display().to_string(),
        line,
        message: format!(
            "{why}. Every command stops until this is repaired: `amagent journal check --journal {dir}` lists the bad lines, `amagent journal repair --journal {dir}` moves them aside into {}.rejected",
            path.display(),
            dir = dir.display(),
        ),
    }
}

/// Each line of a journal file (1-based numbers, blank lines skipped), parsed. A missing
/// file has no lines.
pub(super) fn read_lines(
    path: &Path,
    mut each: impl FnMut(usize, Line) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    read_raw_lines(path, |n, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let line = match serde_json::from_str::<Record>(text) {
            Ok(record) => Line::Record(Box::new(record)),
            Err(e) if e.is_eof() => Line::Torn,
            Err(e) => Line::Unreadable(e.to_string()),
        };
        each(n, line)
    })
}

/// Each line of a file as text (invalid UTF-8 replaced), streamed. A missing file has none.
pub(super) fn read_raw_lines(
    path: &Path,
    mut each: impl FnMut(usize, &str) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    use std::io::BufRead;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(path)(e)),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io_err(path))? == 0 {
            return Ok(());
        }
        n += 1;
        let text = String::from_utf8_lossy(&buf);
        each(n, text.trim_end_matches('\n'))?;
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
            read_lines(&path, |n, line| match line {
                Line::Record(r) => {
                    records.push(*r);
                    Ok(())
                }
                Line::Torn => {
                    tracing::warn!(path = %path.display(), line = n, "skipping a torn journal line");
                    Ok(())
                }
                Line::Unreadable(why) => Err(corrupt(&self.dir, &path, n, &why)),
            })?;
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
