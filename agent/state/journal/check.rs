//! `amagent journal check` / `repair` for a local journal directory: which lines of which
//! files cannot be read back, and moving them aside so the rest can be used again.
//!
//! A line cut short by a crash (the JSON ends early) is tolerated by every reader and only
//! reported here; any other unreadable line stops every command until it is repaired,
//! because a journal with a hole in the middle may hide the step a decision depends on.

use super::local::{Line, read_lines};
use super::{JournalError, Record};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What one journal file holds.
#[derive(Clone, Debug, Serialize)]
pub struct FileCheck {
    pub path: PathBuf,
    /// Records read back.
    pub records: usize,
    /// Lines cut short by a crash (tolerated), by line number.
    pub torn: Vec<usize>,
    /// Lines that are not records (they stop every command), by line number, with why.
    pub unreadable: Vec<(usize, String)>,
}

impl FileCheck {
    pub fn is_clean(&self) -> bool {
        self.unreadable.is_empty()
    }
}

/// What `repair` did to one file.
#[derive(Clone, Debug, Serialize)]
pub struct Repaired {
    pub path: PathBuf,
    /// Where the lines went.
    pub rejected: PathBuf,
    /// Line numbers moved aside (torn and unreadable alike).
    pub moved: Vec<usize>,
    pub kept: usize,
}

/// The `*.jsonl` files of a journal directory, sorted.
fn journal_files(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let io = |source| JournalError::Io {
        path: dir.display().to_string(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let p = entry.map_err(io)?.path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            paths.push(p);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Every file of the journal directory, line by line.
pub fn check(dir: &Path) -> Result<Vec<FileCheck>, JournalError> {
    let mut out = Vec::new();
    for path in journal_files(dir)? {
        let mut file = FileCheck {
            path: path.clone(),
            records: 0,
            torn: Vec::new(),
            unreadable: Vec::new(),
        };
        read_lines(&path, |n, line| {
            match line {
                Line::Record(_) => file.records += 1,
                Line::Torn => file.torn.push(n),
                Line::Unreadable(why) => file.unreadable.push((n, why)),
            }
            Ok(())
        })?;
        out.push(file);
    }
    Ok(out)
}

/// Move every line that is not a record (torn or unreadable) of every file into
/// `<file>.rejected` (appended, so earlier repairs are kept) and keep the rest, in order.
/// Files with nothing to move are left untouched. Stop the agent first: an append made while
/// a file is rewritten would be lost.
pub fn repair(dir: &Path) -> Result<Vec<Repaired>, JournalError> {
    let mut out = Vec::new();
    for path in journal_files(dir)? {
        let (mut kept, mut rejected, mut moved) = (Vec::new(), Vec::new(), Vec::new());
        read_lines_raw(&path, &mut kept, &mut rejected, &mut moved)?;
        if moved.is_empty() {
            continue;
        }
        let rejected_path = with_suffix(&path, ".rejected");
        let io = |p: &Path| {
            let p = p.display().to_string();
            move |source| JournalError::Io { path: p, source }
        };
        // The rejected lines are safe on disk before they leave the journal.
        let mut aside = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&rejected_path)
            .map_err(io(&rejected_path))?;
        aside.write_all(&rejected).map_err(io(&rejected_path))?;
        aside.sync_all().map_err(io(&rejected_path))?;
        let tmp = with_suffix(&path, ".repair-tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&kept).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        out.push(Repaired {
            kept: kept.iter().filter(|b| **b == b'\n').count(),
            path,
            rejected: rejected_path,
            moved,
        });
    }
    Ok(out)
}

/// Split a file's bytes into the lines to keep and the lines to move aside.
fn read_lines_raw(
    path: &Path,
    kept: &mut Vec<u8>,
    rejected: &mut Vec<u8>,
    moved: &mut Vec<usize>,
) -> Result<(), JournalError> {
    super::local::read_raw_lines(path, |n, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let target = match serde_json::from_str::<Record>(text) {
            Ok(_) => &mut *kept,
            Err(_) => {
                moved.push(n);
                &mut *rejected
            }
        };
        target.extend_from_slice(text.as_bytes());
        target.push(b'\n');
        Ok(())
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"at":"2026-11-25T09:00:00Z","run":"r1","env":"staging","step":"run","phase":"started"}"#;

    #[test]
    fn check_finds_the_garbage_line_and_repair_moves_only_it_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("staging.jsonl");
        let text = format!("{GOOD}\nthis is not json\n{GOOD}\n{{\"at\":\"2026-11-25T09");
        std::fs::write(&path, text).unwrap();
        let found = check(dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].records, 2);
        assert_eq!(found[0].torn, vec![4]);
        assert_eq!(found[0].unreadable.len(), 1);
        assert_eq!(found[0].unreadable[0].0, 2);

        let repaired = repair(dir.path()).unwrap();
        assert_eq!(repaired.len(), 1);
        assert_eq!(repaired[0].moved, vec![2, 4]);
        assert_eq!(repaired[0].kept, 2);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{GOOD}\n{GOOD}\n")
        );
        let aside = std::fs::read_to_string(dir.path().join("staging.jsonl.rejected")).unwrap();
        assert_eq!(aside, "this is not json\n{\"at\":\"2026-11-25T09\n");
        assert!(check(dir.path()).unwrap()[0].is_clean());
        // Nothing left to do: a second repair changes nothing.
        assert!(repair(dir.path()).unwrap().is_empty());
    }
}
