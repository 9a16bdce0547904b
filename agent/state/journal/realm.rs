//! Simulated runs and real ones never share a journal. A `--sim` run's default journal is its
//! own (`.amagent/sim/journal`), and a local journal directory written by simulated runs
//! carries a `SIMULATED` marker: real commands refuse it, and simulated commands refuse a
//! journal that holds real records. (An `s3://` journal under `--sim` lives in the simulated
//! account's S3, so it never reaches a real bucket.)

use super::Location;
use std::path::Path;

/// Where real commands keep their journal unless told otherwise.
pub const DEFAULT_JOURNAL: &str = ".amagent/journal";
/// Where `--sim` commands keep theirs unless told otherwise.
pub const DEFAULT_SIM_JOURNAL: &str = ".amagent/sim/journal";
/// The file that marks a journal directory as written by simulated runs.
pub const SIM_MARKER: &str = "SIMULATED";

#[derive(Debug, thiserror::Error)]
pub enum RealmError {
    #[error(
        "{dir} is the journal of simulated runs (--sim): real commands never read or write it. \
         Use the real journal (--journal, default {DEFAULT_JOURNAL}), or add --sim"
    )]
    SimulatedJournal { dir: String },
    #[error(
        "{dir} holds real deployment records: a --sim run never writes there. Leave --journal \
         out (simulated runs use {DEFAULT_SIM_JOURNAL}) or point it at an empty directory"
    )]
    RealJournal { dir: String },
    #[error("journal {dir}: {message}")]
    Io { dir: String, message: String },
}

/// The journal a command uses: under `--sim` the default moves to the simulator's own.
pub fn spec_for(spec: &str, simulated: bool) -> String {
    if simulated && spec == DEFAULT_JOURNAL {
        DEFAULT_SIM_JOURNAL.to_string()
    } else {
        spec.to_string()
    }
}

/// Check that a journal belongs to this kind of run before anything reads or writes it; a
/// simulated run marks a new (or empty) journal directory as simulated.
pub fn claim(location: &Location, simulated: bool) -> Result<(), RealmError> {
    let Location::Dir(dir) = location else {
        return Ok(());
    };
    let shown = dir.display().to_string();
    let marked = dir.join(SIM_MARKER).exists();
    match (simulated, marked) {
        (true, true) | (false, false) => Ok(()),
        (false, true) => Err(RealmError::SimulatedJournal { dir: shown }),
        (true, false) => {
            if holds_records(dir) {
                return Err(RealmError::RealJournal { dir: shown });
            }
            mark_simulated(dir).map_err(|e| RealmError::Io {
                dir: shown,
                message: e.to_string(),
            })
        }
    }
}

/// Mark `dir` (created if missing) as the journal of simulated runs.
pub fn mark_simulated(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(SIM_MARKER),
        "Written by amagent --sim runs: simulated deployments only. Real commands refuse this journal.\n",
    )
}

fn holds_records(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|e| e.file_name() != SIM_MARKER))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_journal_moves_under_sim_an_explicit_one_does_not() {
        assert_eq!(spec_for(DEFAULT_JOURNAL, true), DEFAULT_SIM_JOURNAL);
        assert_eq!(spec_for(DEFAULT_JOURNAL, false), DEFAULT_JOURNAL);
        assert_eq!(spec_for("/var/j", true), "/var/j");
    }

    #[test]
    fn simulated_and_real_journals_refuse_each_other() {
        let root = tempfile::tempdir().unwrap();
        let sim = Location::Dir(root.path().join("sim"));
        claim(&sim, true).unwrap();
        assert!(root.path().join("sim").join(SIM_MARKER).exists());
        claim(&sim, true).unwrap();
        let err = claim(&sim, false).unwrap_err();
        assert!(matches!(err, RealmError::SimulatedJournal { .. }), "{err}");

        let real = root.path().join("real");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("staging.jsonl"), "{}\n").unwrap();
        claim(&Location::Dir(real.clone()), false).unwrap();
        let err = claim(&Location::Dir(real.clone()), true).unwrap_err();
        assert!(
            err.to_string().contains("holds real deployment records"),
            "{err}"
        );
        assert!(!real.join(SIM_MARKER).exists());
    }
}
