//! Opening a pull request (a revert of a rolled-back change). Retried like every call: should
//! an attempt have landed although its answer was lost, GitHub answers the next with 422
//! ("A pull request already exists"), and the open one for the branch is the answer.

use super::GitHub;
use crate::report::ReportError;

impl GitHub {
    pub(super) async fn create_pull_request(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<u64, ReportError> {
        let pulls = self.crab.pulls(&self.owner, &self.repo);
        let operation = format!("open a pull request from {head} into {base}");
        let created = self
            .retrying(&operation, || {
                pulls.create(title, head, base).body(body).send()
            })
            .await;
        match created {
            Ok(pr) => Ok(pr.number),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code == 422 => self
                .open_pull_request_from(head)
                .await?
                .ok_or_else(|| ReportError::GitHub {
                    operation,
                    message: format!("{} (HTTP 422)", source.message),
                }),
            Err(e) => Err(self.error(&operation, &e)),
        }
    }

    /// The open pull request from branch `head` of this repository, if any.
    async fn open_pull_request_from(&self, head: &str) -> Result<Option<u64>, ReportError> {
        let pulls = self.crab.pulls(&self.owner, &self.repo);
        let operation = format!("find the pull request from {head}");
        let page = self
            .retrying(&operation, || {
                pulls
                    .list()
                    .head(format!("{}:{head}", self.owner))
                    .state(octocrab::params::State::Open)
                    .send()
            })
            .await
            .map_err(|e| self.error(&operation, &e))?;
        Ok(page.items.first().map(|p| p.number))
    }
}
