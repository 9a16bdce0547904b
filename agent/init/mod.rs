//! `amagent init`: adopt services that already run. The shell (`read.rs`) reads each live
//! service, the task definition it runs, its ECR images and target groups through the cloud
//! ports; the pure part (`adopt.rs`, with `image.rs` and `naming.rs`) turns those into the
//! environment spec that describes them as they run, and `yaml.rs` writes it as text with a
//! header saying what was generated and what to edit. Must not know: the deploy engine, git.

mod adopt;
mod image;
mod naming;
mod read;
mod yaml;

#[cfg(test)]
mod tests;

pub use adopt::{PLACEHOLDER, adopt};
pub use image::ImageRef;
pub use read::read;
pub use yaml::{environment_yaml, pipeline_yaml};

use crate::cloud::CloudError;
use crate::cloud::types::{EcsService, ImageDetail, TargetGroup, TaskDefinition};
use crate::config::{Environment, Pipeline};

/// What to adopt, from the command line.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub env: String,
    pub region: String,
    pub cluster: String,
    /// ECS service names.
    pub services: Vec<String>,
    /// `--container`: which container is the service's own when several run ECR images.
    pub containers: Vec<String>,
    /// Pipelines the repository has already (one named like a service is used for it).
    pub pipelines: Vec<String>,
}

/// One service as it runs, with what init read about it.
#[derive(Clone, Debug)]
pub struct LiveService {
    pub service: EcsService,
    pub grace_period: Option<u32>,
    pub task_definition: TaskDefinition,
    /// The container running an image from this account's ECR, and that image.
    pub container: String,
    pub image: ImageRef,
    /// The images of that ECR repository (for the running image's tags).
    pub images: Vec<ImageDetail>,
    /// The target groups the service registers that container in, in the service's order.
    pub target_groups: Vec<TargetGroup>,
}

/// What init writes.
#[derive(Clone, Debug)]
pub struct Adopted {
    pub environment: Environment,
    /// Stubs for services no existing pipeline fits.
    pub pipelines: Vec<Pipeline>,
    /// Per service, what the header says about it.
    pub notes: Vec<ServiceNote>,
}

/// What the spec does not hold but a reader should know, per service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceNote {
    pub service: String,
    /// The image running now, by digest when known.
    pub image: String,
    /// The tag written as `source.ref` (None: a placeholder was written).
    pub tag: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("no service {service} in cluster {cluster}")]
    NoService { cluster: String, service: String },
    #[error(
        "{service}: no container of {task_definition} runs an image from this account's ECR ({registry}); its containers: {containers}"
    )]
    NoEcrContainer {
        service: String,
        task_definition: String,
        registry: String,
        containers: String,
    },
    #[error(
        "{service}: several containers of {task_definition} run images from this account's ECR ({candidates}); say which is the service's own with --container NAME"
    )]
    SeveralEcrContainers {
        service: String,
        task_definition: String,
        candidates: String,
    },
    #[error(
        "{service}: {task_definition} sets no task-level cpu and memory; amagent manages both — set them in the task definition first"
    )]
    NoTaskSize {
        service: String,
        task_definition: String,
    },
    #[error(
        "{service}: container {container} sets `{variable}` in plain text and it looks like a credential; move it to SSM Parameter Store or Secrets Manager (`secrets`) before adopting — init does not write credentials into a file"
    )]
    CredentialInEnvironment {
        service: String,
        container: String,
        variable: String,
    },
    #[error(
        "{service}: secret `{variable}` reads {reference}, an SSM parameter of another account or region; the spec names parameters of its own account and region"
    )]
    ForeignSecret {
        service: String,
        variable: String,
        reference: String,
    },
    #[error(
        "cannot write one `ssm.naming` for these services: {detail}; amagent takes one SSM naming convention per environment — rename the parameters, or adopt the services into separate environments"
    )]
    Naming { detail: String },
    #[error("{detail}")]
    Unreadable { detail: String },
    #[error("{what}: {source}")]
    Cloud {
        what: String,
        #[source]
        source: CloudError,
    },
}
