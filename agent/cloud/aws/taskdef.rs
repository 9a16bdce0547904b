//! Task definitions on the wire, carried whole. amagent's `TaskDefinition` *is* the ECS JSON
//! shape (a few typed members, everything else verbatim in `extra`), so the adapter does not
//! map members one by one — such a list goes stale silently with every API update. Instead
//! DescribeTaskDefinition's response body is read whole (with `include=TAGS`), and
//! RegisterTaskDefinition's request body is the definition's own JSON (see `raw_body`).
//!
//! What a describe returns and a register does not take is exactly the ARN, the revision and
//! `TASK_DEFINITION_READ_ONLY`; `taskdef_tests` fails when an SDK update changes that, or adds
//! a member anywhere in the shape that the every-member fixture does not carry.

use crate::cloud::CloudError;
use crate::cloud::types::{TASK_DEFINITION_READ_ONLY, TaskDefinition};
use bytes::Bytes;
use serde_json::Value;

fn invalid(operation: &'static str, message: String) -> CloudError {
    CloudError::invalid(operation, message)
}

/// A Describe/RegisterTaskDefinition response body (`{"taskDefinition": …, "tags": […]}`) →
/// ours, tags included. Refuses — naming every such member at once — a definition our type
/// would not keep exactly, so that nothing is ever lost silently on the way to a new revision.
pub fn from_response(operation: &'static str, body: &[u8]) -> Result<TaskDefinition, CloudError> {
    let mut response: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(operation, format!("response is not JSON: {e}")))?;
    let mut json = match response.get_mut("taskDefinition").map(Value::take) {
        Some(Value::Object(td)) => td,
        _ => {
            return Err(invalid(
                operation,
                "no task definition in the response".into(),
            ));
        }
    };
    if let Some(tags) = response.get("tags").filter(|t| !is_empty(t)) {
        json.insert("tags".into(), tags.clone());
    }
    let json = Value::Object(json);
    let td: TaskDefinition = serde_json::from_value(json.clone())
        .map_err(|e| invalid(operation, format!("unexpected task definition shape: {e}")))?;
    let kept = serde_json::to_value(&td).map_err(|e| invalid(operation, e.to_string()))?;
    let mut lost = Vec::new();
    lost_paths(&json, &kept, "", &mut lost);
    if lost.is_empty() {
        Ok(td)
    } else {
        Err(invalid(
            operation,
            format!(
                "task definition {} has member(s) amagent cannot carry unchanged: {}; a new revision would lose or alter them",
                td.family_revision(),
                lost.join(", ")
            ),
        ))
    }
}

/// The RegisterTaskDefinition request body: the definition as it is, without what only a
/// describe returns.
pub fn register_body(td: &TaskDefinition) -> Result<Bytes, CloudError> {
    let op = "RegisterTaskDefinition";
    let mut json = serde_json::to_value(td).map_err(|e| invalid(op, e.to_string()))?;
    let Value::Object(members) = &mut json else {
        return Err(invalid(op, "a task definition is a JSON object".into()));
    };
    for field in ["taskDefinitionArn", "revision"]
        .into_iter()
        .chain(TASK_DEFINITION_READ_ONLY)
    {
        members.remove(field);
    }
    if members.get("tags").is_some_and(is_empty) {
        members.remove("tags");
    }
    serde_json::to_vec(&json)
        .map(Bytes::from)
        .map_err(|e| invalid(op, e.to_string()))
}

/// Null, `[]` and `{}` mean the same as absent to ECS.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Every path at which `kept` differs from `original` (absent ≡ empty).
pub(super) fn lost_paths(original: &Value, kept: &Value, path: &str, out: &mut Vec<String>) {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (original, kept) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(k) => lost_paths(value, k, &at(key), out),
                    None if is_empty(value) => {}
                    None => out.push(at(key)),
                }
            }
            for (key, value) in b {
                if !a.contains_key(key) && !is_empty(value) {
                    out.push(at(key));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                lost_paths(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b || (is_empty(a) && is_empty(b)) => {}
        _ => out.push(path.to_string()),
    }
}

/// SDK time → chrono.
pub fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

#[cfg(test)]
#[path = "taskdef_tests.rs"]
mod tests;
