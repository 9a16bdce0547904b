//! Retry with exponential backoff and jitter for throttling and transient failures. Never for
//! access denied, not found or invalid requests: those need a person.

use super::error::CloudError;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// AWS API errors by operation, every failed attempt counted, for this process. The cloud layer
/// must not know about metrics: `/metrics` reads this tally when it is scraped.
static ERRORS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// The error tally so far: operation → failed attempts.
pub fn error_counts() -> BTreeMap<String, u64> {
    ERRORS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn count_error(operation: &str) {
    *ERRORS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(operation.to_string())
        .or_default() += 1;
}

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempt` (1-based retry count): full jitter over an exponential
    /// ceiling, as AWS recommends.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max_delay);
        let fraction: f64 = rand::random_range(0.5..=1.0);
        ceiling.mul_f64(fraction)
    }

    /// Run `call` until it succeeds, fails with a non-retryable error, or attempts run out.
    pub async fn run<T, F, Fut>(&self, operation: &str, mut call: F) -> Result<T, CloudError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CloudError>>,
    {
        let mut attempt = 1;
        loop {
            let result = call().await;
            if result.is_err() {
                count_error(operation);
            }
            match result {
                Err(e) if e.is_retryable() && attempt < self.max_attempts => {
                    let delay = self.delay(attempt);
                    tracing::debug!(operation, attempt, ?delay, error = %e, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retries_throttling_then_succeeds() {
        let calls = AtomicU32::new(0);
        let result = RetryPolicy::default()
            .run("DescribeServices", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(CloudError::Throttled {
                        operation: "DescribeServices".into(),
                    })
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(result, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_access_denied() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = RetryPolicy::default()
            .run("UpdateService", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(CloudError::AccessDenied {
                    action: "ecs:UpdateService".into(),
                    resource: "svc".into(),
                })
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let result: Result<(), _> = policy
            .run("DescribeTargetHealth", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(CloudError::Throttled {
                    operation: "DescribeTargetHealth".into(),
                })
            })
            .await;
        assert!(matches!(result, Err(CloudError::Throttled { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
