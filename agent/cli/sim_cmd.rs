//! Shared by the commands that act on AWS: loading the environment, choosing the simulator,
//! and running async code on the right runtime.

use super::{Exit, OutputFormat, print_error};
use crate::clock::Clock;
use crate::cloud::Cloud;
use crate::cloud::aws::Aws;
use crate::cloud::sim::FaultScript;
use crate::config::suggest::did_you_mean;
use crate::config::{self, Environment, Model, Service};
use crate::sandbox::Sandbox;
use crate::state::journal::{self, Journal, JournalError, Location};
use std::path::Path;

/// The model at `dir` and the environment called `name`, or a printed error and exit 2.
pub fn load_environment(
    dir: &Path,
    name: &str,
    output: OutputFormat,
) -> Result<(Model, Environment), Exit> {
    let model = match config::load_dir(dir) {
        Ok(m) => m,
        Err(config::LoadDirError::Invalid(d)) => {
            print_error(
                output,
                "invalid-config",
                &format!("the configuration in {} is invalid:\n{d}", dir.display()),
            );
            return Err(Exit::Usage);
        }
        Err(e) => {
            print_error(output, "io", &e.to_string());
            return Err(Exit::Io);
        }
    };
    match model.environments.get(name) {
        Some(env) => Ok((model.clone(), env.clone())),
        None => {
            let names: Vec<&str> = model.environments.keys().map(String::as_str).collect();
            let hint = did_you_mean(name, &names)
                .map(|n| format!(" — did you mean `{n}`?"))
                .unwrap_or_else(|| format!(" (environments: {})", names.join(", ")));
            print_error(
                output,
                "usage",
                &format!(
                    "no environment `{name}` in {}/environments{hint}",
                    dir.display()
                ),
            );
            Err(Exit::Usage)
        }
    }
}

/// The fault script for `--sim`, or None: talk to AWS (refused, exit 3, without credentials).
pub fn scenario(sim: Option<&str>, output: OutputFormat) -> Result<Option<FaultScript>, Exit> {
    let Some(name) = sim else {
        return require_aws_credentials(output).map(|()| None);
    };
    // Every simulated run says so, whatever it prints after (stdout stays the result).
    crate::errln!(
        "simulated: AWS is the in-process simulator (scenario {name}); nothing in any real \
         account changes"
    );
    FaultScript::load(name).map(Some).map_err(|e| {
        print_error(
            output,
            "usage",
            &format!(
                "--sim {name}: {e} (scenarios: {}, or a fault-script file)",
                crate::cloud::sim::faults::BUILTIN.join(", ")
            ),
        );
        Exit::Usage
    })
}

/// One clear line before any AWS call when the standard credential chain finds nothing — each
/// call would otherwise fail on its own with the SDK's "dispatch failure".
fn require_aws_credentials(output: OutputFormat) -> Result<(), Exit> {
    use aws_config::default_provider::credentials::DefaultCredentialsChain;
    use aws_sdk_sts::config::ProvideCredentials;
    use aws_sdk_sts::error::DisplayErrorContext;
    let found = runtime(false).block_on(async {
        let chain = DefaultCredentialsChain::builder().build().await;
        chain.provide_credentials().await.map(drop)
    });
    let Err(e) = found else {
        return Ok(());
    };
    print_error(
        output,
        "credentials",
        &format!(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
             AWS_PROFILE (a profile in ~/.aws/config), or run with an ECS task role or EC2 \
             instance role; or use --sim SCENARIO to run on the simulator (the credential \
             chain said: {})",
            DisplayErrorContext(&e)
        ),
    );
    Err(Exit::Refused)
}

/// The runtime for a command: virtual time for the simulator (tokio auto-advances its paused
/// clock whenever every task waits, so simulated rollouts of many minutes take milliseconds),
/// real time for AWS.
pub fn runtime(simulated: bool) -> tokio::runtime::Runtime {
    if simulated {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    }
    .expect("a tokio runtime builds")
}

/// The journal `--journal` names, on the session's S3 for an `s3://` one. On the simulator the
/// bucket is created in the simulated account (so that journal lasts only this process).
pub fn open_journal(spec: &str, session: &Session) -> Result<Box<dyn Journal>, JournalError> {
    let location = Location::parse(spec)?;
    journal::realm::claim(&location, session.sandbox.is_some())?;
    if let (Some(sandbox), Location::S3 { bucket, .. }) = (&session.sandbox, location) {
        sandbox.sim.add_bucket(&bucket);
    }
    journal::open(spec, &session.cloud.s3)
}

/// The cloud a command acts on: the simulated account shaped like the environment, or AWS
/// through the standard credential chain (AWS_ENDPOINT_URL honoured).
pub struct Session {
    pub cloud: Cloud,
    pub clock: Clock,
    pub sandbox: Option<Sandbox>,
}

impl Session {
    /// Must run inside the runtime from [`runtime`].
    pub async fn open(
        env: &Environment,
        faults: Option<FaultScript>,
        region: Option<&str>,
    ) -> Session {
        match faults {
            Some(faults) => {
                let sandbox = Sandbox::for_environment_at(env, faults, chrono::Utc::now());
                Session {
                    cloud: sandbox.sim.cloud_in(&env.aws.account_id),
                    clock: sandbox.clock.clone(),
                    sandbox: Some(sandbox),
                }
            }
            None => {
                let aws = Aws::connect_with(
                    crate::daemon::accounts::target_of(env, region),
                    crate::cloud::aws::Options {
                        assume_role: crate::daemon::accounts::assume_role_of(env),
                        ..Default::default()
                    },
                )
                .await;
                Session {
                    cloud: aws.cloud(),
                    clock: Clock::system(),
                    sandbox: None,
                }
            }
        }
    }

    /// The full image reference for `--image`: a full reference as is; a digest or tag looked
    /// up in the service's ECR repository (deploys always pin the digest).
    pub async fn resolve_image(&self, service: &Service, image: &str) -> Result<String, String> {
        if let Some(sandbox) = &self.sandbox {
            return sandbox.resolve_image(service, image);
        }
        if image.contains('/') {
            return Ok(image.to_string());
        }
        let repository = &service.image.repository;
        let images = self
            .cloud
            .ecr
            .describe_images(repository)
            .await
            .map_err(|e| e.to_string())?;
        let found = images
            .iter()
            .find(|i| i.digest == image || i.tags.iter().any(|t| t == image))
            .ok_or_else(|| {
                format!("ECR repository {repository} has no image `{image}` (push it first)")
            })?;
        Ok(format!(
            "{}/{repository}@{}",
            self.cloud.ecr.registry_host(),
            found.digest
        ))
    }

    /// Calls made, by operation (the simulator counts them; AWS does not tell).
    pub fn calls(&self) -> std::collections::BTreeMap<String, u64> {
        self.sandbox
            .as_ref()
            .map(|s| s.sim.calls())
            .unwrap_or_default()
    }
}
