//! CodeBuild in the simulator. PLACEHOLDER: the helper `cbsim` replaces this file.

use crate::cloud::CloudError;
use crate::cloud::ports::{Builds, CloudResult};
use crate::cloud::types::*;
use async_trait::async_trait;

pub struct SimBuilds(pub(super) super::Simulator);

fn todo(op: &str) -> CloudError {
    CloudError::invalid(op, "not implemented yet")
}

#[async_trait]
impl Builds for SimBuilds {
    async fn project(&self, _name: &str) -> CloudResult<Option<BuildProject>> {
        let _ = &self.0;
        Err(todo("BatchGetProjects"))
    }
    async fn create_project(&self, _p: &NewBuildProject) -> CloudResult<BuildProject> {
        Err(todo("CreateProject"))
    }
    async fn start_build(&self, _r: &StartBuild) -> CloudResult<BuildRun> {
        Err(todo("StartBuild"))
    }
    async fn batch_get_builds(&self, _ids: &[String]) -> CloudResult<Vec<BuildRun>> {
        Err(todo("BatchGetBuilds"))
    }
    async fn stop_build(&self, _id: &str) -> CloudResult<BuildRun> {
        Err(todo("StopBuild"))
    }
}

impl super::Simulator {
    /// PLACEHOLDER until the simulator's CodeBuild lands.
    pub fn add_build_project(&self, _name: &str) {}
}
