//! Text from a repository on a terminal: control characters (ANSI escapes, carriage returns)
//! would let a pushed file rewrite what the reader sees, so every human output escapes them;
//! and a name echoed back (an unknown field) is cut short, so a file cannot print itself.

use std::borrow::Cow;

/// Longest user-written name echoed back in a message, in characters.
pub const MAX_ECHOED_CHARS: usize = 64;

/// `text` with control characters written as escapes (`\u{1b}`, `\n`, `\t`). Newlines are
/// kept when `keep_newlines` (multi-line messages), never in names.
pub fn escape_controls(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let needs = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Printable text for terminals: control characters escaped, newlines kept.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    escape_controls(text, true)
}

/// A name taken from a file, for a message: escaped and at most [`MAX_ECHOED_CHARS`]
/// characters (then ending in `…`).
pub fn short_name(name: &str) -> String {
    let mut chars = name.chars();
    let head: String = chars.by_ref().take(MAX_ECHOED_CHARS).collect();
    let escaped = escape_controls(&head, false).into_owned();
    if chars.next().is_some() {
        format!("{escaped}…")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_ansi_and_carriage_returns() {
        assert_eq!(for_terminal("a\u{1b}[31mred\r\nb"), "a\\u{1b}[31mred\\r\nb");
        assert!(matches!(for_terminal("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_names_are_cut_and_escaped() {
        let long = "r".repeat(300);
        let short = short_name(&long);
        assert_eq!(short.chars().count(), MAX_ECHOED_CHARS + 1);
        assert!(short.ends_with('…'));
        assert_eq!(short_name("a\nb"), "a\\nb");
        assert_eq!(short_name("ok"), "ok");
    }
}
