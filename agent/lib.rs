//! amagent: a GitOps deployment agent for AWS ECS. See docs/architecture.md for the code map.

pub mod config;
pub mod plan;
