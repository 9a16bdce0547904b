//! Environment and pipeline configuration: parse, validate, and the typed model.
//! serde_yaml stays inside this module; everything else sees [`Model`] and [`Diagnostics`].

pub mod deserialize;
pub mod diagnostic;
pub mod fargate;
pub mod load;
pub mod model;
pub mod position;
pub mod suggest;
mod validate;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use load::{LoadDirError, SourceFile, load_dir, load_sources, read_dir_sources};
pub use model::*;
