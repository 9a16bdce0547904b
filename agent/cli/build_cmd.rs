//! `amagent build --env E --service S [--sim SCENARIO]`: the build and push stages alone, to
//! debug a pipeline without deploying. Prints the image reference with its digest.

use super::sim_cmd::{Session, load_environment, runtime, scenario};
use super::{Exit, OutputFormat, print_error, print_json};
use crate::config::{Environment, Model, Service};
use crate::repo::GitCredentials;
use crate::stages::image::{self, ImageError, ImageRequest, ImageResult};
use std::path::{Path, PathBuf};

/// Where source mirrors are cached: `AMAGENT_CACHE`, else `$HOME/.cache/amagent`.
pub fn default_cache() -> PathBuf {
    std::env::var_os("AMAGENT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir)
                .join(".cache/amagent")
        })
}

/// Build and push `spec`'s image; in a simulated session the image is also recorded in the
/// simulated ECR, as a push to ECR would be.
pub async fn build_image(
    session: &Session,
    model: &Model,
    spec: &Service,
    cache: &Path,
) -> Result<ImageResult, ImageError> {
    let pipeline = model
        .pipelines
        .get(&spec.pipeline)
        .expect("validated: the pipeline exists");
    let result = image::build_and_push(
        &session.cloud,
        &ImageRequest {
            service: spec,
            pipeline,
            cache,
            credentials: &GitCredentials::from_env(),
            builder: None,
            now: session.clock.now(),
            ledger: &crate::stages::image::codebuild::ledger::NoLedger,
            clock: &session.clock,
        },
    )
    .await?;
    if let Some(sandbox) = &session.sandbox {
        let tags: Vec<&str> = result.tags.iter().map(String::as_str).collect();
        sandbox.sim.push_image(
            &spec.image.repository,
            &result.digest,
            &tags,
            session.clock.now(),
        );
    }
    Ok(result)
}

pub fn exit_for(e: &ImageError) -> Exit {
    match e {
        ImageError::Push(crate::stages::image::push::PushError::Unauthorized { .. }) => {
            Exit::Refused
        }
        ImageError::Cloud(
            crate::cloud::CloudError::AccessDenied { .. }
            | crate::cloud::CloudError::NotFound { .. },
        ) => Exit::Refused,
        ImageError::Source(_) => Exit::Refused,
        ImageError::Build(crate::stages::image::builder::BuildError::NoBuilder) => Exit::Usage,
        _ => Exit::Failed,
    }
}

pub fn find_service<'a>(
    env: &'a Environment,
    name: &str,
    output: OutputFormat,
) -> Result<&'a Service, Exit> {
    env.service(name).ok_or_else(|| {
        let names: Vec<&str> = env.services.iter().map(|s| s.name.as_str()).collect();
        print_error(
            output,
            "usage",
            &format!(
                "environment {} has no service `{name}` (services: {})",
                env.name,
                names.join(", ")
            ),
        );
        Exit::Usage
    })
}

pub fn run(
    dir: &Path,
    env_name: &str,
    service: &str,
    sim: Option<&str>,
    cache: Option<&Path>,
    output: OutputFormat,
) -> Exit {
    let (model, env) = match load_environment(dir, env_name, output) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let spec = match find_service(&env, service, output) {
        Ok(s) => s.clone(),
        Err(code) => return code,
    };
    let faults = match scenario(sim, output) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let cache = cache.map(Path::to_path_buf).unwrap_or_else(default_cache);
    runtime(false).block_on(async {
        // Builds take real time: the simulated account runs on the real clock here.
        let session = Session::open(&env, faults, None).await;
        match build_image(&session, &model, &spec, &cache).await {
            Ok(result) => {
                match output {
                    OutputFormat::Json => print_json(&result),
                    OutputFormat::Text => {
                        let what = if result.built {
                            format!(
                                "built and pushed ({} blob(s) uploaded, {} already there)",
                                result.blobs_pushed, result.blobs_skipped
                            )
                        } else {
                            "already in the registry: not rebuilt".to_string()
                        };
                        crate::outln!(
                            "{}\n  {what} in {:.1} s; tags: {}",
                            result.image,
                            result.seconds,
                            result.tags.join(", ")
                        );
                    }
                }
                Exit::Ok
            }
            Err(e) => {
                print_error(output, "build", &e.to_string());
                exit_for(&e)
            }
        }
    })
}
