//! The agent's durable state and who may change it: the journal (every run, step and pin,
//! locally or in S3), the lease (one active agent per environments repository) and the fence
//! (an agent that may have lost its lease changes nothing in AWS).

pub mod fence;
pub mod inbox;
pub mod journal;
pub mod lease;
