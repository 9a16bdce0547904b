//! What the agent tells people: invalid configuration, pull-request comments and commit
//! statuses, and an apply interrupted by a stop.

use super::*;

impl Agent {
    pub(super) async fn report_invalid(
        &mut self,
        head: &str,
        problems: &str,
    ) -> Result<(), AgentError> {
        if self.reported_invalid.as_deref() == Some(head) {
            return Ok(());
        }
        self.reported_invalid = Some(head.to_string());
        tracing::error!(commit = %head, "the configuration at the head is invalid; nothing deployed:\n{problems}");
        let repo = self.repo.as_ref().expect("fetched");
        let message = repo
            .commits_between(&format!("{head}~1"), head)
            .ok()
            .and_then(|c| c.into_iter().next())
            .map(|c| c.message)
            .unwrap_or_default();
        let body = preview::render_preview(&format!("{head}~1"), head, Err(problems));
        for pr in self.reporter.pull_requests(head, &message).await {
            if let Err(e) = self
                .reporter
                .upsert_comment(pr, preview::MARKER, &body)
                .await
            {
                tracing::warn!(error = %e, pr, "cannot report to the pull request");
            }
        }
        // `amagent/config`: no environment can be named while the configuration is invalid.
        self.status(
            &[head.to_string()],
            "config",
            Status::Failure,
            "invalid configuration: nothing deployed",
        )
        .await;
        Ok(())
    }

    /// Pull requests of the landed commits, each once, in landing order.
    pub(super) async fn pull_requests(&self, landed: &[CommitInfo]) -> Vec<u64> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for c in landed {
            for pr in self.reporter.pull_requests(&c.id, &c.message).await {
                if seen.insert(pr) {
                    out.push(pr);
                }
            }
        }
        out
    }

    pub(super) async fn comment(&self, pull_requests: &[u64], env: &str, body: &str) {
        for &pr in pull_requests {
            if let Err(e) = self
                .reporter
                .upsert_comment(pr, &report::marker(env), body)
                .await
            {
                tracing::warn!(error = %e, pr, "cannot update the pull request comment");
            }
        }
    }

    pub(super) async fn status(
        &self,
        commits: &[String],
        env: &str,
        state: Status,
        description: &str,
    ) {
        for sha in commits {
            if let Err(e) = self
                .reporter
                .commit_status(sha, env, state, description)
                .await
            {
                tracing::warn!(error = %e, commit = %sha, "cannot set the commit status");
            }
        }
    }

    /// The agent was stopped while applying: record it (the next start applies the commit
    /// again) and say so where people look.
    pub async fn interrupted(&mut self) {
        let Some(f) = self.in_flight.take() else {
            return;
        };
        tracing::warn!(env = %f.env, commit = %f.commit, "stopped while applying; the next start resumes");
        self.stop_running_builds().await;
        self.record(
            &f.env,
            &f.run,
            Phase::Finished,
            Some(outcome::INTERRUPTED),
            serde_json::json!({ "commit": f.commit }),
        )
        .await;
        let body = format!(
            "{}\n### ⏸ **{}**: interrupted\n\nThe agent was stopped while applying `{}`; it resumes when it starts again.\n",
            report::marker(&f.env),
            f.env,
            &f.commit[..7]
        );
        self.comment(&f.pull_requests, &f.env, &body).await;
        let stopped = "interrupted: the agent was stopped; it resumes when it starts again";
        self.deployment_status(
            f.deployment.as_ref(),
            crate::report::DeploymentState::Error,
            stopped,
        )
        .await;
    }
}
