//! PURE: put one service's entry of an environment file back to what it was at another
//! commit, as text — the item of the `services:` list, with its comments, replaces today's;
//! everything else in the file (other services, comments, key order) stays byte for byte.
//! The caller checks the result by loading it (`revert::mod`).

use std::ops::Range;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{file} has no `services:` list written one item per block (`- name: …`)")]
    NoServices { file: String },
    #[error("{file} has no service `{service}` in its `services:` list")]
    NoService { file: String, service: String },
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_code(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

/// The value of `key: value` on a line (quotes and a trailing comment removed).
fn value_of<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.trim_start().strip_prefix(key)?.strip_prefix(':')?;
    let rest = rest.split(" #").next().unwrap_or(rest).trim();
    Some(rest.trim_matches(|c| c == '"' || c == '\''))
}

/// The environment's top-level `name:` in a file's text.
pub fn top_level_name(text: &str) -> Option<&str> {
    text.lines()
        .find(|l| indent(l) == 0 && value_of(l, "name").is_some())
        .and_then(|l| value_of(l, "name"))
}

/// The lines of each item of the top-level `services:` list: (name, line range). An item
/// runs from its `- ` line to the last code line before the next item or top-level key
/// (comments and blank lines after it belong to whatever follows).
fn items(lines: &[&str]) -> Option<Vec<(String, Range<usize>)>> {
    let start = lines
        .iter()
        .position(|l| indent(l) == 0 && value_of(l, "services") == Some(""))?;
    let mut out: Vec<(String, Range<usize>)> = Vec::new();
    let mut item_indent = None;
    let mut last_code = start;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if !is_code(line) {
            continue;
        }
        let at = indent(line);
        let is_item = line.trim_start().starts_with("- ");
        if at == 0 && !is_item {
            break; // the next top-level key
        }
        if is_item && item_indent.is_none_or(|n| n == at) {
            item_indent = Some(at);
            if let Some(open) = out.last_mut() {
                open.1.end = last_code + 1;
            }
            out.push((String::new(), i..i + 1));
        }
        let Some((name, _)) = out.last_mut() else {
            return None; // code under `services:` that is not a list item
        };
        let field = line.trim_start().trim_start_matches("- ");
        if name.is_empty()
            && let Some(v) = value_of(field, "name")
        {
            *name = v.to_string();
        }
        last_code = i;
    }
    if let Some(open) = out.last_mut() {
        open.1.end = last_code + 1;
    }
    Some(out)
}

fn find(text: &str, file: &str, service: &str) -> Result<(Vec<String>, Range<usize>), EditError> {
    let lines: Vec<&str> = text.lines().collect();
    let items = items(&lines).ok_or_else(|| EditError::NoServices { file: file.into() })?;
    let range = items
        .into_iter()
        .find(|(n, _)| n == service)
        .map(|(_, r)| r)
        .ok_or_else(|| EditError::NoService {
            file: file.into(),
            service: service.into(),
        })?;
    Ok((lines.iter().map(|l| l.to_string()).collect(), range))
}

/// `now` (the file's text today) with `service`'s item replaced by its item in `then` (the
/// same file at the commit to return to), re-indented to today's list indentation.
pub fn restore_service(
    now: &str,
    then: &str,
    file: &str,
    service: &str,
) -> Result<String, EditError> {
    let (mut lines, range) = find(now, file, service)?;
    let (old_lines, old_range) = find(then, file, service)?;
    let (to, from) = (
        indent(&lines[range.start]),
        indent(&old_lines[old_range.start]),
    );
    let block: Vec<String> = old_lines[old_range]
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else if to >= from {
                format!("{}{l}", " ".repeat(to - from))
            } else {
                l[(from - to).min(indent(l))..].to_string()
            }
        })
        .collect();
    lines.splice(range, block);
    let mut out = lines.join("\n");
    if now.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "\
name: staging
services:
  - name: api   # the public API
    source:
      ref: v2.0.0
    memory: 2048

  # the worker drains the queue
  - name: worker
    source:
      ref: w1
lifecycle: {}
";

    #[test]
    fn only_the_named_service_returns_to_its_old_text() {
        let then = "name: staging\nservices:\n- name: api\n  source:\n    ref: v1.9.0 # good\n  memory: 1024\n";
        let out = restore_service(NOW, then, "environments/staging.yaml", "api").unwrap();
        assert_eq!(
            out,
            "\
name: staging
services:
  - name: api
    source:
      ref: v1.9.0 # good
    memory: 1024

  # the worker drains the queue
  - name: worker
    source:
      ref: w1
lifecycle: {}
"
        );
        let out = restore_service(
            NOW,
            NOW.replace("ref: w1", "ref: w0").as_str(),
            "f",
            "worker",
        )
        .unwrap();
        assert_eq!(out, NOW.replace("ref: w1", "ref: w0"));
    }

    #[test]
    fn a_missing_service_or_list_is_named() {
        assert_eq!(
            restore_service(NOW, NOW, "f.yaml", "billing"),
            Err(EditError::NoService {
                file: "f.yaml".into(),
                service: "billing".into()
            })
        );
        assert_eq!(
            restore_service("name: x\nservices: [{name: api}]\n", NOW, "f.yaml", "api"),
            Err(EditError::NoServices {
                file: "f.yaml".into()
            })
        );
    }
}
