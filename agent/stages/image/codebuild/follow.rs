//! Following a CodeBuild build to its end: a look every few seconds, each new phase told as
//! it begins, the build stopped when it outlives its timeout. What is news between two looks
//! is decided by a pure function.

use super::ledger::BuildLedger;
use crate::cloud::types::{BuildRun, BuildStatus};
use crate::cloud::{Builds, CloudError};
use std::time::Duration;

/// The first look, soon after StartBuild: a build that cannot start fails within seconds.
const FIRST_LOOK: Duration = Duration::from_secs(3);
/// Between looks. Phases last tens of seconds to minutes; a build's end is noticed within this.
const POLL: Duration = Duration::from_secs(10);
/// Consecutive failed looks (throttled, unavailable) tolerated before giving up on a build.
const FAILED_LOOKS: u32 = 6;
/// CodeBuild times a build out itself at its timeout; the agent stops it this long after,
/// should CodeBuild not have.
const TIMEOUT_SLACK: Duration = Duration::from_secs(300);

/// Lines for people: phases begun since `before`, and the end.
pub fn news(before: Option<&BuildRun>, now: &BuildRun) -> Vec<String> {
    let seen = before.map_or(0, |b| b.phases.len());
    let mut lines: Vec<String> = now
        .phases
        .iter()
        .skip(seen)
        .filter(|p| !matches!(p.phase.as_str(), "SUBMITTED" | "COMPLETED"))
        .map(|p| format!("codebuild: {}", p.phase.to_lowercase().replace('_', " ")))
        .collect();
    let was_done = before.is_some_and(|b| b.status.is_done());
    if now.status.is_done() && !was_done {
        lines.push(format!("codebuild: {}", ending(now)));
    }
    lines
}

/// How a build ended, with the phase that failed and why.
pub fn ending(run: &BuildRun) -> String {
    let failed = run
        .phases
        .iter()
        .find(|p| p.status.as_deref().is_some_and(|s| s != "SUCCEEDED"));
    match (run.status, failed) {
        (BuildStatus::Succeeded, _) => "build succeeded".into(),
        (status, Some(p)) => {
            let why = p.messages.join("; ");
            let status = status.as_str().to_lowercase().replace('_', " ");
            if why.is_empty() {
                format!("build {status} in phase {}", p.phase)
            } else {
                format!("build {status} in phase {}: {why}", p.phase)
            }
        }
        (status, None) => format!("build {}", status.as_str().to_lowercase().replace('_', " ")),
    }
}

/// Why following stopped without an ended build.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("cannot read CodeBuild build {id}: {source}")]
    Unreadable {
        id: String,
        #[source]
        source: CloudError,
    },
    #[error("CodeBuild build {id} is gone (BatchGetBuilds does not know it)")]
    Gone { id: String },
}

/// Look at `id` until it ends; stop it if it runs longer than `timeout` (plus slack) once out
/// of the queue (CodeBuild's own timeout, too, counts from there).
pub async fn follow(
    builds: &dyn Builds,
    id: &str,
    timeout: Duration,
    ledger: &dyn BuildLedger,
    clock: &crate::clock::Clock,
) -> Result<BuildRun, FollowError> {
    let mut running_since = None;
    let mut last: Option<BuildRun> = None;
    let mut failures = 0;
    let mut stop_sent = false;
    clock.sleep(FIRST_LOOK).await;
    loop {
        match builds.batch_get_builds(&[id.to_string()]).await {
            Ok(found) => {
                failures = 0;
                let Some(run) = found.into_iter().find(|b| b.id == id) else {
                    return Err(FollowError::Gone { id: id.into() });
                };
                for line in news(last.as_ref(), &run) {
                    ledger.phase(&line);
                }
                if run.status.is_done() {
                    return Ok(run);
                }
                if !matches!(run.current_phase.as_str(), "SUBMITTED" | "QUEUED") {
                    running_since.get_or_insert(clock.elapsed());
                }
                last = Some(run);
            }
            Err(e) if e.is_retryable() && failures < FAILED_LOOKS => {
                failures += 1;
                tracing::warn!(error = %e, build = id, "cannot read the build; looking again");
            }
            Err(source) => {
                return Err(FollowError::Unreadable {
                    id: id.into(),
                    source,
                });
            }
        }
        let overdue = running_since.is_some_and(|s| clock.elapsed() - s > timeout + TIMEOUT_SLACK);
        if !stop_sent && overdue {
            tracing::warn!(build = id, "the build outlived its timeout: stopping it");
            stop_sent = true;
            if let Err(e) = builds.stop_build(id).await {
                tracing::warn!(error = %e, build = id, "StopBuild failed");
            }
        }
        clock.sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::types::BuildPhase;

    fn phase(name: &str, status: Option<&str>) -> BuildPhase {
        BuildPhase {
            phase: name.into(),
            status: status.map(String::from),
            messages: Vec::new(),
            duration_seconds: None,
        }
    }

    fn run(status: BuildStatus, phases: Vec<BuildPhase>) -> BuildRun {
        BuildRun {
            id: "p:1".into(),
            status,
            current_phase: phases.last().map(|p| p.phase.clone()).unwrap_or_default(),
            phases,
            exported: Default::default(),
            log: None,
            started_at: None,
            ended_at: None,
        }
    }

    #[test]
    fn each_phase_is_told_once_as_it_begins() {
        let a = run(
            BuildStatus::InProgress,
            vec![phase("SUBMITTED", Some("SUCCEEDED")), phase("QUEUED", None)],
        );
        assert_eq!(news(None, &a), ["codebuild: queued"]);
        let b = run(
            BuildStatus::InProgress,
            vec![
                phase("SUBMITTED", Some("SUCCEEDED")),
                phase("QUEUED", Some("SUCCEEDED")),
                phase("PROVISIONING", Some("SUCCEEDED")),
                phase("DOWNLOAD_SOURCE", None),
            ],
        );
        assert_eq!(
            news(Some(&a), &b),
            ["codebuild: provisioning", "codebuild: download source"]
        );
        assert!(news(Some(&b), &b).is_empty());
    }

    #[test]
    fn a_failed_build_says_where_and_why() {
        let mut build = phase("BUILD", Some("FAILED"));
        build.messages = vec!["COMMAND_EXECUTION_ERROR: Error while executing command: docker buildx build …. Reason: exit status 1".into()];
        let done = run(
            BuildStatus::Failed,
            vec![
                phase("PRE_BUILD", Some("SUCCEEDED")),
                build,
                phase("COMPLETED", None),
            ],
        );
        let lines = news(None, &done);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(
            lines[2],
            "codebuild: build failed in phase BUILD: COMMAND_EXECUTION_ERROR: Error while executing command: docker buildx build …. Reason: exit status 1"
        );
        assert_eq!(
            news(Some(&done), &done),
            Vec::<String>::new(),
            "the end is told once"
        );
        assert_eq!(
            ending(&run(
                BuildStatus::TimedOut,
                vec![phase("BUILD", Some("TIMED_OUT"))]
            )),
            "build timed out in phase BUILD"
        );
    }
}
