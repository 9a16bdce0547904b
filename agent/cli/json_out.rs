//! `--output json`: exactly one JSON document on stdout per command, errors included. Commands
//! hand over their result and their errors; `finish` prints the one document when the command
//! ends: `{"version": 1, "exit": <code>, …the result's fields…, "error": {kind, message}}`.
//! Keys come out sorted (serde_json's map), so their order is stable.

use super::Exit;
use serde_json::{Map, Value};
use std::sync::Mutex;

/// The document's format version: bumped when a field changes meaning or goes away.
pub const VERSION: u64 = 1;

#[derive(Default)]
struct Pending {
    result: Option<Value>,
    errors: Vec<Value>,
}

static PENDING: Mutex<Option<Pending>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut Pending) -> T) -> T {
    let mut guard = PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(guard.get_or_insert_with(Pending::default))
}

/// The command's result (a later one replaces an earlier one).
pub fn set_result(value: Value) {
    with(|p| p.result = Some(value));
}

/// An error the command met; the first is the document's `error`, all are in `errors`.
pub fn add_error(kind: &str, message: &str) {
    let error = serde_json::json!({ "kind": kind, "message": message });
    with(|p| p.errors.push(error));
}

/// The one document for a command that ended with `exit`.
pub fn document(exit: Exit) -> Value {
    let pending = PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take()
        .unwrap_or_default();
    let mut doc = match pending.result {
        Some(Value::Object(fields)) => fields,
        Some(other) => Map::from_iter([("result".to_string(), other)]),
        None => Map::new(),
    };
    doc.insert("version".into(), VERSION.into());
    doc.insert("exit".into(), (exit as u8).into());
    if let Some(first) = pending.errors.first() {
        doc.insert("error".into(), first.clone());
        if pending.errors.len() > 1 {
            doc.insert("errors".into(), Value::Array(pending.errors));
        }
    }
    Value::Object(doc)
}

/// Print the one document for a command that ended with `exit`.
pub fn finish(exit: Exit) {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(&document(exit)).expect("plain data serializes")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_document_with_version_exit_result_fields_and_the_first_error() {
        set_result(serde_json::json!({ "env": "staging" }));
        add_error("io", "first");
        add_error("io", "second");
        let doc = document(Exit::Io);
        assert_eq!(doc["version"], VERSION);
        assert_eq!(doc["exit"], 4);
        assert_eq!(doc["env"], "staging");
        assert_eq!(doc["error"]["message"], "first");
        assert_eq!(doc["errors"].as_array().map(Vec::len), Some(2));
        // Taken: the next command starts empty.
        assert_eq!(
            document(Exit::Ok),
            serde_json::json!({ "version": 1, "exit": 0 })
        );
    }
}
