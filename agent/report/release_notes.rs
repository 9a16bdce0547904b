//! Release notes for a promotion's comment: the pull requests and commits the tag carries since
//! the previous promoted tag (or, for the first promotion, the tagged commit). Pure.

use crate::repo::CommitInfo;
use std::fmt::Write;

/// Markdown: a heading naming the tag (and the previous one), then one line per pull request
/// (its merge commit's summary) and per commit that merged none.
pub fn release_notes(tag: &str, previous: Option<&str>, landed: &[CommitInfo]) -> String {
    let mut out = String::new();
    let since = previous
        .map(|p| format!(" (since {p})"))
        .unwrap_or_default();
    let _ = writeln!(out, "\n#### What {tag} carries{since}\n");
    if landed.is_empty() {
        let _ = writeln!(out, "No new commits.");
        return out;
    }
    for c in landed {
        let short = &c.id[..c.id.len().min(7)];
        let summary = one_line(&c.summary);
        match c.pull_request {
            Some(pr) => {
                let _ = writeln!(
                    out,
                    "- #{pr} {summary} (`{short}`, {})",
                    one_line(&c.author)
                );
            }
            None => {
                let _ = writeln!(out, "- `{short}` {summary} ({})", one_line(&c.author));
            }
        }
    }
    out
}

/// Commit text on one line, without HTML a comment would render.
fn one_line(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    line.replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: &str, summary: &str, pr: Option<u64>) -> CommitInfo {
        CommitInfo {
            id: id.repeat(40 / id.len()),
            summary: summary.into(),
            message: summary.into(),
            author: "Ada".into(),
            pull_request: pr,
        }
    }

    #[test]
    fn lists_each_pull_request_and_each_direct_commit() {
        let notes = release_notes(
            "v1.5.0",
            Some("v1.4.0"),
            &[
                commit("a", "Merge pull request #21 from x/checkout", Some(21)),
                commit("b", "Bump <script>", None),
            ],
        );
        assert_eq!(
            notes,
            "\n#### What v1.5.0 carries (since v1.4.0)\n\n\
             - #21 Merge pull request #21 from x/checkout (`aaaaaaa`, Ada)\n\
             - `bbbbbbb` Bump &lt;script&gt; (Ada)\n"
        );
        assert!(release_notes("v1.0.0", None, &[]).contains("No new commits."));
    }
}
