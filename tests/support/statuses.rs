//! A reporter that records the commit statuses the agent sets (and nothing else), for tests
//! that drive `daemon::Agent` in process.

use amagent::report::{ReportError, Reporter, Status};
use std::sync::Mutex;

#[derive(Default)]
pub struct Statuses(pub Mutex<Vec<(String, Status, String)>>);

#[async_trait::async_trait]
impl Reporter for Statuses {
    async fn pull_requests(&self, _: &str, _: &str) -> Vec<u64> {
        Vec::new()
    }
    async fn upsert_comment(&self, _: u64, _: &str, _: &str) -> Result<(), ReportError> {
        Ok(())
    }
    async fn commit_status(
        &self,
        _: &str,
        env: &str,
        state: Status,
        description: &str,
    ) -> Result<(), ReportError> {
        let mut all = self.0.lock().unwrap();
        all.push((env.into(), state, description.into()));
        Ok(())
    }
}

impl Statuses {
    /// (state, description) of the statuses set under `amagent/<context>`.
    pub fn of(&self, context: &str) -> Vec<(Status, String)> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|(c, _, _)| c == context)
            .map(|(_, s, d)| (*s, d.clone()))
            .collect()
    }
}
