//! What each structural error says, and how to fix it: unknown fields (with "did you mean"),
//! missing fields, values of the wrong type or out of range, unknown enum values. Never echoes
//! a value that may be a secret ("found text", not the text).

use super::deserialize::{FieldError, Found};
use super::examples::example_for;
use super::position::FieldPath;
use super::printable::short_name;
use super::suggest::{did_you_mean, one_of};

fn where_in(path: &FieldPath) -> String {
    match path.parent() {
        Some(p) if !p.is_root() => format!(" in `{p}`"),
        _ => " at the top level".into(),
    }
}

pub(super) fn unknown_field(path: &FieldPath, field: &str, expected: &[String]) -> FieldError {
    let candidates: Vec<&str> = expected.iter().map(String::as_str).collect();
    let alias = ALIASES
        .iter()
        .find(|(other, ours)| *other == field && candidates.contains(ours))
        .map(|(_, ours)| *ours);
    let hint = match alias.or_else(|| did_you_mean(field, &candidates)) {
        Some(s) => format!("did you mean `{s}`?"),
        None if candidates.is_empty() => "remove it".into(),
        None => format!("expected one of {}", one_of(&candidates)),
    };
    FieldError {
        path: path.clone(),
        at_key: true,
        // The name is the file's own text (a linked /etc/shadow line, say): never echo it whole.
        message: format!("unknown field `{}`{}", short_name(field), where_in(path)),
        hint: Some(hint),
    }
}

/// Names other deploy tools use (ECS API, ecspresso, Copilot, Kubernetes) → ours.
const ALIASES: [(&str, &str); 9] = [
    ("replicas", "desiredCount"),
    ("count", "desiredCount"),
    ("port", "containerPort"),
    ("healthCheck", "healthCheckPath"),
    ("taskDefinition", "taskFamily"),
    ("family", "taskFamily"),
    ("environment", "env"),
    ("variables", "env"),
    ("tag", "ref"),
];

pub(super) fn missing_field(path: &FieldPath, field: &str) -> FieldError {
    let top_level = path.parent().is_some_and(|p| p.is_root());
    let example = example_for(field, top_level)
        .map(|e| format!("add `{e}`"))
        .unwrap_or_else(|| format!("add `{field}: …`"));
    FieldError {
        path: path.clone(),
        at_key: true,
        message: format!("missing required field `{field}`{}", where_in(path)),
        hint: Some(example),
    }
}

pub(super) fn invalid(
    path: &FieldPath,
    found: Found,
    expected: &str,
    variants: &Option<(String, Vec<String>)>,
) -> FieldError {
    let field = path.last_key().unwrap_or("value");
    if let Some((given, names)) = variants {
        let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
        let hint = match did_you_mean(given, &candidates) {
            Some(s) => format!("did you mean `{s}`? (one of {})", one_of(&candidates)),
            None => format!("write one of {}", one_of(&candidates)),
        };
        return FieldError {
            path: path.clone(),
            at_key: false,
            message: format!("`{path}` has an unknown value `{}`", short_name(given)),
            hint: Some(hint),
        };
    }
    if let Some(ty) = expected.strip_prefix("out-of-range:") {
        let range = match ty {
            "u16" if field == "containerPort" => "1 to 65535",
            "u16" => "0 to 65535",
            "u8" => "0 to 255",
            _ => "0 to 4294967295",
        };
        return FieldError {
            path: path.clone(),
            at_key: false,
            message: format!("`{path}` is out of range"),
            hint: Some(format!("write a whole number from {range}")),
        };
    }
    let (wanted, hint) = wanted_type(path, field, found, expected);
    if path.is_root() {
        return FieldError {
            path: path.clone(),
            at_key: false,
            message: format!(
                "the file must be a mapping of fields, found {}",
                found.words()
            ),
            hint: Some("start with `apiVersion: amagent/v1`".into()),
        };
    }
    FieldError {
        path: path.clone(),
        at_key: false,
        message: format!("`{path}` must be {wanted}, found {}", found.words()),
        hint: Some(hint),
    }
}

/// What serde wanted at `path`, in words, and how to write it.
fn wanted_type(
    path: &FieldPath,
    field: &str,
    found: Found,
    expected: &str,
) -> (&'static str, String) {
    if expected == super::desired_count::EXPECTED {
        (
            "a whole number or `managed`",
            format!("write e.g. `{field}: 2`, or `{field}: managed` when an autoscaler sets it"),
        )
    } else if is_integer_type(expected) {
        (
            "a whole number",
            format!(
                "write a number without quotes, e.g. `{field}: {}`",
                number_example(field)
            ),
        )
    } else if (expected.starts_with("a string") || expected == "string")
        && matches!(found, Found::List | Found::Mapping)
    {
        ("text", format!("write a single value: `{field}: …`"))
    } else if expected.starts_with("a string") || expected == "string" {
        ("text", format!("quote the value: `{field}: \"…\"`"))
    } else if expected.starts_with("a boolean") {
        (
            "true or false",
            format!("write `{field}: true` or `{field}: false`"),
        )
    } else if expected.starts_with("a sequence") {
        (
            "a list",
            format!("write a list, e.g. `{field}: [a, b]` or one `- item` per line"),
        )
    } else if expected.starts_with("struct") || expected.starts_with("a map") {
        let hint = example_for(field, path.parent().is_some_and(|p| p.is_root()))
            .map(|e| format!("write nested fields, e.g. `{e}`"))
            .unwrap_or_else(|| format!("write nested `key: value` lines under `{field}:`"));
        ("a mapping", hint)
    } else {
        ("another type", format!("expected {expected}"))
    }
}

pub(super) fn is_integer_type(expected: &str) -> bool {
    matches!(
        expected,
        "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" | "usize"
    )
}

fn number_example(field: &str) -> &'static str {
    match field {
        "cpu" => "256",
        "memory" => "512",
        "containerPort" => "3000",
        "minimumHealthyPercent" => "100",
        "maximumPercent" => "200",
        "bakeSeconds" => "120",
        "timeoutSeconds" => "900",
        "keepLastTagged" => "10",
        "expireUntaggedAfterDays" => "1",
        _ => "1",
    }
}
