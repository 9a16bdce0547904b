//! AWS's request throttling, modelled: a token bucket per operation (per simulated world, as
//! AWS keeps one per account and region). A call takes a token; an empty bucket answers
//! ThrottlingException; tokens come back at the sustained rate up to the burst.
//!
//! The figures of [`aws_read_limits`] are a model, not AWS's quotas: ECS documents its
//! throttling as token buckets per action group (request-throttling in the ECS API reference)
//! and quotas differ by account; ELBv2's Describe* bucket of 40 is from aws-behaviour.md, its
//! refill rate was not found. They are deliberately low, so that "not throttled here" means
//! headroom.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    pub operation: String,
    /// Bucket size: calls allowed at once.
    pub burst: u32,
    /// Tokens added per second (the sustained rate).
    pub per_second: f64,
}

impl RateLimit {
    pub fn new(operation: &str, burst: u32, per_second: f64) -> Self {
        RateLimit {
            operation: operation.into(),
            burst,
            per_second,
        }
    }
}

/// The reads a rollout polls with: ECS's at 50 at once and 20 a second, ELBv2's at 40 and 10.
pub fn aws_read_limits() -> Vec<RateLimit> {
    vec![
        RateLimit::new("DescribeServices", 50, 20.0),
        RateLimit::new("DescribeTasks", 50, 20.0),
        RateLimit::new("ListTasks", 50, 20.0),
        RateLimit::new("DescribeTargetHealth", 40, 10.0),
        RateLimit::new("DescribeTargetGroups", 40, 10.0),
        RateLimit::new("DescribeTargetGroupAttributes", 40, 10.0),
    ]
}

/// Each limited operation's bucket: tokens left, and when it was last filled (seconds).
#[derive(Debug, Default)]
pub(super) struct Buckets {
    by_operation: BTreeMap<String, (f64, f64)>,
}

impl Buckets {
    /// Take a token for a call of `operation` at `now` (seconds); false: throttled.
    pub fn take(&mut self, limits: &[RateLimit], operation: &str, now: f64) -> bool {
        let Some(limit) = limits.iter().find(|l| l.operation == operation) else {
            return true;
        };
        let burst = f64::from(limit.burst);
        let (tokens, at) = self
            .by_operation
            .entry(operation.to_string())
            .or_insert((burst, now));
        *tokens = (*tokens + (now - *at).max(0.0) * limit.per_second).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_empties_the_bucket_and_the_rate_refills_it() {
        let limits = [RateLimit::new("DescribeTargetHealth", 3, 2.0)];
        let mut b = Buckets::default();
        let taken: Vec<bool> = (0..4)
            .map(|_| b.take(&limits, "DescribeTargetHealth", 10.0))
            .collect();
        assert_eq!(taken, [true, true, true, false]);
        // Half a second later one token is back, not two.
        assert!(b.take(&limits, "DescribeTargetHealth", 10.5));
        assert!(!b.take(&limits, "DescribeTargetHealth", 10.5));
        // Operations without a limit are never throttled.
        assert!((0..100).all(|_| b.take(&limits, "UpdateService", 10.5)));
    }
}
