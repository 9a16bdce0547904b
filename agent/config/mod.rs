//! Environment and pipeline configuration: parse, validate, and the typed model.
//! serde_yaml stays inside this module; everything else sees [`Model`] and [`Diagnostics`].

pub mod codebuild;
pub mod deserialize;
pub mod desired_count;
pub mod diagnostic;
mod examples;
pub mod fargate;
mod field_messages;
pub mod limits;
pub mod load;
pub mod model;
pub mod names;
pub mod notify;
pub mod position;
pub mod printable;
mod promotion_rules;
pub mod read_dir;
pub mod secret_ref;
mod shared;
pub mod suggest;
pub mod units;
mod unknown_fields;
pub(crate) mod validate;
pub mod write;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use load::load_sources;
pub use model::*;
pub use notify::{EventKind, NotifyTarget, SecretFrom};
pub use read_dir::{LoadDirError, load_dir, read_dir_sources};
pub use units::SourceFile;

/// The repository's worked example (environments/ and pipelines/), for unit tests.
#[cfg(test)]
pub(crate) fn example() -> Model {
    let files = [
        (
            "environments/staging.yaml",
            include_str!("../../environments/staging.yaml"),
        ),
        (
            "environments/production.yaml",
            include_str!("../../environments/production.yaml"),
        ),
        (
            "pipelines/api.yaml",
            include_str!("../../pipelines/api.yaml"),
        ),
    ]
    .map(|(path, text)| SourceFile {
        path: path.into(),
        text: text.into(),
    });
    load_sources(&files).expect("the worked example is valid")
}
