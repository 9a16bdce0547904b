//! A problem found in the configuration, pinned to `file:line:column`, with a hint of what to
//! write instead.

use super::printable::escape_controls;
use serde::Serialize;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Path of the file relative to the environments repo root, e.g. `environments/staging.yaml`.
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// What to write instead. Never echoes a value that might be a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages quote the file's own text: never let it reach a terminal raw.
        write!(
            f,
            "{}:{}:{}: {}",
            escape_controls(&self.file, false),
            self.line,
            self.column,
            escape_controls(&self.message, false)
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", escape_controls(hint, false))?;
        }
        Ok(())
    }
}

/// Every diagnostic of one load, sorted by file and position.
/// Serializes as the list of the [`Diagnostics::shown`] ones; outputs add the count not shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Serialize for Diagnostics {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.shown())
    }
}

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub(crate) fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        self.0.dedup();
    }
}

/// Most diagnostics printed (text and JSON): past this the first ones are what a person
/// fixes first, and the rest only floods the terminal or the pull-request comment.
pub const MAX_SHOWN: usize = 200;

impl Diagnostics {
    /// The diagnostics to print: the first [`MAX_SHOWN`].
    pub fn shown(&self) -> &[Diagnostic] {
        &self.0[..self.0.len().min(MAX_SHOWN)]
    }

    /// How many are not printed.
    pub fn not_shown(&self) -> usize {
        self.0.len().saturating_sub(MAX_SHOWN)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.shown() {
            writeln!(f, "{d}")?;
        }
        if self.not_shown() > 0 {
            writeln!(
                f,
                "… and {} more problem(s) not shown (fix the ones above first)",
                self.not_shown()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
