//! The plan preview on an open pull request: what merging it would do, per environment and
//! service (like Atlantis' plan, kept to one comment that is edited on every push). Pure.

use crate::plan::{Change, Plan, Trigger};
use std::fmt::Write;

/// The hidden marker of the preview comment.
pub const MARKER: &str = "<!-- amagent:plan -->";

/// The preview body for merging `head` onto `base`; `plan` is Err with the validation
/// problems when the configuration at `head` is invalid.
pub fn render_preview(base: &str, head: &str, plan: Result<&Plan, &str>) -> String {
    let short = |c: &str| c[..c.len().min(7)].to_string();
    let mut out = String::new();
    let _ = writeln!(out, "{MARKER}");
    let plan = match plan {
        Ok(p) => p,
        Err(problems) => {
            let _ = writeln!(
                out,
                "### ❌ amagent plan: the configuration at `{}` is invalid\n\nMerging this would deploy nothing until it is fixed:\n\n```\n{}\n```",
                short(head),
                problems.trim_end()
            );
            return out;
        }
    };
    if plan.is_empty() {
        let _ = writeln!(
            out,
            "### amagent plan: no changes\n\nMerging `{}` onto `{}` changes no environment.",
            short(head),
            short(base)
        );
        return out;
    }
    let _ = writeln!(
        out,
        "### amagent plan: {} stage(s) in {} environment(s)\n\nWhat merging `{}` onto `{}` would do:\n",
        plan.stage_count(),
        plan.environments.len(),
        short(head),
        short(base)
    );
    for env in &plan.environments {
        let when = match &env.trigger {
            Trigger::Merge => "on merge".to_string(),
            Trigger::Tag { pattern, from } => {
                format!("on the next `{pattern}` tag, with {from}'s verified digests")
            }
        };
        let change = match env.change {
            Change::Added => " (new environment)",
            Change::Removed => " (removed: nothing is deleted in AWS)",
            Change::Modified => "",
        };
        let _ = writeln!(out, "**{}**{change}, {when}:\n", env.name);
        let _ = writeln!(out, "| service | stage | why |\n|---|---|---|");
        for s in &env.services {
            for st in &s.stages {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    s.name,
                    st.stage,
                    st.reason.replace('|', "\\|").replace('\n', " ")
                );
            }
        }
        let _ = writeln!(out);
    }
    out
}

/// The preview when the pull request's `head` (or, with no branch to fall back on, its
/// `base`) is not in the environments repo even after fetching: say so, compare nothing.
pub fn render_missing(which: &str, sha: &str, number: u64) -> String {
    format!(
        "{MARKER}\n### ⚠️ amagent plan: cannot preview\n\nThe {which} commit `{}` of #{number} is not in the environments repo, even after fetching the branches, `refs/pull/{number}/head` and the commit itself. No plan is shown rather than one compared against nothing; the next push to this pull request previews again.\n",
        &sha[..sha.len().min(7)]
    )
}

/// The note under a preview that was compared with where the branch left `branch`, because
/// the pull request's own base commit `base` could not be found.
pub fn fork_point_note(base: &str, branch: &str, fork_point: &str) -> String {
    format!(
        "\n> ⚠️ The base commit `{}` GitHub named is not in the environments repo (force-pushed away?); this plan compares with `{}`, where this pull request left `{branch}`.\n",
        &base[..base.len().min(7)],
        &fork_point[..fork_point.len().min(7)]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_lists_its_stages_and_an_invalid_head_says_why() {
        let old = crate::config::example();
        let mut new = old.clone();
        new.environments.get_mut("staging").unwrap().services[0]
            .source
            .reference = "v9.9.9".into();
        let plan = crate::plan::plan(&old, &new);
        let body = render_preview("aaaaaaaaaa", "bbbbbbbbbb", Ok(&plan));
        assert!(body.starts_with(MARKER));
        assert!(
            body.contains("What merging `bbbbbbb` onto `aaaaaaa` would do"),
            "{body}"
        );
        assert!(body.contains("**staging**, on merge:"), "{body}");
        assert!(body.contains("| api | build |"), "{body}");
        assert!(body.contains("| api | deploy |"), "{body}");

        let none = render_preview("a", "b", Ok(&crate::plan::plan(&old, &old)));
        assert!(none.contains("no changes"));

        let bad = render_preview("a", "b", Err("environments/staging.yaml:3:1: oops"));
        assert!(bad.contains("is invalid"));
        assert!(bad.contains("environments/staging.yaml:3:1: oops"));
    }
}
