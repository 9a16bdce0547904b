//! Bounds on what the loader reads, checked on the YAML *event stream* before any text reaches
//! serde_yaml or marked-yaml: both build trees recursively (a file nested 5,000 deep overflowed
//! the stack and killed the agent), and deep flow nesting made the parsers quadratic.
//!
//! yaml-rust2's parser is a state machine (no recursion), so streaming its events and stopping
//! at the first one past a bound is linear in the input and uses constant stack.

use super::diagnostic::Diagnostic;
use super::printable::short_name;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError};

/// Deepest nesting of mappings and sequences in one file. The deepest real field
/// (`services[i].loadBalancer.containerPort`) sits at depth 4; 64 leaves room for any layout
/// while keeping the recursive readers far from a 2 MiB (tokio worker) stack.
pub const MAX_DEPTH: usize = 64;

/// Largest configuration file. The worked example's files are ~3 KB and a service ~1.5 KB, so
/// 1 MiB is hundreds of services in one environment; loading one at the bound takes well under
/// a second (benches/config_limits.rs).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Largest total of all configuration files at one revision: 16 files at the file bound.
pub const MAX_REPO_BYTES: u64 = 16 << 20;

/// Most YAML nodes one file may expand to with aliases (`*a`) counted at full size: a few
/// anchors referring to each other otherwise expand exponentially ("billion laughs").
pub const MAX_EXPANDED_NODES: usize = 1 << 20;

/// Why a text was not handed to the parsers.
#[derive(Debug)]
pub enum Scan {
    /// Within every bound: parse it.
    Fine,
    /// Over a bound, or a YAML feature we refuse: report this and nothing else for the file.
    Refused(Diagnostic),
    /// yaml-rust2 cannot read it: a syntax error the caller reports (serde_yaml's wording is
    /// better, so it gets the first say).
    Unreadable(ScanError),
}

fn at(file: &str, mark: &Marker, message: String, hint: &str) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line: mark.line().max(1),
        column: mark.col() + 1,
        message,
        hint: Some(hint.to_string()),
    }
}

/// `file` is too large (`bytes` long), as a diagnostic.
pub fn file_too_large(file: &str, bytes: u64) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line: 1,
        column: 1,
        message: format!(
            "the file is {} bytes; configuration files are limited to {} bytes (1 MiB)",
            bytes, MAX_FILE_BYTES
        ),
        hint: Some("split the environment into smaller files, or remove unused entries".into()),
    }
}

/// The repository's configuration passed [`MAX_REPO_BYTES`] at `file`.
pub fn repo_too_large(file: &str, total: u64) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line: 1,
        column: 1,
        message: format!(
            "the configuration files reach {total} bytes with this one; all of them together are limited to {MAX_REPO_BYTES} bytes (16 MiB)"
        ),
        hint: Some("remove environments or pipelines that are no longer used".into()),
    }
}

/// One open mapping or sequence.
struct Frame {
    /// For a mapping: the next node is a key.
    expect_key: Option<bool>,
    /// Nodes under it so far, aliases counted at their expanded size.
    nodes: usize,
    /// Its anchor id (0 = none), to remember its size when it closes.
    anchor: usize,
}

/// Check `text` (the file `file`) against the bounds and the refused YAML features.
pub fn scan(file: &str, text: &str) -> Scan {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Scan::Refused(file_too_large(file, text.len() as u64));
    }
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    // Expanded size of each anchored node, by anchor id.
    let mut anchored: std::collections::HashMap<usize, usize> = Default::default();
    let mut total = 0usize;
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(e) => e,
            // yaml-rust2 stops at 255 open brackets, sometimes before we see the 65th open.
            Err(e) if e.info() == "recursion limit exceeded" => {
                return Scan::Refused(too_deep(file, e.marker()));
            }
            Err(e) => return Scan::Unreadable(e),
        };
        let (size, anchor, tag, opens) = match &event {
            Event::StreamEnd => return Scan::Fine,
            Event::Scalar(value, style, anchor, tag) => {
                let is_key = stack.last().and_then(|f| f.expect_key) == Some(true);
                if is_key && value == "<<" && *style == yaml_rust2::scanner::TScalarStyle::Plain {
                    return Scan::Refused(merge_key(file, &mark));
                }
                (1, *anchor, tag, false)
            }
            Event::Alias(id) => (anchored.get(id).copied().unwrap_or(1), 0, &None, false),
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                (1, *anchor, tag, true)
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(done) = stack.pop() else { continue };
                if done.anchor != 0 {
                    anchored.insert(done.anchor, done.nodes);
                }
                if let Some(parent) = stack.last_mut() {
                    parent.nodes = parent.nodes.saturating_add(done.nodes);
                    parent.expect_key = parent.expect_key.map(|k| !k);
                }
                continue;
            }
            _ => continue,
        };
        if let Some(tag) = tag {
            return Scan::Refused(tagged(file, &mark, tag));
        }
        total = total.saturating_add(size);
        if total > MAX_EXPANDED_NODES {
            return Scan::Refused(at(
                file,
                &mark,
                format!("aliases here expand the file past {MAX_EXPANDED_NODES} values"),
                "write the values out instead of nesting anchors in anchors",
            ));
        }
        if opens {
            if stack.len() >= MAX_DEPTH {
                return Scan::Refused(too_deep(file, &mark));
            }
            let is_map = matches!(event, Event::MappingStart(..));
            stack.push(Frame {
                expect_key: is_map.then_some(true),
                nodes: 1,
                anchor,
            });
            continue;
        }
        if anchor != 0 {
            anchored.insert(anchor, size);
        }
        if let Some(parent) = stack.last_mut() {
            parent.nodes = parent.nodes.saturating_add(size);
            parent.expect_key = parent.expect_key.map(|k| !k);
        }
    }
}

fn too_deep(file: &str, mark: &Marker) -> Diagnostic {
    at(
        file,
        mark,
        format!("the YAML here is nested more than {MAX_DEPTH} levels deep"),
        "configuration is a few levels deep: check the indentation and the brackets",
    )
}

fn merge_key(file: &str, mark: &Marker) -> Diagnostic {
    at(
        file,
        mark,
        "YAML merge keys (`<<`) are not supported".into(),
        "write the fields out in full in this mapping",
    )
}

fn tagged(file: &str, mark: &Marker, tag: &Tag) -> Diagnostic {
    let written = match tag.handle.as_str() {
        "tag:yaml.org,2002:" => format!("!!{}", tag.suffix),
        handle => format!("{handle}{}", tag.suffix),
    };
    at(
        file,
        mark,
        format!(
            "YAML tags such as `{}` are not supported",
            short_name(&written)
        ),
        "remove the tag; quote a value to make it text, e.g. `ref: \"1.10\"`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> Diagnostic {
        match scan("environments/x.yaml", text) {
            Scan::Refused(d) => d,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn depth_is_bounded_for_block_and_flow_nesting() {
        let block_seq = format!("deep:\n  {}x\n", "- ".repeat(5000));
        let d = refused(&block_seq);
        assert_eq!((d.line, d.column), (2, 3 + 2 * (MAX_DEPTH - 1)), "{d}");
        assert!(d.message.contains("nested more than 64"), "{d}");
        let maps: String = (0..1000)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let d = refused(&maps);
        // The 65th mapping opens on line 65 (its marker is the key's `:`).
        assert_eq!(d.line, MAX_DEPTH + 1, "{d}");
        let flow = "[".repeat(100_000);
        let d = refused(&flow);
        assert!(d.message.contains("nested more than 64"), "{d}");
        assert_eq!(d.line, 1, "{d}");
        // At the bound is fine.
        let ok = format!("{}x{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(matches!(scan("f", &ok), Scan::Fine));
    }

    #[test]
    fn merge_keys_and_tags_are_refused_at_their_line() {
        let d = refused("base: &b {a: 1}\nother:\n  <<: *b\n");
        assert_eq!((d.line, d.column), (3, 3));
        assert!(d.message.contains("merge keys"), "{d}");
        // `<<` as a value is just text.
        assert!(matches!(scan("f", "a: <<\n"), Scan::Fine));
        let d = refused("a: 1\nb: !Ref x\n");
        assert_eq!(d.line, 2);
        assert!(d.message.contains("`!Ref`"), "{d}");
        assert!(refused("a: !!binary aGk=\n").message.contains("`!!binary`"));
    }

    #[test]
    fn alias_expansion_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(refused(&text).message.contains("aliases"));
    }

    #[test]
    fn files_over_the_size_bound_are_refused() {
        let big = "#".repeat(MAX_FILE_BYTES as usize + 1);
        assert!(refused(&big).message.contains("limited to 1048576 bytes"));
    }
}
