//! The names amagent itself uses (environment, pipeline and service `name`) end up in file
//! names (`environments/<env>.yaml`, the journal's `<env>.jsonl`), S3 keys, SSM parameter path
//! segments (`{env}`, `{service}`), run ids and terminal output. Each must be valid in all of
//! them, so the rule is the intersection of AWS's documented constraints:
//!
//! * ECS names (service, cluster, family): "up to 255 letters (uppercase and lowercase),
//!   numbers, hyphens, and underscores" (ECS CreateService `serviceName`);
//! * SSM parameter names: only `a-zA-Z0-9_.-` (and `/` between levels), no spaces
//!   (SSM PutParameter `Name`);
//! * S3 object keys: letters, digits and `!-_.*'()` are the "safe characters" (S3 user guide,
//!   object key naming guidelines).
//!
//! So: letters, digits, `-` and `_`, starting with a letter or digit (never `-x`, which reads
//! as a command-line flag, nor `.`/`..`), at most 63 characters, leaving room in the ids built
//! from them (`<env>-apply-<40-hex commit>`) and in 255-byte file names.

use super::diagnostic::Diagnostic;
use super::position::FieldPath;
use super::printable::short_name;
use super::units::Located;

/// Longest environment, pipeline or service name.
pub const MAX_NAME_CHARS: usize = 63;

/// Whether `name` may name an environment, pipeline or service.
pub fn is_amagent_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A diagnostic at `path` unless `name` follows [`is_amagent_name`]. `what` is e.g.
/// "environment name".
pub fn check_name(
    at: &Located,
    path: &FieldPath,
    name: &str,
    what: &str,
    out: &mut Vec<Diagnostic>,
) {
    if is_amagent_name(name) {
        return;
    }
    let message = if name.is_empty() {
        format!("the {what} is empty")
    } else {
        format!("`{}` is not a valid {what}", short_name(name))
    };
    out.push(at.at_value(
        path,
        message,
        Some(format!(
            "use 1 to {MAX_NAME_CHARS} letters, digits, `-` and `_`, starting with a letter or digit (it becomes part of file names, S3 keys and SSM parameter names)"
        )),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["staging", "api", "web_2", "A-1", &"a".repeat(63)] {
            assert!(is_amagent_name(ok), "{ok}");
        }
        for bad in [
            "",
            "../..",
            "$(reboot)",
            "-x",
            "_x",
            "a b",
            "a.b",
            "x\u{1b}[2J",
            &"a".repeat(64),
            &"a".repeat(300),
        ] {
            assert!(!is_amagent_name(bad), "{bad}");
        }
    }
}
