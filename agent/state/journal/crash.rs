//! Fault injection for crash tests on the simulator: a journal that kills the process right
//! after it has durably recorded the start of one step — the worst moment for an agent to die
//! (the step may or may not have acted). Only `--sim` runs use it (`killAgentAt` in a fault
//! script).

use super::{Journal, JournalError, Phase, Record};
use async_trait::async_trait;
use std::sync::Arc;

pub struct CrashAfter {
    pub inner: Arc<dyn Journal>,
    pub step: String,
}

#[async_trait]
impl Journal for CrashAfter {
    async fn append(&self, record: &Record) -> Result<(), JournalError> {
        self.inner.append(record).await?;
        if record.step == self.step && record.phase == Phase::Started {
            crate::errln!(
                "amagent: simulated crash after journalling the start of `{}` (killAgentAt)",
                self.step
            );
            // No destructors, no flushing: as close to SIGKILL as a process can do to itself.
            std::process::abort();
        }
        Ok(())
    }

    async fn read(&self, env: Option<&str>) -> Result<Vec<Record>, JournalError> {
        self.inner.read(env).await
    }
}
