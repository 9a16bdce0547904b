//! serde_yaml → typed model, collecting *every* structural error instead of stopping at the
//! first: after an error we drop the offending entry from the YAML value and deserialize again,
//! so one run reports every unknown field and every wrong type of a unit.

use super::field_messages::{invalid, is_integer_type, missing_field, unknown_field};
use super::position::{FieldPath, Segment};
use super::unknown_fields::remove_all_unknown;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

/// A structural error, before it is pinned to a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub path: FieldPath,
    /// Point at the key (unknown / missing field) rather than at the value.
    pub at_key: bool,
    pub message: String,
    pub hint: Option<String>,
}

/// Upper bound on retries per unit: every round repairs or removes one entry (a missing
/// section takes about two rounds per field in it), so this only matters for odd inputs.
const MAX_ROUNDS: usize = 256;

/// Deserialize `value` (found at `base` in its file) as `T`, pushing every error to `errors`.
/// Returns the value only when the unit had no error at all.
///
/// After each error the value is repaired so that deserialization can go on: an unknown field
/// is removed; a wrong value or a missing field is replaced by a placeholder of the expected
/// type. Placeholders are "poisoned": errors at or under them are consequences, not news.
pub fn deserialize_all<T: DeserializeOwned>(
    value: Value,
    base: &FieldPath,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let mut failed = false;
    let mut unit = Repair {
        value,
        base,
        poisoned: Vec::new(),
        errors,
    };
    for _ in 0..MAX_ROUNDS {
        let err = match serde_path_to_error::deserialize::<_, T>(unit.value.clone()) {
            Ok(t) => return (!failed).then_some(t),
            Err(err) => err,
        };
        failed = true;
        let relative = convert_path(err.path());
        let message = err.inner().to_string();
        let repaired = match classify(&message) {
            Problem::UnknownField { field, expected } => {
                unit.unknown_field(relative, &field, &expected)
            }
            Problem::MissingField { field } => unit.missing_field(relative, &field),
            Problem::DuplicateField { field } => {
                unit.errors.push(FieldError {
                    path: base.join(&relative).key(&field),
                    at_key: true,
                    message: format!("field `{field}` is given twice"),
                    hint: Some("keep one of them".into()),
                });
                false
            }
            Problem::Invalid {
                found,
                expected,
                variants,
            } => unit.invalid(relative, found, &expected, &variants),
            Problem::Other(text) => {
                if !unit.is_poisoned(&relative) {
                    unit.errors.push(FieldError {
                        path: base.join(&relative),
                        at_key: false,
                        message: text,
                        hint: None,
                    });
                }
                false
            }
        };
        if !repaired {
            return None;
        }
    }
    None
}

/// A unit being deserialized, repaired after each error. Each repair returns false when it
/// cannot go on (the unit then yields nothing more).
struct Repair<'a> {
    value: Value,
    base: &'a FieldPath,
    /// Placeholders put in: errors at or under them are consequences, not news.
    poisoned: Vec<FieldPath>,
    errors: &'a mut Vec<FieldError>,
}

impl Repair<'_> {
    fn is_poisoned(&self, p: &FieldPath) -> bool {
        self.poisoned.iter().any(|q| p.0.starts_with(&q.0))
    }

    /// Removes the unknown field (and every other unknown one beside it) and reports each.
    fn unknown_field(&mut self, relative: FieldPath, field: &str, expected: &[String]) -> bool {
        // The path may stop at the parent mapping or include the key; normalise.
        let rel = if relative.last_key() == Some(field) {
            relative
        } else {
            relative.key(field)
        };
        let parent = rel.parent().unwrap_or_default();
        let removed = remove_all_unknown(&mut self.value, &parent, expected);
        if !removed.iter().any(|r| r == field) {
            // Not a text key we could remove (e.g. `1:`): report it and stop here.
            self.errors
                .push(unknown_field(&self.base.join(&rel), field, expected));
            return false;
        }
        for name in removed {
            let path = self.base.join(&parent.key(&name));
            self.errors.push(unknown_field(&path, &name, expected));
        }
        true
    }

    fn missing_field(&mut self, relative: FieldPath, field: &str) -> bool {
        let rel = relative.key(field);
        let path = self.base.join(&rel);
        // Not news under a placeholder, or if an unknown field already said
        // "did you mean `field`?".
        let misspelt = self.errors.iter().any(|e| {
            e.path.parent() == path.parent()
                && e.hint.as_deref() == Some(&format!("did you mean `{field}`?"))
        });
        if !self.is_poisoned(&rel) && !misspelt {
            self.errors.push(missing_field(&path, field));
        }
        // Null reads as an empty mapping for a struct, and is repaired further if the
        // field wants something else.
        if !set(&mut self.value, &rel, Value::Null) {
            return false;
        }
        self.poisoned.push(rel);
        true
    }

    fn invalid(
        &mut self,
        relative: FieldPath,
        found: Found,
        expected: &str,
        variants: &Option<(String, Vec<String>)>,
    ) -> bool {
        if !self.is_poisoned(&relative) {
            let path = self.base.join(&relative);
            self.errors.push(invalid(&path, found, expected, variants));
        }
        let repaired = match placeholder(expected, variants) {
            Some(v) => set(&mut self.value, &relative, v),
            None => remove(&mut self.value, &relative),
        };
        if repaired {
            self.poisoned.push(relative);
        }
        repaired
    }
}

/// A value of the type serde expected, to stand in for a wrong or missing one.
fn placeholder(expected: &str, variants: &Option<(String, Vec<String>)>) -> Option<Value> {
    if let Some((_, names)) = variants {
        return names.first().map(|n| Value::String(n.clone()));
    }
    let expected = expected.strip_prefix("out-of-range:").unwrap_or(expected);
    Some(if is_integer_type(expected) {
        Value::Number(0.into())
    } else if expected.contains("string") {
        Value::String(String::new())
    } else if expected.starts_with("a boolean") {
        Value::Bool(false)
    } else if expected.starts_with("a sequence") {
        Value::Sequence(Vec::new())
    } else if expected.starts_with("struct") || expected.starts_with("a map") {
        Value::Mapping(Default::default())
    } else {
        return None;
    })
}

/// Put `new` at `path`, turning nulls on the way into mappings. False if the path runs through
/// something else (a scalar, or a list index that does not exist).
fn set(value: &mut Value, path: &FieldPath, new: Value) -> bool {
    let mut current = value;
    for seg in &path.0 {
        if current.is_null() {
            *current = Value::Mapping(Default::default());
        }
        current = match (seg, current) {
            (Segment::Key(k), Value::Mapping(m)) => {
                m.entry(Value::String(k.clone())).or_insert(Value::Null)
            }
            (Segment::Index(i), Value::Sequence(s)) => match s.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    *current = new;
    true
}

fn convert_path(path: &serde_path_to_error::Path) -> FieldPath {
    use serde_path_to_error::Segment as S;
    FieldPath(
        path.iter()
            .filter_map(|s| match s {
                S::Seq { index } => Some(Segment::Index(*index)),
                S::Map { key } => Some(Segment::Key(key.clone())),
                S::Enum { variant } => Some(Segment::Key(variant.clone())),
                S::Unknown => None,
            })
            .collect(),
    )
}

/// Remove the entry at `path` (relative to `value`). False when it cannot be removed, e.g. the
/// root itself or an item of a list (removing would shift the indexes we report).
fn remove(value: &mut Value, path: &FieldPath) -> bool {
    let Some((last, parents)) = path.0.split_last() else {
        return false;
    };
    let mut current = value;
    for seg in parents {
        current = match (seg, current) {
            (Segment::Key(k), Value::Mapping(m)) => match m.get_mut(k.as_str()) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Index(i), Value::Sequence(s)) => match s.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, current) {
        (Segment::Key(k), Value::Mapping(m)) => m.remove(k.as_str()).is_some(),
        _ => false,
    }
}

/// What kind of value was found, in words (never the value itself: it may be a secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    Text,
    Number,
    Bool,
    List,
    Mapping,
    Nothing,
    Unknown,
}

impl Found {
    fn parse(unexpected: &str) -> Found {
        let u = unexpected.trim_start();
        if u.starts_with("string") || u.starts_with("char") {
            Found::Text
        } else if u.starts_with("integer") || u.starts_with("floating point") {
            Found::Number
        } else if u.starts_with("boolean") {
            Found::Bool
        } else if u.starts_with("sequence") {
            Found::List
        } else if u.starts_with("map") {
            Found::Mapping
        } else if u.starts_with("unit") || u.starts_with("null") || u.starts_with("none") {
            Found::Nothing
        } else {
            Found::Unknown
        }
    }

    pub(super) fn words(self) -> &'static str {
        match self {
            Found::Text => "text",
            Found::Number => "a number",
            Found::Bool => "true/false",
            Found::List => "a list",
            Found::Mapping => "a mapping",
            Found::Nothing => "nothing",
            Found::Unknown => "a value of another type",
        }
    }
}

enum Problem {
    UnknownField {
        field: String,
        expected: Vec<String>,
    },
    MissingField {
        field: String,
    },
    DuplicateField {
        field: String,
    },
    Invalid {
        found: Found,
        expected: String,
        /// For unknown enum variants: the allowed names.
        variants: Option<(String, Vec<String>)>,
    },
    Other(String),
}

/// Backquoted names in a serde message, in order.
fn backquoted(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.to_string())
        .collect()
}

fn classify(message: &str) -> Problem {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let mut names = backquoted(rest);
        if names.is_empty() {
            return Problem::Other(message.into());
        }
        let field = names.remove(0);
        return Problem::UnknownField {
            field,
            expected: names,
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let mut names = backquoted(rest);
        if names.is_empty() {
            return Problem::Other(message.into());
        }
        let given = names.remove(0);
        return Problem::Invalid {
            found: Found::Text,
            expected: String::new(),
            variants: Some((given, names)),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field ")
        && let Some(field) = backquoted(rest).into_iter().next()
    {
        return Problem::MissingField { field };
    }
    if let Some(rest) = message.strip_prefix("duplicate field ")
        && let Some(field) = backquoted(rest).into_iter().next()
    {
        return Problem::DuplicateField { field };
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((unexpected, expected)) = rest.rsplit_once(", expected ")
        {
            let found = Found::parse(unexpected);
            if prefix == "invalid value: " && found == Found::Number {
                // A number of the right type but out of range.
                return Problem::Invalid {
                    found: Found::Unknown,
                    expected: format!("out-of-range:{expected}"),
                    variants: None,
                };
            }
            return Problem::Invalid {
                found,
                expected: expected.to_string(),
                variants: None,
            };
        }
    }
    Problem::Other(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        cluster: String,
        port: u16,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    fn run(text: &str) -> (Option<Outer>, Vec<FieldError>) {
        let value: Value = serde_yaml::from_str(text).unwrap();
        let mut errors = Vec::new();
        let out = deserialize_all::<Outer>(value, &FieldPath::root(), &mut errors);
        (out, errors)
    }

    #[test]
    fn reports_every_unknown_field_and_wrong_type() {
        let (out, errors) =
            run("name: x\nnmae: y\ninner:\n  clustr: c\n  cluster: c\n  port: \"80\"\n");
        assert!(out.is_none());
        let paths: Vec<String> = errors.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(paths, ["nmae", "inner.clustr", "inner.port"]);
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean `name`?"));
        assert_eq!(
            errors[2].message,
            "`inner.port` must be a whole number, found text"
        );
    }

    #[test]
    fn wrong_type_does_not_also_report_missing() {
        let (_, errors) = run("name: x\ninner:\n  cluster: c\n  port: [1]\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn out_of_range_port() {
        let (_, errors) = run("name: x\ninner:\n  cluster: c\n  port: 70000\n");
        assert_eq!(errors[0].message, "`inner.port` is out of range");
    }

    #[test]
    fn every_unknown_field_of_a_mapping_in_one_pass_and_odd_keys_still_reported() {
        let (out, errors) = run("name: x\na: 1\nb: 2\ninner:\n  cluster: c\n  port: 80\n");
        assert!(out.is_none());
        assert_eq!(errors.len(), 2, "{errors:?}");
        // A backquote in the key garbles serde's message: still one error, never silence.
        let (out, errors) = run("name: x\n\"0`\": 1\ninner:\n  cluster: c\n  port: 80\n");
        assert!(out.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn valid_input_deserializes() {
        let (out, errors) = run("name: x\ninner:\n  cluster: c\n  port: 80\n");
        assert!(errors.is_empty());
        assert_eq!(out.unwrap().inner.port, 80);
    }

    #[test]
    fn never_echoes_values() {
        let (_, errors) = run("name: x\ninner:\n  cluster: c\n  port: \"hunter2\"\n");
        assert!(!format!("{errors:?}").contains("hunter2"));
    }
}
