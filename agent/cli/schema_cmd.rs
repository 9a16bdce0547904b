//! `amagent schema environment|pipeline`: the JSON Schema of the configuration files, generated
//! from the model (`config::model`), so that editors complete and check fields. The checked-in
//! copies under docs/schema/ are what the examples' `# yaml-language-server: $schema=` lines
//! point at; tests/cli_schema.rs fails when they are stale.

use super::{Exit, OutputFormat, print_json};
use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// environments/<name>.yaml
    Environment,
    /// pipelines/<name>.yaml
    Pipeline,
}

/// The schema of one kind of file, as JSON.
pub fn schema(kind: SchemaKind) -> serde_json::Value {
    let (mut schema, title) = match kind {
        SchemaKind::Environment => (
            schemars::schema_for!(crate::config::Environment),
            "amagent environment (environments/<name>.yaml)",
        ),
        SchemaKind::Pipeline => (
            schemars::schema_for!(crate::config::Pipeline),
            "amagent pipeline (pipelines/<name>.yaml)",
        ),
    };
    schema.insert("title".into(), title.into());
    serde_json::to_value(schema).expect("a schema serializes")
}

pub fn run(kind: SchemaKind, output: OutputFormat) -> Exit {
    let schema = schema(kind);
    match output {
        OutputFormat::Text => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&schema).expect("a schema serializes")
        ),
        OutputFormat::Json => print_json(&serde_json::json!({ "schema": schema })),
    }
    Exit::Ok
}
