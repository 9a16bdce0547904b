//! A journal that kills its agent: once armed, it never returns from the start record of
//! `step` (the agent's work is dropped mid-flight, as a killed process's would be). Crash tests.

use amagent::state::journal::{Journal, JournalError, Phase, Record};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

pub struct DiesAt {
    pub inner: Arc<dyn Journal>,
    pub step: &'static str,
    /// Notified when the agent "dies".
    pub died: Arc<Notify>,
    pub armed: AtomicBool,
}

impl DiesAt {
    /// Disarmed: journals normally until [`DiesAt::arm`].
    pub fn new(inner: Arc<dyn Journal>, step: &'static str) -> Arc<DiesAt> {
        Arc::new(DiesAt {
            inner,
            step,
            died: Arc::new(Notify::new()),
            armed: AtomicBool::new(false),
        })
    }

    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl Journal for DiesAt {
    async fn append(&self, record: &Record) -> Result<(), JournalError> {
        self.inner.append(record).await?;
        if self.armed.load(Ordering::SeqCst)
            && record.step == self.step
            && record.phase == Phase::Started
        {
            self.died.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn read(&self, env: Option<&str>) -> Result<Vec<Record>, JournalError> {
        self.inner.read(env).await
    }
}
