//! Shared by the commands that act on AWS: loading the environment, choosing the simulator,
//! and running async code on the right runtime.

use super::{Exit, OutputFormat, print_error};
use crate::cloud::sim::FaultScript;
use crate::config::suggest::did_you_mean;
use crate::config::{self, Environment, Model};
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

/// The fault script for `--sim`; without `--sim` there is no cloud yet.
pub fn scenario(
    sim: Option<&str>,
    command: &str,
    output: OutputFormat,
) -> Result<FaultScript, Exit> {
    let Some(name) = sim else {
        print_error(
            output,
            "usage",
            &format!(
                "`amagent {command}` needs --sim SCENARIO for now: the AWS SDK adapters are not built yet. \
                 Scenarios: {} or a fault-script file",
                crate::cloud::sim::faults::BUILTIN.join(", ")
            ),
        );
        return Err(Exit::Usage);
    };
    FaultScript::load(name).map_err(|e| {
        print_error(output, "usage", &format!("--sim {name}: {e}"));
        Exit::Usage
    })
}

/// A runtime on virtual time: tokio auto-advances its paused clock whenever every task waits,
/// so simulated rollouts of many minutes take milliseconds.
pub fn simulated_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}
