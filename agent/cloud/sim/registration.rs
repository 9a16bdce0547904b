//! What ECS fills in when a task definition is registered, so the simulator describes a
//! definition as AWS does (tests/contract.rs compares the two).

use crate::cloud::types::TaskDefinition;
use serde_json::Value;

/// An EFS volume without `rootDirectory` is described with `"/"`.
pub fn fill_defaults(td: &mut TaskDefinition) {
    let Some(Value::Array(volumes)) = td.extra.get_mut("volumes") else {
        return;
    };
    for efs in volumes
        .iter_mut()
        .filter_map(|v| v.get_mut("efsVolumeConfiguration"))
        .filter_map(Value::as_object_mut)
    {
        efs.entry("rootDirectory").or_insert_with(|| "/".into());
    }
}
