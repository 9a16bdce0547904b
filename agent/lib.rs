//! amagent: a GitOps deployment agent for AWS ECS. See docs/architecture.md for the code map.

pub mod cli;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod logging;
pub mod plan;
pub mod repo;
pub mod secret;
