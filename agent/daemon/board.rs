//! Publishing what runs to the status page's `Board` after a look: what ECS runs per service
//! (`status::status`, one environment at a time, in its own account) joined with the journal.
//! Only after a look that changed something, or when the last snapshot is older than
//! [`REFRESH`] — not at every poll, which would triple the agent's AWS calls.

use super::{Agent, TickReport};
use crate::cloud::retry::RetryPolicy;
use crate::repo::remote_url::{RemoteUrl, Transport};
use crate::report::github::owner_repo_from_url;
use crate::ui::{EnvSnapshot, ServiceSnapshot, Snapshot};
use std::time::Duration;

/// A snapshot older than this is taken again at the next look, changed or not (manual
/// rollbacks happen outside the agent's looks). Not more often: a snapshot reads the whole
/// journal again (with an S3 journal, one GET per record).
pub const REFRESH: Duration = Duration::from_secs(300);

impl Agent {
    /// Give the status page a new snapshot when `tick` changed something or the last is old.
    pub async fn publish(&mut self, tick: &TickReport) {
        let Some(board) = self.board.clone() else {
            return;
        };
        let changed = !tick.applied.is_empty() || !tick.adopted.is_empty();
        let fresh = self
            .board_published
            .is_some_and(|at| at.elapsed() < REFRESH);
        if fresh && !changed {
            return;
        }
        match self.snapshot(&tick.head).await {
            Ok(snapshot) => {
                board.publish(snapshot);
                self.board_published = Some(tokio::time::Instant::now());
            }
            Err(e) => {
                tracing::warn!(error = %e, "status page: cannot take a snapshot; keeping the last")
            }
        }
    }

    async fn snapshot(&self, head: &str) -> Result<Snapshot, super::AgentError> {
        let model = match &self.repo {
            Some(repo) => repo.model_at(head)?,
            None => return Ok(Snapshot::default()),
        };
        let records = self.all_records().await?;
        let mut environments = Vec::new();
        for env in model.environments.values() {
            let cloud = self.cloud_for(env).await;
            let statuses =
                crate::status::status(&cloud, RetryPolicy::default(), env, &records).await;
            let (services, error) = match statuses {
                Ok(s) => (s, None),
                Err(e) => (Vec::new(), Some(format!("ECS: {e}"))),
            };
            environments.push(EnvSnapshot {
                name: env.name.clone(),
                promoted_from: env.promotion.as_ref().map(|p| p.from.clone()),
                services: services
                    .into_iter()
                    .map(|status| {
                        let spec = env.services.iter().find(|s| s.name == status.service);
                        ServiceSnapshot {
                            source_url: spec.map(|s| s.source.url.clone()).unwrap_or_default(),
                            source_ref: spec
                                .map(|s| s.source.reference.clone())
                                .unwrap_or_default(),
                            status,
                        }
                    })
                    .collect(),
                error,
            });
        }
        Ok(Snapshot {
            at: self.clock.now(),
            head: head.to_string(),
            github: web_url(&self.settings.url),
            environments,
            records,
        })
    }
}

/// `https://host/owner/repo` of a repository on GitHub (or GitHub Enterprise): where its pull
/// requests and commits are seen. None for local paths.
fn web_url(url: &str) -> Option<String> {
    let remote = RemoteUrl::parse(url);
    if remote.transport == Transport::Local {
        return None;
    }
    let (owner, repo) = owner_repo_from_url(url)?;
    Some(format!("https://{}/{owner}/{repo}", remote.host?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_go_to_the_repository_on_its_host() {
        assert_eq!(
            super::web_url("https://github.com/aussie-markets/environments.git").as_deref(),
            Some("https://github.com/aussie-markets/environments")
        );
        assert_eq!(
            super::web_url("git@ghe.example.com:ops/envs.git").as_deref(),
            Some("https://ghe.example.com/ops/envs")
        );
        assert_eq!(super::web_url("/srv/git/envs.git"), None);
    }
}
