//! PURE: what the journal says about each environment's applied commits, and what the agent
//! should do with a new head of the environments repo. Every decision is a unit test below.

use crate::config::Environment;
use crate::state::journal::{Phase, Record};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The journal step the agent records around applying a commit to an environment.
pub const STEP: &str = "apply";

/// Outcomes of an `apply` step.
pub mod outcome {
    /// Every deploy verified.
    pub const SUCCEEDED: &str = "succeeded";
    /// A deploy failed (and was rolled back or refused): decided and recorded, not retried.
    pub const FAILED: &str = "failed";
    /// First sight of the repository: the head is the baseline, nothing deployed.
    pub const ADOPTED: &str = "adopted";
    /// The commit changed nothing for this environment.
    pub const UNCHANGED: &str = "unchanged";
    /// The configuration at the commit is invalid: nothing deployed.
    pub const INVALID: &str = "invalid";
    /// The agent was stopped before the deploys finished (resumed on restart).
    pub const INTERRUPTED: &str = "interrupted";
    /// A promotion tag that may not be promoted (not verified, not newer): nothing deployed.
    pub const REFUSED: &str = "refused";
    /// The agent lost its lease mid-apply and abandoned it, changing nothing more: the agent
    /// holding the lease decides (not a decision: the commit is applied again).
    pub const LEASE_LOST: &str = "lease-lost";
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub commit: String,
    pub outcome: String,
    pub at: DateTime<Utc>,
}

/// The newest finished `apply` per environment. Interrupted applies do not count: their
/// commit is applied again.
pub fn last_applied(records: &[Record]) -> BTreeMap<String, Applied> {
    let mut out = BTreeMap::new();
    for r in records {
        if r.step != STEP || r.phase != Phase::Finished {
            continue;
        }
        let outcome = r.outcome.clone().unwrap_or_default();
        if [outcome::INTERRUPTED, outcome::REFUSED, outcome::LEASE_LOST].contains(&outcome.as_str())
        {
            continue;
        }
        let Some(commit) = r.detail["commit"].as_str() else {
            continue;
        };
        out.insert(
            r.env.clone(),
            Applied {
                commit: commit.to_string(),
                outcome,
                at: r.at,
            },
        );
    }
    out
}

/// When an earlier attempt to apply `commit` to `env` started, if one was interrupted (the
/// agent stopped or died mid-way): the resumed run reuses what it already did. Only attempts
/// after the environment's last decided apply count — a commit applied or promoted before, and
/// finished, is not being resumed. By position, not time: records are in journal order, and on
/// virtual time many share an instant.
pub fn interrupted_since(records: &[Record], env: &str, commit: &str) -> Option<DateTime<Utc>> {
    let mine: Vec<&Record> = records
        .iter()
        .filter(|r| r.env == env && r.step == STEP)
        .collect();
    let after = mine
        .iter()
        .rposition(|r| {
            r.phase == Phase::Finished
                && !matches!(
                    r.outcome.as_deref(),
                    Some(outcome::INTERRUPTED | outcome::LEASE_LOST)
                )
        })
        .map(|i| i + 1)
        .unwrap_or(0);
    let since = mine[after..]
        .iter()
        .filter(|r| r.phase == Phase::Started && r.detail["commit"].as_str() == Some(commit))
        .map(|r| r.at)
        .min()?;
    tracing::info!(env, commit = %&commit[..7.min(commit.len())], %since, "resuming an interrupted apply");
    Some(since)
}

/// What to do for one environment when the branch head is `head`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Never applied: adopt `head` as the baseline and deploy nothing (what runs now is what
    /// the repository said before the agent came; `amagent deploy` or a merge changes it).
    Adopt,
    /// Already at `head`.
    UpToDate,
    /// Plan from `from` to `head` and run it (several merges since `from` become one plan).
    Apply { from: String },
    /// Never applied here while others were: plan the environment as new (every service
    /// deploys); `from` is the newest commit applied anywhere (whose PRs are reported).
    ApplyNew { from: String },
    /// A promoted environment changes on a promotion tag, not on merges.
    WaitForTag { pattern: String },
}

/// `applied` is [`last_applied`] of every environment: an environment the agent has never
/// applied, while it has applied others, was added to the repository since — it is planned
/// from the newest commit applied anywhere (its services all deploy, as a new environment's
/// should). Only on first sight of a repository is the head adopted.
pub fn decide(env: &Environment, head: &str, applied: &BTreeMap<String, Applied>) -> Decision {
    if let Some(p) = &env.promotion {
        return Decision::WaitForTag {
            pattern: p.tag_pattern.clone(),
        };
    }
    match applied.get(&env.name) {
        Some(a) if a.commit == head => Decision::UpToDate,
        Some(a) => Decision::Apply {
            from: a.commit.clone(),
        },
        // Only when nothing was ever applied is the head adopted; an environment the agent
        // never finished applying (added later, or its first apply interrupted) is planned
        // from the newest commit applied anywhere — its services all deploy as new.
        None => match applied.values().max_by_key(|a| a.at) {
            None => Decision::Adopt,
            Some(newest) => Decision::ApplyNew {
                from: newest.commit.clone(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(env: &str, phase: Phase, outcome: Option<&str>, commit: &str, minute: u32) -> Record {
        use chrono::TimeZone;
        Record {
            at: Utc.with_ymd_and_hms(2026, 11, 25, 9, minute, 0).unwrap(),
            run: format!("{env}-apply-{commit}"),
            env: env.into(),
            service: None,
            step: STEP.into(),
            phase,
            outcome: outcome.map(String::from),
            detail: serde_json::json!({ "commit": commit }),
        }
    }

    #[test]
    fn the_newest_finished_apply_counts_and_interrupted_ones_do_not() {
        let records = vec![
            record("staging", Phase::Started, None, "aaa", 1),
            record("staging", Phase::Finished, Some("adopted"), "aaa", 1),
            record("staging", Phase::Started, None, "bbb", 2),
            record("staging", Phase::Finished, Some("failed"), "bbb", 3),
            record("staging", Phase::Started, None, "ccc", 4),
            record("staging", Phase::Finished, Some("interrupted"), "ccc", 5),
            record("staging", Phase::Started, None, "ddd", 6),
            record("production", Phase::Finished, Some("adopted"), "zzz", 1),
        ];
        let applied = last_applied(&records);
        assert_eq!(applied["staging"].commit, "bbb");
        assert_eq!(applied["staging"].outcome, "failed");
        assert_eq!(applied["production"].commit, "zzz");
        assert_eq!(applied.len(), 2);
    }

    #[test]
    fn decisions() {
        let model = crate::config::example();
        let staging = &model.environments["staging"];
        let production = &model.environments["production"];
        let at = |env: &str, c: &str| {
            BTreeMap::from([(
                env.to_string(),
                Applied {
                    commit: c.into(),
                    outcome: "succeeded".into(),
                    at: Utc::now(),
                },
            )])
        };
        assert_eq!(decide(staging, "h", &BTreeMap::new()), Decision::Adopt);
        assert_eq!(
            decide(staging, "h", &at("staging", "h")),
            Decision::UpToDate
        );
        assert_eq!(
            decide(staging, "h", &at("staging", "g")),
            Decision::Apply { from: "g".into() }
        );
        // Added to the repository after the agent started: planned as a new environment,
        // also when its first apply was interrupted at the head others already applied.
        assert_eq!(
            decide(staging, "h", &at("qa", "g")),
            Decision::ApplyNew { from: "g".into() }
        );
        assert_eq!(
            decide(staging, "h", &at("qa", "h")),
            Decision::ApplyNew { from: "h".into() }
        );
        assert!(matches!(
            decide(production, "h", &at("production", "g")),
            Decision::WaitForTag { .. }
        ));
    }
}
