//! ECS: task definitions, services with rolling deployments and the circuit breaker, tasks
//! with their lifecycle, and the ALB targets they register (health checks live here too:
//! ECS stops a task whose target turns unhealthy, so the two move together).

mod health;
mod requests;
mod scheduler;
mod task_definitions;
mod tasks;
mod views;

pub use requests::SimEcs;

pub(super) const CIRCUIT_BREAKER_REASON: &str =
    "ECS deployment circuit breaker: tasks failed to start.";
pub(super) const CRASH_REASON: &str = "Essential container in task exited";

/// Circuit breaker threshold: half the desired count rounded up, clamped to [minimum, 200].
pub(super) fn circuit_breaker_threshold(desired: u32, minimum: u32) -> u32 {
    desired.div_ceil(2).max(minimum).min(200.max(minimum))
}

/// The last path segment of an ARN (or the name itself).
pub(super) fn short(name_or_arn: &str) -> &str {
    if name_or_arn.starts_with("arn:") {
        name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
    } else {
        name_or_arn
    }
}

/// What happened to a task during a step, applied to its service afterwards.
pub(super) enum Outcome {
    Failed,
    Healthy,
}
