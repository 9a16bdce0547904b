//! What a configuration file is, and what of it could be read: the source text, its kind by
//! directory, and the partial units (header, services, pipeline) with their position index.
//! Shared by `load` (which makes them) and the rule modules (which check them), so neither
//! needs the other.

use super::diagnostic::Diagnostic;
use super::model::{EnvironmentSpec, Pipeline, Service};
use super::position::{FieldPath, Position, PositionIndex};
use serde_yaml::Value;

/// One configuration file: its path relative to the repo root and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// Directory for environment specs, relative to the repo root.
pub const ENVIRONMENTS_DIR: &str = "environments";
/// Directory for pipeline recipes, relative to the repo root.
pub const PIPELINES_DIR: &str = "pipelines";

/// What kind of file a path is, by its directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Environment,
    Pipeline,
}

impl FileKind {
    /// `environments/x.yaml` → Environment; anything else → None (not ours to read).
    pub fn of(path: &str) -> Option<FileKind> {
        let (dir, file) = path.rsplit_once('/')?;
        if !(file.ends_with(".yaml") || file.ends_with(".yml")) || file.starts_with('.') {
            return None;
        }
        match dir {
            ENVIRONMENTS_DIR => Some(FileKind::Environment),
            PIPELINES_DIR => Some(FileKind::Pipeline),
            _ => None,
        }
    }
}

/// `environments/staging.yaml` → `staging`.
pub fn file_stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
        .unwrap_or(name)
}

/// A file with its position index, for diagnostics.
#[derive(Clone, Debug)]
pub struct Located {
    pub file: String,
    pub index: PositionIndex,
}

impl Located {
    pub fn stem(&self) -> &str {
        file_stem(&self.file)
    }

    fn diagnostic(&self, pos: Position, message: String, hint: Option<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            message,
            hint,
        }
    }

    /// A diagnostic pointing at the value of `path`.
    pub fn at_value(&self, path: &FieldPath, message: String, hint: Option<String>) -> Diagnostic {
        self.diagnostic(self.index.value_position(path), message, hint)
    }

    /// A diagnostic pointing at the key of `path`.
    pub fn at_key(&self, path: &FieldPath, message: String, hint: Option<String>) -> Diagnostic {
        self.diagnostic(self.index.key_position(path), message, hint)
    }
}

/// An environment file as far as it could be read: the header (everything but services) when
/// it was valid, and each service that was valid, with its index in the file.
#[derive(Clone, Debug)]
pub struct PartialEnvironment {
    pub at: Located,
    pub header: Option<EnvironmentSpec<Value>>,
    pub services: Vec<(usize, Service)>,
    /// Number of entries under `services:` in the file, valid or not.
    pub service_count: usize,
}

#[derive(Clone, Debug)]
pub struct PartialPipeline {
    pub at: Located,
    pub pipeline: Option<Pipeline>,
}
