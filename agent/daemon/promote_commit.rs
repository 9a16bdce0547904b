//! PURE: which commit `amagent promote --tag T` tags when no `--commit` is given — the newest
//! commit on the branch whose images every environment T promotes to can receive, i.e. that
//! each one's source environment applied and verified (the same check the promotion itself
//! makes, [`verified_images`]). None: the command refuses before any tag is created or
//! pushed, saying why and what to do.

use super::applied::{STEP, outcome};
use super::promotion::verified_images;
use crate::config::Model;
use crate::repo::EnvRepo;
use crate::state::journal::{Phase, Record};
use std::collections::BTreeSet;

/// An environment a tag promotes to, with what its source must have verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub env: String,
    pub from: String,
    pub services: Vec<String>,
}

/// The environments of `model` whose `promotion.tagPattern` `tag` matches (a semver version
/// after the pattern's prefix; the versionRequirement is the promotion's own check).
pub fn targets(model: &Model, tag: &str) -> Vec<Target> {
    model
        .environments
        .values()
        .filter_map(|env| {
            let p = env.promotion.as_ref()?;
            semver::Version::parse(tag.strip_prefix(p.tag_prefix())?).ok()?;
            Some(Target {
                env: env.name.clone(),
                from: p.from.clone(),
                services: env.services.iter().map(|s| s.name.clone()).collect(),
            })
        })
        .collect()
}

/// The commits environment `from` applied and verified (its finished `apply` records).
fn applied_in(records: &[Record], from: &str) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r.env == from && r.step == STEP && r.phase == Phase::Finished)
        .filter(|r| {
            matches!(
                r.outcome.as_deref(),
                Some(outcome::SUCCEEDED | outcome::UNCHANGED)
            )
        })
        .filter_map(|r| r.detail["commit"].as_str().map(String::from))
        .collect()
}

/// The newest commit of `history` (the branch, newest first) whose images every target's
/// source verified. `targets_at(commit)` gives the targets as configured at that commit
/// (services may differ between commits); it is asked only about commits a source applied.
/// Err: why none qualifies, and what to do.
pub fn newest_verified<'h>(
    records: &[Record],
    history: &'h [String],
    head_targets: &[Target],
    tag: &str,
    mut targets_at: impl FnMut(&str) -> Vec<Target>,
) -> Result<&'h str, String> {
    if head_targets.is_empty() {
        return Err(format!(
            "no environment promotes on {tag}: no promotion.tagPattern matches it"
        ));
    }
    let sources: BTreeSet<&str> = head_targets.iter().map(|t| t.from.as_str()).collect();
    let applied: Vec<BTreeSet<String>> = sources.iter().map(|s| applied_in(records, s)).collect();
    for commit in history {
        if !applied.iter().all(|a| a.contains(commit)) {
            continue;
        }
        let at = targets_at(commit);
        let verified = !at.is_empty()
            && at
                .iter()
                .all(|t| verified_images(records, &t.from, commit, &t.services).is_ok());
        if verified {
            return Ok(commit);
        }
    }
    let sources: Vec<&str> = sources.into_iter().collect();
    Err(format!(
        "no commit on the branch is verified by {}: nothing to promote as {tag}. Merge a change \
         and let {} deploy and verify it, or name a verified commit with --commit \
         (`amagent history --env {}` lists them)",
        sources.join(" and "),
        sources.join(" and "),
        sources[0]
    ))
}

/// The commit `amagent promote` tags, and a line saying which and why: `named` resolved when
/// given (the promotion checks it), else [`newest_verified`] on `branch`'s first-parent history.
/// The shell around the pure part: reads the repository only.
pub fn commit_to_tag(
    repo: &EnvRepo,
    branch: &str,
    tag: &str,
    named: Option<&str>,
    records: &[Record],
) -> Result<(String, String), String> {
    if let Some(rev) = named {
        let commit = repo.resolve(rev).map_err(|e| e.to_string())?.to_string();
        return Ok((
            commit.clone(),
            format!("tagging {tag} at {} (--commit)", short(&commit)),
        ));
    }
    let head = format!("refs/heads/{branch}");
    let err = |e: crate::repo::RepoError| e.to_string();
    let root = repo.root_commit(&head).map_err(err)?.to_string();
    let landed = repo.landed_between(&root, &head).map_err(err)?;
    let mut history: Vec<String> = landed.iter().rev().map(|c| c.id.clone()).collect();
    history.push(root);
    let at = |commit: &str| {
        repo.model_at(commit)
            .map(|m| targets(&m, tag))
            .unwrap_or_default()
    };
    let head_targets = at(&history[0]);
    let chosen = newest_verified(records, &history, &head_targets, tag, at)?.to_string();
    let sources: BTreeSet<&str> = head_targets.iter().map(|t| t.from.as_str()).collect();
    let summary = landed
        .iter()
        .find(|c| c.id == chosen)
        .map(|c| format!(" \"{}\"", c.summary))
        .unwrap_or_default();
    let behind = history.iter().position(|c| *c == chosen).unwrap_or(0);
    let note = format!(
        "tagging {tag} at {}{summary}: the newest commit on {branch} that {} verified{}",
        short(&chosen),
        sources.into_iter().collect::<Vec<_>>().join(" and "),
        match behind {
            0 => " (the head)".to_string(),
            n => format!(" ({n} commit(s) behind the head, which is not verified yet)"),
        }
    );
    Ok((chosen, note))
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn rec(
        n: i64,
        service: Option<&str>,
        step: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Record {
        Record {
            at: Utc.timestamp_opt(1_790_000_000 + n, 0).unwrap(),
            run: format!("r{n}"),
            env: "staging".into(),
            service: service.map(String::from),
            step: step.into(),
            phase: Phase::Finished,
            outcome: Some(outcome.into()),
            detail,
        }
    }

    /// Staging applied and verified `commit` (api deployed, image known).
    fn verified(n: i64, commit: &str) -> Vec<Record> {
        vec![
            rec(
                n,
                Some("api"),
                "deploy",
                "succeeded",
                serde_json::json!({ "image": format!("r/api@sha256:{n}") }),
            ),
            rec(
                n + 1,
                None,
                STEP,
                outcome::SUCCEEDED,
                serde_json::json!({ "commit": commit }),
            ),
        ]
    }

    fn production() -> Vec<Target> {
        vec![Target {
            env: "production".into(),
            from: "staging".into(),
            services: vec!["api".into()],
        }]
    }

    #[test]
    fn the_newest_verified_commit_not_the_head() {
        let history: Vec<String> = ["head", "c2", "c1"].map(String::from).to_vec();
        let mut records = verified(0, "c1");
        records.extend(verified(10, "c2"));
        // The head was applied but failed: not verified.
        records.push(rec(
            20,
            None,
            STEP,
            outcome::FAILED,
            serde_json::json!({ "commit": "head" }),
        ));
        let mut asked = Vec::new();
        let chosen = newest_verified(&records, &history, &production(), "v1.4.0", |c| {
            asked.push(c.to_string());
            production()
        });
        assert_eq!(chosen, Ok("c2"));
        assert_eq!(asked, ["c2"], "only commits staging applied are looked at");
    }

    #[test]
    fn none_verified_or_no_target_is_refused_with_the_way_out() {
        let history: Vec<String> = vec!["head".into()];
        let err =
            newest_verified(&[], &history, &production(), "v1.4.0", |_| production()).unwrap_err();
        assert!(
            err.contains("no commit on the branch is verified by staging"),
            "{err}"
        );
        assert!(err.contains("--commit"), "{err}");
        let err = newest_verified(&verified(0, "head"), &history, &[], "x1", |_| production())
            .unwrap_err();
        assert!(err.contains("no environment promotes on x1"), "{err}");
    }
}
