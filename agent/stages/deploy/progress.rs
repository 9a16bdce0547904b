//! Where rollout progress goes: the console (plain lines or indicatif bars, chosen by the CLI),
//! the status page's live feed, or nowhere (tests). The engine only calls this trait.

use super::gate::{Gate, Observation};
use crate::cloud::types::TargetState;
use serde::Serialize;

/// Receives progress as it happens. Messages never contain secrets.
pub trait Progress: Send + Sync {
    /// A step of `service` in `env` started or changed.
    fn step(&self, env: &str, service: &str, message: &str);
    /// `service` is done; `message` is the verdict line.
    fn done(&self, env: &str, service: &str, succeeded: bool, message: &str);
    /// What one poll of a rollout saw. Called at every poll, so the console ignores it (its
    /// `step` lines say the changes); the status page shows the counts live.
    fn rollout(&self, _env: &str, _service: &str, _view: &RolloutView) {}
}

/// One poll of a rollout in numbers: what the status page shows while it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RolloutView {
    /// `rolling` (the new revision) or `rolling back`.
    pub stage: String,
    /// Seconds since UpdateService.
    pub elapsed_seconds: u64,
    /// The tasks ECS wants of the new (or rollback) revision.
    pub desired: u32,
    /// Its tasks RUNNING now.
    pub new_running: u32,
    /// Its tasks RUNNING with every target healthy and no unhealthy container.
    pub new_healthy: u32,
    /// Tasks of older revisions not stopped yet.
    pub old_remaining: u32,
    /// Targets of the new tasks registered in the service's target groups, and how many of them
    /// are healthy.
    pub targets: u32,
    pub targets_healthy: u32,
    /// Seconds of bake left once every new task is healthy (None before; 0 when baked).
    pub bake_left_seconds: Option<u64>,
}

impl RolloutView {
    /// The numbers of `obs` as the `gate` judged it (call after `gate.observe(obs)`).
    pub fn of(rolling_back: bool, obs: &Observation, gate: &Gate) -> RolloutView {
        let running: Vec<_> = obs
            .new_tasks
            .iter()
            .filter(|t| t.last_status == "RUNNING")
            .collect();
        let healthy_target = |s: &Option<TargetState>| *s == Some(TargetState::Healthy);
        let targets = || running.iter().flat_map(|t| t.targets.iter());
        RolloutView {
            stage: if rolling_back {
                "rolling back"
            } else {
                "rolling"
            }
            .into(),
            elapsed_seconds: obs.elapsed.as_secs(),
            desired: obs.deployment.as_ref().map_or(0, |d| d.desired_count),
            new_running: count(running.len()),
            new_healthy: count(
                running
                    .iter()
                    .filter(|t| t.targets.iter().all(|g| healthy_target(&g.state)))
                    .filter(|t| t.health_status.as_deref() != Some("UNHEALTHY"))
                    .count(),
            ),
            old_remaining: obs.old_tasks_remaining,
            targets: count(targets().filter(|g| g.state.is_some()).count()),
            targets_healthy: count(targets().filter(|g| healthy_target(&g.state)).count()),
            bake_left_seconds: gate.bake_left(obs.elapsed).map(|d| d.as_secs()),
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Discards progress.
pub struct Silent;

impl Progress for Silent {
    fn step(&self, _: &str, _: &str, _: &str) {}
    fn done(&self, _: &str, _: &str, _: bool, _: &str) {}
}
