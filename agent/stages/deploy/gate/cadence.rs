//! When to look again. A rollout's state changes at moments the agent can foresee: a new
//! target's first health check (one interval after it registers), the earliest it can turn
//! unhealthy (interval × unhealthy threshold), the end of its grace period, the bake's end, the
//! old targets' drain (the deregistration delay after the new ones are healthy), the timeout.
//! The agent looks every [`MAX_POLL`] in a window around each such moment, and sparsely between
//! them — the waiter ecspresso uses polls every 15 s throughout and decides up to 15 s late;
//! polling every 2 s throughout costs ~175 DescribeServices through a 300 s drain.
//!
//! Pure: every choice below is a unit test.

use super::MAX_POLL;
use std::time::Duration;

/// What the service's target groups say about timing (the longest of its groups).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollTiming {
    /// From a task RUNNING to its target's first health check: one interval.
    pub first_check: Duration,
    /// From a task RUNNING to the earliest its target can be unhealthy: interval × threshold.
    pub unhealthy_after: Duration,
    /// The deregistration delay: old tasks drain this long after the new ones are healthy.
    pub drain: Duration,
}

/// The longest wait between two looks while nothing is expected: a task can still exit
/// unannounced (a crash mid-bake or mid-drain is seen at most this late).
pub const SPARSE_POLL: Duration = Duration::from_secs(30);
/// While a new task has yet to reach RUNNING (image pull, start): its start time is unknown.
pub const PENDING_POLL: Duration = Duration::from_secs(5);
/// Dense polling starts this long before a foreseen moment (clocks and registration lag)…
pub const DENSE_LEAD: Duration = Duration::from_secs(4);
/// …and goes on this long after it, while what it should bring has not shown yet.
pub const DENSE_LAG: Duration = Duration::from_secs(20);
/// Never look again sooner than this.
const MIN_POLL: Duration = Duration::from_millis(100);

/// Where the rollout stands, as the gate saw it at `elapsed` (times since the rollout began).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moments {
    pub elapsed: Duration,
    /// A new task has yet to reach RUNNING.
    pub pending: bool,
    /// When each new task not yet healthy was first seen RUNNING.
    pub unhealthy_running_since: Vec<Duration>,
    /// The grace period (health checks ignored this long after RUNNING).
    pub grace: Duration,
    /// When every new task was first seen healthy (the bake began)…
    pub healthy_since: Option<Duration>,
    /// …and the look before, when they were not yet: they turned healthy in between (the
    /// old targets began to drain then). Paced reads can make that span long.
    pub not_yet_healthy_at: Option<Duration>,
    pub bake_end: Option<Duration>,
    /// Old tasks are still draining.
    pub old_remaining: bool,
    pub timeout: Duration,
}

/// The first look after UpdateService: ECS has yet to start anything before then. Without
/// timing, at once (as before).
pub fn first_look(timing: Option<&PollTiming>) -> Duration {
    match timing {
        Some(_) => PENDING_POLL,
        None => Duration::ZERO,
    }
}

/// How long to wait before the next look. Without `timing` (no load balancer, or it could not
/// be read) every look is [`MAX_POLL`] apart, as before the agent knew better.
pub fn next_poll(timing: Option<&PollTiming>, m: &Moments) -> Duration {
    let foreseen = match timing {
        Some(t) => foreseen(t, m),
        None => return dense(m),
    };
    let in_window =
        |(from, to): &Span| m.elapsed + DENSE_LEAD >= *from && m.elapsed <= *to + DENSE_LAG;
    if foreseen.iter().any(in_window) {
        return dense(m);
    }
    // The next window's start, no later than the sparse bound (or the pending one).
    let bound = if m.pending { PENDING_POLL } else { SPARSE_POLL };
    let until_window = foreseen
        .iter()
        .filter(|(from, _)| *from > m.elapsed + DENSE_LEAD)
        .map(|(from, _)| *from - DENSE_LEAD - m.elapsed)
        .min()
        .unwrap_or(bound);
    until_window
        .min(bound)
        .min(until(m.timeout, m))
        .max(MIN_POLL)
}

/// From when to when something is expected to change (a moment is a span of none).
type Span = (Duration, Duration);

/// The spans something is expected to change in.
fn foreseen(t: &PollTiming, m: &Moments) -> Vec<Span> {
    let mut at: Vec<Span> = vec![(m.timeout, m.timeout)];
    // A bake end already passed brought its verdict at that look; nothing to wait for.
    at.extend(m.bake_end.filter(|end| *end > m.elapsed).map(|e| (e, e)));
    for since in &m.unhealthy_running_since {
        let first = *since + t.first_check;
        let unhealthy = *since + t.unhealthy_after.max(t.first_check);
        at.extend([(first, first), (unhealthy, unhealthy)]);
        if !m.grace.is_zero() {
            at.push((*since + m.grace, *since + m.grace));
        }
    }
    if let Some(healthy) = m.healthy_since.filter(|_| m.old_remaining) {
        let earliest = m.not_yet_healthy_at.unwrap_or(healthy).min(healthy);
        at.push((earliest + t.drain, healthy + t.drain));
    }
    at
}

/// MAX_POLL, but never past the bake's end or the timeout.
fn dense(m: &Moments) -> Duration {
    let mut wait = MAX_POLL;
    if let Some(end) = m.bake_end.filter(|end| *end > m.elapsed) {
        wait = wait.min(end - m.elapsed);
    }
    wait.min(until(m.timeout, m)).max(MIN_POLL)
}

fn until(at: Duration, m: &Moments) -> Duration {
    at.saturating_sub(m.elapsed)
}

#[cfg(test)]
mod tests;
