//! Exit codes, shared by every command. docs/operations.md lists them; scripts rely on them, so
//! never renumber.

use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked (a deploy: deployed and verified).
    Ok = 0,
    /// The command ran and its subject failed: `validate` found problems; a deploy failed (and
    /// was rolled back or not: the output says which).
    Failed = 1,
    /// Bad command line or configuration that keeps the command from running at all.
    Usage = 2,
    /// Something outside refused: the git repository (unknown revision, clone failed) or the
    /// cloud (access denied, not found).
    Refused = 3,
    /// A local file or directory could not be read or written.
    Io = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
