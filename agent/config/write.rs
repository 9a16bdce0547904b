//! The model back to YAML text (for `amagent init`): serde_yaml stays inside `config`.

use super::{Environment, Pipeline};

/// `environments/<name>.yaml` as serde_yaml writes it (fields in the model's order).
pub fn environment_text(env: &Environment) -> String {
    serde_yaml::to_string(env).expect("the model serializes")
}

/// `pipelines/<name>.yaml`.
pub fn pipeline_text(pipeline: &Pipeline) -> String {
    serde_yaml::to_string(pipeline).expect("the model serializes")
}
