//! `amagent init --env NAME --region R --cluster C --service S …`: adopt services that already
//! run — read them (AWS, or `--sim`: the simulated account shaped like the environments already
//! in `--dir`) and write `environments/NAME.yaml` and pipeline stubs. Refuses to overwrite a
//! file without `--force`.

use super::sim_cmd::{runtime, scenario};
use super::{Exit, OutputFormat, print_error, print_json};
use crate::cloud::aws::{Aws, Target};
use crate::config::{self, Environment};
use crate::init::{self, Adopted, InitError, Request};
use crate::sandbox::Sandbox;
use clap::Args;
use std::path::Path;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    amagent init --env staging --region ap-southeast-2 --cluster aussie-markets-staging \\\n      \
    --service aussie-markets-api-staging\n  \
    amagent init --env qa --region eu-west-1 --cluster qa --service api --service web --container app\n\n\
    Writes environments/NAME.yaml (and pipelines/<service>.yaml where no pipeline of that name\n\
    exists) describing the services as they run: review source.url/source.ref (placeholders)\n\
    and ecr.lifecycle, then `amagent validate` and `amagent doctor --env NAME`.\n\n\
    Exit codes: 0 written and valid, 1 written but `validate` finds problems (listed), 2 a file\n\
    exists (use --force) or the services cannot be described as one environment (the error says\n\
    why), 3 AWS refused or a service was not found, 4 a file could not be written.")]
pub struct InitArgs {
    /// The environment's name (the file is environments/NAME.yaml).
    #[arg(long)]
    env: String,
    /// The AWS region the services run in (written as the spec's `aws.region`).
    #[arg(long)]
    region: String,
    /// The ECS cluster.
    #[arg(long)]
    cluster: String,
    /// An ECS service to adopt (repeat for several).
    #[arg(long = "service", value_name = "SERVICE", required = true)]
    services: Vec<String>,
    /// The service's own container, when several containers run images from this account's ECR
    /// (repeat for several services).
    #[arg(long = "container", value_name = "NAME")]
    containers: Vec<String>,
    /// The environments repo checkout to write into.
    #[command(flatten)]
    repo: super::args::DirArg,
    /// Overwrite files that exist.
    #[arg(long)]
    force: bool,
    /// Read the simulated account shaped like the environments already in --dir.
    #[arg(long, value_name = "SCENARIO")]
    sim: Option<String>,
}

pub fn run(args: InitArgs, output: OutputFormat) -> Exit {
    let env_file = args
        .repo
        .dir
        .join("environments")
        .join(format!("{}.yaml", args.env));
    if env_file.exists() && !args.force {
        print_error(
            output,
            "exists",
            &format!(
                "{} exists; init does not overwrite it without --force",
                env_file.display()
            ),
        );
        return Exit::Usage;
    }
    let faults = match scenario(args.sim.as_deref(), output) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let request = Request {
        env: args.env.clone(),
        region: args.region.clone(),
        cluster: args.cluster.clone(),
        services: args.services.clone(),
        containers: args.containers.clone(),
        pipelines: pipeline_names(&args.repo.dir),
    };
    let simulated = faults.is_some();
    let adopted = runtime(simulated).block_on(async {
        let cloud = match faults {
            Some(faults) => {
                let envs = environments(&args.repo.dir);
                Sandbox::for_environments(&envs, faults, chrono::Utc::now())
                    .sim
                    .cloud()
            }
            None => {
                Aws::connect(Target {
                    // Not known before reading; init uses no ARN built from it.
                    account: String::new(),
                    region: args.region.clone(),
                })
                .await
                .cloud()
            }
        };
        let live = init::read(&cloud, &request).await?;
        init::adopt(&request, &live)
    });
    let adopted = match adopted {
        Ok(a) => a,
        Err(e) => {
            let code = match e {
                InitError::NoService { .. } | InitError::Cloud { .. } => Exit::Refused,
                _ => Exit::Usage,
            };
            print_error(output, "init", &e.to_string());
            return code;
        }
    };
    let written = match write(&args.repo.dir, &request, &adopted, &env_file) {
        Ok(w) => w,
        Err(e) => {
            print_error(output, "io", &e);
            return Exit::Io;
        }
    };
    report(&args.repo.dir, &args.env, &adopted, &written, output)
}

/// The stems of pipelines/*.yaml (pipelines that exist are used, not written).
fn pipeline_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("pipelines")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            if path.extension()? != "yaml" {
                return None;
            }
            Some(path.file_stem()?.to_string_lossy().into_owned())
        })
        .collect()
}

/// The environments in `dir` (the simulated account's shape); none when there are none.
fn environments(dir: &Path) -> Vec<Environment> {
    config::load_dir(dir)
        .map(|m| m.environments.into_values().collect())
        .unwrap_or_default()
}

fn write(
    dir: &Path,
    request: &Request,
    adopted: &Adopted,
    env_file: &Path,
) -> Result<Vec<String>, String> {
    let mut files = vec![(
        env_file.to_path_buf(),
        init::environment_yaml(request, adopted),
    )];
    for p in &adopted.pipelines {
        files.push((
            dir.join("pipelines").join(format!("{}.yaml", p.name)),
            init::pipeline_yaml(p),
        ));
    }
    let mut written = Vec::new();
    for (path, text) in files {
        let parent = path.parent().expect("under dir");
        std::fs::create_dir_all(parent)
            .and_then(|_| std::fs::write(&path, text))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(
            path.strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string(),
        );
    }
    Ok(written)
}

/// What was written, and whether the repository validates with it.
fn report(
    dir: &Path,
    env: &str,
    adopted: &Adopted,
    written: &[String],
    output: OutputFormat,
) -> Exit {
    let problems = match config::load_dir(dir) {
        Ok(_) => None,
        Err(config::LoadDirError::Invalid(d)) => Some(d),
        Err(e) => {
            print_error(output, "io", &e.to_string());
            return Exit::Io;
        }
    };
    let services: Vec<&str> = adopted
        .environment
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "env": env,
            "written": written,
            "services": services,
            "valid": problems.is_none(),
            "diagnostics": problems,
        })),
        OutputFormat::Text => {
            for file in written {
                crate::outln!("wrote {file}");
            }
            crate::outln!(
                "adopted {} service(s) as {}: {}",
                services.len(),
                env,
                services.join(", ")
            );
            match &problems {
                None => crate::outln!(
                    "next: edit source.url and source.ref (placeholders: {}), review ecr.lifecycle, then `amagent doctor --env {env}`",
                    init::PLACEHOLDER
                ),
                Some(d) => crate::outln!("but `amagent validate` finds problems:\n{d}"),
            }
        }
    }
    if problems.is_some() {
        Exit::Failed
    } else {
        Exit::Ok
    }
}
