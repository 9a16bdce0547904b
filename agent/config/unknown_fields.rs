//! Every unknown field of a mapping at once. serde names one unknown field per run, and each
//! run of `deserialize_all` clones and reads the whole unit: a 1 MiB file of unknown keys took
//! 256 full passes (1.6 s). serde's message lists the fields it expects, so one pass can remove
//! every other key of that mapping.

use super::position::{FieldPath, Segment};
use serde_yaml::Value;

/// Remove every text key of the mapping at `parent` (relative to `value`) that is not in
/// `expected`, returning their names in file order. Empty when `parent` is not a mapping.
pub fn remove_all_unknown(
    value: &mut Value,
    parent: &FieldPath,
    expected: &[String],
) -> Vec<String> {
    let mut current = value;
    for seg in &parent.0 {
        current = match (seg, current) {
            (Segment::Key(k), Value::Mapping(m)) => match m.get_mut(k.as_str()) {
                Some(v) => v,
                None => return Vec::new(),
            },
            (Segment::Index(i), Value::Sequence(s)) => match s.get_mut(*i) {
                Some(v) => v,
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        };
    }
    let Value::Mapping(map) = current else {
        return Vec::new();
    };
    let unknown: Vec<String> = map
        .keys()
        .filter_map(Value::as_str)
        .filter(|k| !expected.iter().any(|e| e == k))
        .map(str::to_string)
        .collect();
    for key in &unknown {
        map.remove(key.as_str());
    }
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_the_unknown_text_keys_of_that_mapping() {
        let mut value: Value =
            serde_yaml::from_str("a: 1\nin:\n  x: 1\n  b: 2\n  y: 3\n  1: 4\n").unwrap();
        let removed =
            remove_all_unknown(&mut value, &FieldPath::root().key("in"), &["b".to_string()]);
        assert_eq!(removed, ["x", "y"]);
        assert_eq!(value["in"].as_mapping().unwrap().len(), 2);
        assert!(remove_all_unknown(&mut value, &FieldPath::root().key("a"), &[]).is_empty());
    }
}
