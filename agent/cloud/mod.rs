//! The cloud behind ports: one small trait per AWS service (`ports`), the shapes they exchange
//! (`types`), typed errors (`error`), and retries for the errors that allow them (`retry`).
//! Adapters live in submodules: `sim` (in-process simulator on virtual time).
//! Must not know: configuration files, plans, GitHub.

pub mod aws;
mod build_types;
pub mod error;
pub mod operations;
pub mod pace;
pub mod ports;
pub mod retry;
pub mod sim;
pub mod types;

pub use error::{CloudError, ResourceKind};
pub use ports::*;

use std::sync::Arc;

/// Every port the agent uses, for one AWS account and region.
#[derive(Clone)]
pub struct Cloud {
    pub ecs: Arc<dyn Ecs>,
    pub elb: Arc<dyn LoadBalancing>,
    pub rds: Arc<dyn Rds>,
    pub ecr: Arc<dyn Registry>,
    pub s3: Arc<dyn ObjectStore>,
    pub ssm: Arc<dyn Parameters>,
    pub logs: Arc<dyn Logs>,
    pub alarms: Arc<dyn Alarms>,
    pub builds: Arc<dyn Builds>,
}
