//! Where each field of a YAML file sits, so that every diagnostic — also the semantic ones
//! found long after parsing — can name `file:line:column`.
//!
//! serde_yaml only knows positions for syntax errors, so we keep a second, marker-keeping read
//! of the same text (marked-yaml) and index it by field path.

use super::printable::short_name;
use std::collections::HashMap;
use std::fmt;

/// One step in a path from the document root to a field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path such as `services[0].ecs.cluster`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_string()));
        FieldPath(segments)
    }

    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        FieldPath(segments)
    }

    pub fn join(&self, other: &FieldPath) -> Self {
        let mut segments = self.0.clone();
        segments.extend(other.0.iter().cloned());
        FieldPath(segments)
    }

    pub fn parent(&self) -> Option<FieldPath> {
        if self.0.is_empty() {
            None
        } else {
            Some(FieldPath(self.0[..self.0.len() - 1].to_vec()))
        }
    }

    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                // Keys come from the file: cut long ones short.
                Segment::Key(k) if i == 0 => write!(f, "{}", short_name(k))?,
                Segment::Key(k) => write!(f, ".{}", short_name(k))?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    pub const START: Position = Position { line: 1, column: 1 };
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Where the key of a mapping entry starts (None for sequence items and the root).
    key: Option<Position>,
    /// Where the value starts.
    value: Position,
}

/// Field path → position, built from one YAML text.
#[derive(Clone, Debug, Default)]
pub struct PositionIndex {
    entries: HashMap<FieldPath, Entry>,
}

impl PositionIndex {
    /// Index `text`. A text marked-yaml cannot read (anchors, tags, a top level that is not a
    /// mapping) gives an empty index: diagnostics then fall back to 1:1 but still name the path.
    pub fn build(text: &str) -> Self {
        let mut index = PositionIndex::default();
        if let Ok(node) = marked_yaml::parse_yaml(0, text) {
            index.visit(&node, FieldPath::root(), None);
        }
        index
    }

    fn visit(&mut self, node: &marked_yaml::Node, path: FieldPath, key: Option<Position>) {
        // A mapping's own marker sits at its first `:`; people read it as starting at its
        // first key.
        let first_key = match node {
            marked_yaml::Node::Mapping(map) => {
                map.keys().next().and_then(|k| marker_position(k.span()))
            }
            _ => None,
        };
        let value = first_key
            .or_else(|| marker_position(node.span()))
            .unwrap_or(Position::START);
        self.entries.insert(path.clone(), Entry { key, value });
        match node {
            marked_yaml::Node::Mapping(map) => {
                for (k, v) in map.iter() {
                    let key_pos = marker_position(k.span());
                    self.visit(v, path.key(k.as_str()), key_pos);
                }
            }
            marked_yaml::Node::Sequence(seq) => {
                for (i, v) in seq.iter().enumerate() {
                    self.visit(v, path.index(i), None);
                }
            }
            marked_yaml::Node::Scalar(_) => {}
        }
    }

    /// Where the key of `path` is written (falls back to the value, then to the nearest
    /// ancestor that exists).
    pub fn key_position(&self, path: &FieldPath) -> Position {
        self.lookup(path, true)
    }

    /// Where the value of `path` is written (falls back to the nearest ancestor).
    pub fn value_position(&self, path: &FieldPath) -> Position {
        self.lookup(path, false)
    }

    fn lookup(&self, path: &FieldPath, prefer_key: bool) -> Position {
        let mut current = Some(path.clone());
        while let Some(p) = current {
            if let Some(entry) = self.entries.get(&p) {
                return match (prefer_key, entry.key) {
                    (true, Some(k)) => k,
                    _ => entry.value,
                };
            }
            current = p.parent();
        }
        Position::START
    }

    pub fn contains(&self, path: &FieldPath) -> bool {
        self.entries.contains_key(path)
    }
}

/// A key given twice in one mapping.
pub struct DuplicateKey {
    pub key: String,
    pub first: Position,
    pub second: Position,
}

/// The first duplicate key in `text`, if any (serde_yaml only names the enclosing mapping).
pub fn duplicate_key(text: &str) -> Option<DuplicateKey> {
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
    match marked_yaml::parse_yaml_with_options(0, text, options) {
        Err(marked_yaml::LoadError::DuplicateKey(inner)) => Some(DuplicateKey {
            key: inner.key.as_str().to_string(),
            first: marker_position(inner.prev_key.span())?,
            second: marker_position(inner.key.span())?,
        }),
        _ => None,
    }
}

fn marker_position(span: &marked_yaml::Span) -> Option<Position> {
    span.start().map(|m| Position {
        line: m.line(),
        column: m.column(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_values_and_sequence_items() {
        let text = "a: 1\nservices:\n  - name: api\n    ecs:\n      cluster: c\n";
        let index = PositionIndex::build(text);
        let cluster = FieldPath::root()
            .key("services")
            .index(0)
            .key("ecs")
            .key("cluster");
        assert_eq!(cluster.to_string(), "services[0].ecs.cluster");
        assert_eq!(
            index.key_position(&cluster),
            Position { line: 5, column: 7 }
        );
        assert_eq!(
            index.value_position(&cluster),
            Position {
                line: 5,
                column: 16
            }
        );
        // Missing path falls back to the nearest ancestor.
        let missing = cluster.parent().unwrap().key("nope");
        assert_eq!(
            index.key_position(&missing),
            Position { line: 4, column: 5 }
        );
    }

    #[test]
    fn unreadable_text_gives_start() {
        let index = PositionIndex::build("- a\n- b\n");
        assert_eq!(
            index.key_position(&FieldPath::root().key("x")),
            Position::START
        );
    }
}
