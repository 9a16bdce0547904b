//! Write-ahead for the deploy engine: a step that changes AWS acts only once its "started"
//! record is durably in the journal. When the journal will not take it, the step does not
//! act — a change nobody recorded is one the next agent cannot resume, roll back or explain.

use crate::cloud::CloudError;
use crate::state::journal::JournalError;

/// Why a step that changes AWS did not act (or failed acting).
#[derive(Debug)]
pub enum StepError {
    /// AWS refused or failed the call.
    Cloud(CloudError),
    /// The journal would not take the step's "started" record: the call was not made.
    Journal(JournalError),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Cloud(e) => write!(f, "{e}"),
            StepError::Journal(e) => write!(f, "not done: cannot write the journal ({e})"),
        }
    }
}

impl StepError {
    pub fn kind(&self) -> super::FailureKind {
        match self {
            StepError::Cloud(_) => super::FailureKind::Refused,
            StepError::Journal(_) => super::FailureKind::Journal,
        }
    }
}

/// The reason a deploy gives when the journal stopped it before it acted.
pub fn not_deployed(e: &JournalError) -> String {
    format!("not deployed: the journal cannot be used ({e}); nothing was changed by this step")
}
