//! The stages one run performs on a service, in order: build and push its image, snapshot its
//! database when policy says so, deploy (register, roll, gate, roll back), and apply the ECR
//! lifecycle. Each stage talks to AWS only through `crate::cloud`; the executor sequences them.

pub mod deploy;
pub mod image;
pub mod lifecycle;
pub mod snapshot;
