//! Telling the pull requests about a manual rollback, succeeded or failed: a comment on each
//! pull request whose change was running when the rollback started (who, why, what was tried,
//! what runs now), and — when it failed — the environment's commit status `amagent/<env>` on
//! that change set to failure, so a failed rollback is as visible as a failed deploy.
//!
//! Which change: the commit the journal says deployed the revision each service ran
//! ([`running_commit`]); its pull requests: the ones the agent's `apply` record of that commit
//! names, else the reporter's look-up (GitHub's commit → pull requests).

use super::RollbackReport;
use super::choice::running_commit;
use crate::report::rollback::{marker, render_rollback};
use crate::report::{Reporter, Status};
use crate::stages::deploy::Outcome;
use crate::stages::deploy::rollout::short_td;
use crate::state::journal::{Phase, Record};

/// The commits whose change the rollback set out to undo: what each service ran when it
/// started, as the journal knows it. In the order of the services, without repeats.
pub fn undone_commits(report: &RollbackReport, records: &[Record]) -> Vec<String> {
    let mut commits: Vec<String> = Vec::new();
    for s in &report.services {
        let commit = s.pin.as_ref().and_then(|p| p.commit.clone()).or_else(|| {
            let from = s.from.as_deref()?;
            running_commit(records, &report.env, &s.service, from)
        });
        if let Some(c) = commit
            && !commits.contains(&c)
        {
            commits.push(c);
        }
    }
    commits
}

/// The pull requests the agent's `apply` records of `commit` in `env` name (what it commented
/// on when it deployed the commit).
pub fn journalled_pull_requests(records: &[Record], env: &str, commit: &str) -> Vec<u64> {
    let mut prs: Vec<u64> = records
        .iter()
        .filter(|r| r.env == env && r.step == crate::daemon::applied::STEP)
        .filter(|r| r.phase == Phase::Started && r.detail["commit"].as_str() == Some(commit))
        .filter_map(|r| r.detail["pull_requests"].as_array())
        .flatten()
        .filter_map(|n| n.as_u64())
        .collect();
    prs.sort_unstable();
    prs.dedup();
    prs
}

/// The status description of a failed rollback: what was tried and what runs now (GitHub
/// keeps 140 characters; the reporter shortens it).
pub fn failure_description(report: &RollbackReport) -> String {
    let failed: Vec<String> = report
        .services
        .iter()
        .filter(|s| s.outcome == Outcome::Failed)
        .map(|s| {
            format!(
                "{} → {} failed, runs {}",
                s.service,
                short_td(&s.to),
                s.running.as_deref().map(short_td).unwrap_or("unknown")
            )
        })
        .collect();
    format!("rollback by {} failed: {}", report.actor, failed.join("; "))
}

/// Comment on every pull request of an undone change and, if the rollback failed, set
/// `amagent/<env>` to failure on each such commit. Best effort: the rollback is done and
/// journalled either way, so a reporter error is logged, not returned.
pub async fn tell(reporter: &dyn Reporter, report: &RollbackReport, records: &[Record]) {
    let body = render_rollback(report);
    let marker = marker(&report.run);
    for commit in undone_commits(report, records) {
        let mut prs = journalled_pull_requests(records, &report.env, &commit);
        if prs.is_empty() {
            prs = reporter.pull_requests(&commit, "").await;
        }
        if prs.is_empty() {
            tracing::warn!(%commit, "no pull request known for the rolled-back change: nothing to comment on");
        }
        for pr in prs {
            if let Err(e) = reporter.upsert_comment(pr, &marker, &body).await {
                tracing::warn!(error = %e, pr, "cannot comment on the pull request");
            }
        }
        if report.outcome == Outcome::Failed {
            let description = failure_description(report);
            if let Err(e) = reporter
                .commit_status(&commit, &report.env, Status::Failure, &description)
                .await
            {
                tracing::warn!(error = %e, %commit, "cannot set the commit status");
            }
        }
    }
}
