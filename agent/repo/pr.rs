//! The pull request number a merge or squash commit names in its message — the fallback when
//! the GitHub API cannot say which PR a commit belongs to.

/// `Merge pull request #123 from org/branch` → 123; `Add thing (#123)` (squash) → 123.
pub fn pr_number_from_message(message: &str) -> Option<u64> {
    let first_line = message.lines().next().unwrap_or_default().trim_end();
    if let Some(rest) = first_line.strip_prefix("Merge pull request #") {
        return leading_number(rest);
    }
    // Squash merges end the title with "(#123)"; take the last such group.
    let start = first_line.rfind("(#")?;
    let rest = &first_line[start + 2..];
    let number = leading_number(rest)?;
    rest.trim_start_matches(|c: char| c.is_ascii_digit())
        .starts_with(')')
        .then_some(number)
}

fn leading_number(s: &str) -> Option<u64> {
    let digits: &str = &s[..s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len())];
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_commit() {
        assert_eq!(
            pr_number_from_message(
                "Merge pull request #123 from aussie-markets/bump-api\n\nBump api"
            ),
            Some(123)
        );
    }

    #[test]
    fn squash_commit() {
        assert_eq!(pr_number_from_message("Bump api to v1.4.0 (#45)"), Some(45));
        assert_eq!(
            pr_number_from_message("Fix (#12) and more (#45)\n\nbody (#9)"),
            Some(45)
        );
    }

    #[test]
    fn no_number() {
        assert_eq!(pr_number_from_message("Bump api to v1.4.0"), None);
        assert_eq!(pr_number_from_message("Refs (#abc)"), None);
        assert_eq!(pr_number_from_message(""), None);
        // Only the first line counts: a body mention is not the merged PR.
        assert_eq!(pr_number_from_message("Bump\n\nsee (#7)"), None);
    }
}
