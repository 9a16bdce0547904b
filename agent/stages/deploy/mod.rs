//! Deploying services: render the task definition, update the service, gate the rollout on the
//! new tasks' health, and roll back to the last verified revision on failure.

pub mod gate;
pub mod pre_deploy;
pub mod progress;
pub mod render;
pub mod rollout;
pub mod write_ahead;

pub use progress::{Progress, Silent};
pub use rollout::{DeployResult, FailureKind, Outcome, Rollout, Target};
