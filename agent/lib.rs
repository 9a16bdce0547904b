//! amagent: a GitOps deployment agent for AWS ECS. See docs/architecture.md for the code map.
#![warn(clippy::too_many_lines)]

pub mod cli;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod drift;
pub mod executor;
pub mod init;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod plan;
pub mod repo;
pub mod report;
pub mod revert;
pub mod rollback;
pub mod sandbox;
pub mod secret;
pub mod stages;
pub mod state;
pub mod status;
pub mod ui;
pub mod watch;
