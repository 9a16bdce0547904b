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

/// The most a journal file may hold. A deploy writes a few kilobytes, so this is many years
/// of deploys; past it something else is there (a device, a runaway writer) and reading it
/// into memory would exhaust it.
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// The longest line read back: a record is a few hundred bytes.
pub const MAX_LINE_BYTES: u64 = 1 << 20;

/// Opens an existing journal file for reading or appending: only a regular file (a device or
/// a FIFO could hand out bytes forever or block), at most [`MAX_FILE_BYTES`]. None: no file.
fn open_regular(
    path: &Path,
    options: &std::fs::OpenOptions,
) -> Result<Option<std::fs::File>, JournalError> {
    let refuse = |message: String| JournalError::NotAJournal {
        path: path.display().to_string(),
        message,
    };
    // Checked before opening: opening a FIFO blocks until someone writes to it.
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {
            return Err(refuse("not a regular file (a device, FIFO or directory): move it aside; the journal starts a new file".into()));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    }
    let file = options.open(path).map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(refuse(format!(
            "{} MiB, over the {} MiB a journal file may hold: it is not a journal, or it must be moved aside (keep it: it holds the rollback targets)",
            meta.len() >> 20,
            MAX_FILE_BYTES >> 20
        )));
    }
    Ok(Some(file))
}

/// Each line of a file as text (invalid UTF-8 replaced), streamed, at most [`MAX_FILE_BYTES`]
/// in all and [`MAX_LINE_BYTES`] a line (a longer one stops the read, naming it). A missing
/// file has none.
pub(super) fn read_raw_lines(
    path: &Path,
    mut each: impl FnMut(usize, &str) -> Result<(), JournalError>,
) -> Result<(), JournalError> {
    use std::io::{BufRead, Read};
    let Some(file) = open_regular(path, std::fs::OpenOptions::new().read(true))? else {
        return Ok(());
    };
    // The size was checked at open; a file still growing is read no further than the cap.
    let mut reader = std::io::BufReader::new(file.take(MAX_FILE_BYTES));
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut buf)
            .map_err(io_err(path))?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        if !buf.ends_with(b"\n") && read as u64 == MAX_LINE_BYTES {
            let why = format!("a line over {} KiB: not a record", MAX_LINE_BYTES >> 10);
            return Err(JournalError::Corrupt {
                path: path.display().to_string(),
                line: n,
                message: why,
            });
        }
        let text = String::from_utf8_lossy(&buf);
        each(n, text.trim_end_matches('\n'))?;
    }
}

/// Whether a journal file ends in the middle of a line (a crash mid-write): reads one byte.
fn ends_torn(file: &mut std::fs::File, path: &Path) -> Result<bool, JournalError> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata().map_err(io_err(path))?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8];
    file.seek(SeekFrom::Start(len - 1)).map_err(io_err(path))?;
    file.read_exact(&mut last).map_err(io_err(path))?;
    Ok(last[0] != b'\n')
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
        let mut options = std::fs::OpenOptions::new();
        options.read(true).append(true);
        let mut file = match open_regular(&path, &options)? {
            Some(mut file) => {
                // A crash mid-write can leave a line without its newline: start ours on a
                // fresh line.
                if ends_torn(&mut file, &path)? {
                    line.insert(0, b'\n');
                }
                file
            }
            None => options.create(true).open(&path).map_err(io_err(&path))?,
        };
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
    use crate::state::journal::last_verified;
    use crate::state::journal::tests::record;

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

    #[tokio::test]
    async fn a_file_over_the_cap_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("staging.jsonl");
        // Sparse: no disk used, but reading it whole would take 256 MiB of memory.
        std::fs::File::create(&path)
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        let j = LocalJournal::new(dir.path());
        let err = j.read(Some("staging")).await.unwrap_err().to_string();
        assert!(err.contains("over the 256 MiB"), "{err}");
        let err = j
            .append(&record(1, "api", "deploy", None, "td:1"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("over the 256 MiB"), "{err}");
    }

    #[tokio::test]
    async fn a_line_over_the_cap_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = "x".repeat(MAX_LINE_BYTES as usize + 10);
        text.push('\n');
        std::fs::write(dir.path().join("staging.jsonl"), text).unwrap();
        let err = LocalJournal::new(dir.path()).read(None).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("staging.jsonl:1: unreadable record: a line over 1024 KiB"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn devices_and_fifos_are_refused_before_they_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("production.jsonl");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.expect("mkfifo (coreutils)").success());
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("staging.jsonl")).unwrap();
        let j = LocalJournal::new(dir.path());
        for env in ["staging", "production"] {
            let err = j.read(Some(env)).await.unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
            let mut r = record(1, "api", "deploy", None, "td:1");
            r.env = env.into();
            let err = j.append(&r).await.unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
    }
}
