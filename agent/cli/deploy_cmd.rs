//! `amagent deploy --env E --service S --image REF [--sim SCENARIO]`: snapshot (per policy),
//! deploy gated on health with automatic rollback, lifecycle — for one service.

use super::progress::ConsoleProgress;
use super::sim_cmd::{Session, load_environment, open_journal, runtime, scenario};
use super::{Exit, OutputFormat, print_error, print_json};
use crate::config::{Environment, Service};
use crate::executor::{self, Context, EnvReport, EnvRun};
use crate::stages::deploy::{FailureKind, Outcome, rollout::short_td};
use std::collections::BTreeMap;
use std::path::Path;

pub struct DeployArgs<'a> {
    pub dir: &'a Path,
    pub env: &'a str,
    pub service: &'a str,
    /// None: build and push the spec's source first.
    pub image: Option<&'a str>,
    pub cache: Option<&'a Path>,
    pub sim: Option<&'a str>,
    pub region: Option<&'a str>,
    pub journal: &'a str,
    /// Act even while an agent holds the lease on the journal (journalled).
    pub force: bool,
    /// Deploy a known-bad image all the same.
    pub allow_bad: bool,
}

pub fn run(args: DeployArgs<'_>, output: OutputFormat) -> Exit {
    match deploy(&args, output) {
        Ok(exit) | Err(exit) => exit,
    }
}

/// The whole command; `Err` carries the exit code of an error already printed.
fn deploy(args: &DeployArgs<'_>, output: OutputFormat) -> Result<Exit, Exit> {
    let (_, env) = load_environment(args.dir, args.env, output)?;
    let spec = service_spec(&env, args.service, output)?;
    let faults = scenario(args.sim, output)?;
    let simulated = faults.is_some();
    // Real time for AWS and for building; the simulated rollout then runs on virtual time.
    let real_time = runtime(false);
    let session = real_time.block_on(Session::open(&env, faults, args.region));
    let journal = open_journal(args.journal, &session).map_err(|e| {
        print_error(output, "usage", &e.to_string());
        Exit::Usage
    })?;
    let who = (&session.clock, env.name.as_str(), "deploy");
    let leased = super::lease_guard::refuse_if_leased(
        args.journal,
        &session.cloud.s3,
        journal.as_ref(),
        who,
        args.force,
        output,
    );
    real_time.block_on(leased)?;
    let image = real_time.block_on(image_for(args, &session, &spec, output))?;
    let rollout_time = if simulated { runtime(true) } else { real_time };
    Ok(rollout_time.block_on(async {
        let progress = ConsoleProgress::new(session.clock.clone());
        let ctx = Context {
            allow_bad: args.allow_bad,
            ..Context::new(&session.cloud, &session.clock, journal.as_ref(), &progress)
        };
        let tag = args.image.unwrap_or(&spec.source.reference);
        let plan = crate::plan::manual_deploy(&env, &spec, tag);
        if let Some(sandbox) = &session.sandbox {
            sandbox.sim.reset_calls();
        }
        let report = executor::execute(
            &ctx,
            EnvRun {
                env: &env,
                plan: &plan,
                images: BTreeMap::from([(spec.name.clone(), image)]),
                commit: None,
                lifecycle_dry_run: false,
                resume_since: None,
            },
        )
        .await;
        print_report(&report, &spec.name, output, &session.calls());
        exit_for(&report)
    }))
}

/// The service called `name` in `env`, or a usage error listing the services.
pub(super) fn service_spec(
    env: &Environment,
    name: &str,
    output: OutputFormat,
) -> Result<Service, Exit> {
    env.service(name).cloned().ok_or_else(|| {
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

/// The image to deploy: `--image` resolved in the registry, else the spec's source built and
/// pushed.
async fn image_for(
    args: &DeployArgs<'_>,
    session: &Session,
    spec: &Service,
    output: OutputFormat,
) -> Result<String, Exit> {
    if let Some(image) = args.image {
        return session.resolve_image(spec, image).await.map_err(|e| {
            print_error(output, "usage", &e);
            Exit::Usage
        });
    }
    let (model, _) = load_environment(args.dir, args.env, output)?;
    let cache = args
        .cache
        .map(Path::to_path_buf)
        .unwrap_or_else(super::build_cmd::default_cache);
    super::build_cmd::build_image(session, &model, spec, &cache)
        .await
        .map(|built| built.image)
        .map_err(|e| {
            print_error(output, "build", &e.to_string());
            super::build_cmd::exit_for(&e)
        })
}

/// The exit code a deploy report means (docs/operations.md).
pub fn exit_for(report: &EnvReport) -> Exit {
    match (report.outcome, report.worst_failure()) {
        (Outcome::Succeeded, _) => Exit::Ok,
        (Outcome::Failed, Some(FailureKind::Journal)) => Exit::Io,
        (Outcome::Failed, Some(FailureKind::Refused)) => Exit::Refused,
        (Outcome::Failed, Some(FailureKind::Config)) => Exit::Usage,
        (Outcome::Failed, _) => Exit::Failed,
    }
}

fn print_report(
    report: &EnvReport,
    service: &str,
    output: OutputFormat,
    calls: &BTreeMap<String, u64>,
) {
    let deploy = report.deploys.iter().find(|d| d.service == service);
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "outcome": report.outcome,
            "rolled_back": deploy.map(|d| d.rolled_back).unwrap_or(false),
            "reason": deploy.and_then(|d| d.reason.clone()).or(report.snapshot_error.clone()),
            "task_definition": deploy.and_then(|d| d.task_definition.clone()),
            "image": deploy.map(|d| d.image.clone()),
            "env": report.env,
            "service": service,
            "run": report.run,
            "deploy": deploy,
            "snapshot": report.snapshot,
            "lifecycle": report.lifecycle,
            "aws_calls": calls,
        })),
        OutputFormat::Text => {
            super::progress::close_line();
            crate::outln!("{} — run {}", report.env, report.run);
            if let Some(s) = &report.snapshot {
                crate::outln!(
                    "  snapshot   {} (available after {:.0} s)",
                    s.snapshot_id,
                    s.seconds
                );
            }
            if let Some(e) = &report.snapshot_error {
                crate::outln!("  snapshot   FAILED: {e}");
            }
            for d in &report.deploys {
                let running = d.task_definition.as_deref().map(short_td).unwrap_or("?");
                match (d.outcome, d.rolled_back) {
                    // Nothing rolled: the service already ran this image and configuration.
                    (Outcome::Succeeded, _) if d.new_task_definition.is_none() => {
                        crate::outln!("  {:<10} already up to date: {running}", d.service)
                    }
                    (Outcome::Succeeded, _) => crate::outln!(
                        "  {:<10} deployed and verified: {running} ({})",
                        d.service,
                        minutes(d.seconds)
                    ),
                    (Outcome::Failed, true) => crate::outln!(
                        "  {:<10} FAILED, rolled back to {running}: {}",
                        d.service,
                        d.reason.as_deref().unwrap_or("")
                    ),
                    (Outcome::Failed, false) => crate::outln!(
                        "  {:<10} FAILED (not rolled back; running {running}): {}",
                        d.service,
                        d.reason.as_deref().unwrap_or("")
                    ),
                }
                print_pre_deploy_log(d);
            }
            for l in &report.lifecycle {
                let protected = l
                    .keep
                    .iter()
                    .filter(|k| k.reason.starts_with("protected"))
                    .count();
                match &l.error {
                    Some(e) => crate::outln!("  lifecycle  {}: FAILED: {e}", l.repository),
                    None => crate::outln!(
                        "  lifecycle  {}: expired {} image(s), kept {} ({protected} protected: running or rollback target)",
                        l.repository,
                        l.deleted.len(),
                        l.keep.len()
                    ),
                }
            }
        }
    }
}

fn minutes(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}m{:02}s", s / 60, s % 60)
}

/// A failed pre-deploy task's log tail, under its deploy's line.
fn print_pre_deploy_log(d: &crate::stages::deploy::DeployResult) {
    let Some(pre) = d.pre_deploy.as_ref().filter(|p| !p.verdict.passed) else {
        return;
    };
    match &pre.log_tail {
        None => crate::outln!("             pre-deploy task log not available"),
        Some(lines) => {
            crate::outln!(
                "             pre-deploy task log, last {} line(s):",
                lines.len()
            );
            for line in lines {
                crate::outln!("               {line}");
            }
        }
    }
}
