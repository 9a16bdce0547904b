//! The agent's own pace. AWS throttles each account per operation with token buckets; a
//! rollout of many services at once polls in step (they started together), so without a pace
//! 200 services ask for 200 target healths in the same second and most are throttled, then
//! retried seconds later — slower decisions. The pacer spreads a rollout's reads below the
//! buckets instead (leaky-bucket: tokio's clock, so the simulator's virtual time applies).
//!
//! The rates are below ECS's read buckets and ELBv2's Describe* bucket of 40 (its refill rate is
//! not published); an operation not listed here is not paced.

use leaky_bucket::RateLimiter;
use std::collections::BTreeMap;
use std::time::Duration;

/// (operation, calls at once, calls per second)
const READS: &[(&str, usize, usize)] = &[
    ("DescribeServices", 40, 18),
    ("DescribeTasks", 40, 18),
    ("ListTasks", 40, 18),
    ("DescribeTargetHealth", 30, 8),
    ("DescribeTargetGroups", 30, 8),
    ("DescribeTargetGroupAttributes", 30, 8),
];

pub struct Pacer {
    by_operation: BTreeMap<&'static str, RateLimiter>,
}

impl Pacer {
    /// The polling reads, paced as [`READS`] says.
    pub fn aws_reads() -> Self {
        let by_operation = READS
            .iter()
            .map(|(op, burst, per_second)| {
                let limiter = RateLimiter::builder()
                    .max(*burst)
                    .initial(*burst)
                    .refill(1)
                    .interval(Duration::from_secs(1) / *per_second as u32)
                    .build();
                (*op, limiter)
            })
            .collect();
        Pacer { by_operation }
    }

    /// Wait until a call of `operation` fits the pace.
    ///
    /// Only `try_acquire`, then a sleep: `acquire` makes the first waiter the limiter's *core*,
    /// and a core inside a future that is kept but not polled (the rollout loop holds a start
    /// while it polls) would block every later caller for good.
    pub async fn ready(&self, operation: &str) {
        if let Some(limiter) = self.by_operation.get(operation) {
            while !limiter.try_acquire(1) {
                tokio::time::sleep(limiter.interval()).await;
            }
        }
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::aws_reads()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_and_the_rest_at_the_rate() {
        let pacer = Pacer::aws_reads();
        let start = Instant::now();
        for _ in 0..30 {
            pacer.ready("DescribeTargetHealth").await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the burst is not held back"
        );
        for _ in 0..16 {
            pacer.ready("DescribeTargetHealth").await;
        }
        // Sixteen more at eight a second: two seconds.
        assert_eq!(start.elapsed().as_secs(), 2);
        let before = Instant::now();
        for _ in 0..100 {
            pacer.ready("UpdateService").await;
        }
        assert_eq!(
            before.elapsed(),
            Duration::ZERO,
            "unlisted operations are not paced"
        );
    }
}
