//! Time for the agent: calendar time for records and names, and sleeping between polls.
//!
//! Built on tokio's clock, so the same code runs on real time in production and on virtual
//! time under the simulator (a runtime started with paused time auto-advances whenever every
//! task is waiting: a 15-minute rollout takes milliseconds, deterministically).

use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Clock {
    /// Calendar time at `origin`.
    epoch: DateTime<Utc>,
    origin: tokio::time::Instant,
}

impl Clock {
    /// Real calendar time.
    pub fn system() -> Self {
        Clock {
            epoch: Utc::now(),
            origin: tokio::time::Instant::now(),
        }
    }

    /// A clock that reads `epoch` now (for the simulator and tests: reproducible timestamps).
    pub fn starting_at(epoch: DateTime<Utc>) -> Self {
        Clock {
            epoch,
            origin: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.origin;
        self.epoch + chrono::Duration::from_std(elapsed).unwrap_or(chrono::TimeDelta::MAX)
    }

    /// Time since this clock started.
    pub fn elapsed(&self) -> Duration {
        tokio::time::Instant::now() - self.origin
    }

    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}
