//! Exit codes. docs/operations.md lists them; scripts rely on them, so never renumber.

use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Ok = 0,
    /// The configuration is invalid (validate found problems, or a revision to plan is invalid).
    InvalidConfig = 1,
    /// Bad command line (clap's own code).
    Usage = 2,
    /// The environments repo could not be opened, fetched or read, or a revision is unknown.
    Repository = 3,
    /// A local file or directory could not be read or written.
    Io = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
