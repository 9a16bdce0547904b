//! Watching the environments repo: the webhook server (GitHub push / pull_request events,
//! HMAC-verified, de-duplicated) that wakes the agent, plus health and metrics endpoints.

pub mod queue;
pub mod serve;
pub mod webhook;
