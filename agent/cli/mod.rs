//! The command line: clap definitions, dispatch, and output in text or JSON. Commands are thin:
//! they call `config`, `repo` and `plan` and print what those return.

mod args;
mod build_cmd;
mod demo_cmd;
mod deploy_cmd;
mod diff_cmd;
mod doctor_cmd;
mod exit;
mod history_cmd;
mod journal_cmd;
mod lease_guard;
mod lifecycle_cmd;
mod plan_cmd;
mod progress;
mod rollback_cmd;
mod run_cmd;
mod sim_cmd;
mod status_cmd;
mod validate_cmd;

pub use deploy_cmd::exit_for as deploy_exit;
pub use exit::Exit;

use crate::logging::{self, LogFormat};
pub use args::Command;
use clap::{Parser, ValueEnum};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable.
    Text,
    /// One JSON document on stdout, for scripts.
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "amagent",
    version,
    about = "GitOps deployment agent for AWS ECS",
    long_about = "GitOps deployment agent for AWS ECS.\n\n\
        Keep environments/<env>.yaml (which source revision of each service runs where, and how)\n\
        and pipelines/<name>.yaml (how to build it) in a git repository. amagent validates them,\n\
        plans what a change means (build, RDS snapshot, deploy, ECR lifecycle) and runs it.",
    after_help = "Examples:\n  \
        amagent demo                          the whole product on the simulator, in four acts\n  \
        amagent validate                      check ./environments and ./pipelines\n  \
        amagent validate path/to/envrepo      check another checkout\n  \
        amagent plan                          what the last commit changes\n  \
        amagent plan --from v1.2.0 --to main  what main changes since a tag\n  \
        amagent --output json plan            the same, for scripts\n  \
        amagent deploy --env staging --service api --image v1.4.0 --sim healthy\n  \
        amagent history --env staging         what was deployed, and how it went\n  \
        amagent status --env staging          what runs now, from where, pinned or not\n  \
        amagent rollback --env staging --service api --reason \"500s\"\n  \
        amagent run --repo URL --listen 0.0.0.0:8080   the agent: deploy on merge, report to PRs\n  \
        amagent promote --repo URL --tag v1.4.0        staging's verified digests to production\n\n\
        Exit codes: 0 ok, 1 failed (invalid configuration found, deploy failed), 2 usage or\n\
        configuration error, 3 refused (git repository, cloud), 4 file error\n\
        (docs/operations.md)."
)]
pub struct Cli {
    /// Output format for results (logs always go to stderr).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// More logging: -v info, -vv debug, -vvv trace. RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Parse the command line, run the command, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.log_format);
    let exit = run(cli);
    if crate::output::stdout_lost() {
        crate::errln!(
            "amagent: standard output was closed early; the command ran to its end (exit {})",
            exit as u8
        );
    }
    exit.into()
}

pub fn run(mut cli: Cli) -> Exit {
    simulated_journal_default(&mut cli.command);
    match cli.command {
        Command::Demo { keep } => demo_cmd::run(keep.as_deref(), cli.output),
        Command::Validate { dir } => validate_cmd::run(&dir, cli.output),
        Command::Plan { from, to, repo } => plan_cmd::run(&repo, from.as_deref(), &to, cli.output),
        Command::Deploy {
            env,
            service,
            image,
            cache,
            sim,
            region,
            dir,
            journal,
            force,
        } => deploy_cmd::run(
            deploy_cmd::DeployArgs {
                dir: &dir,
                env: &env,
                service: &service,
                image: image.as_deref(),
                cache: cache.as_deref(),
                sim: sim.as_deref(),
                region: region.as_deref(),
                journal: &journal,
                force,
            },
            cli.output,
        ),
        Command::Lifecycle {
            env,
            dry_run,
            sim,
            region,
            dir,
            journal,
            force,
        } => lifecycle_cmd::run(
            &dir,
            &env,
            dry_run,
            (sim.as_deref(), region.as_deref()),
            (&journal, force),
            cli.output,
        ),
        Command::Build {
            env,
            service,
            sim,
            dir,
            cache,
        } => build_cmd::run(
            &dir,
            &env,
            &service,
            sim.as_deref(),
            cache.as_deref(),
            cli.output,
        ),
        Command::Doctor {
            env,
            region,
            sim,
            dir,
        } => doctor_cmd::run(&dir, &env, region.as_deref(), sim.as_deref(), cli.output),
        Command::Run {
            repo,
            branch,
            sim,
            listen,
            poll_interval,
            once,
            shutdown_grace,
            mirror,
            cache,
            journal,
            region,
            builder,
            lease_ttl,
        } => run_cmd::run(
            run_cmd::RunArgs {
                repo,
                branch,
                sim,
                listen,
                poll_interval: std::time::Duration::from_secs(poll_interval.max(1)),
                once,
                shutdown_grace: std::time::Duration::from_secs(shutdown_grace),
                mirror,
                cache,
                journal,
                region,
                builder,
                promote: None,
                allow_downgrade: false,
                lease_ttl: std::time::Duration::from_secs(lease_ttl.max(3)),
            },
            cli.output,
        ),
        Command::Promote {
            tag,
            commit,
            allow_downgrade,
            repo,
            branch,
            sim,
            cache,
            journal,
            region,
        } => run_cmd::run(
            run_cmd::RunArgs {
                repo,
                branch,
                sim,
                listen: None,
                poll_interval: std::time::Duration::from_secs(30),
                once: true,
                shutdown_grace: std::time::Duration::from_secs(90),
                mirror: None,
                cache,
                journal,
                region,
                builder: None,
                promote: Some((tag, commit)),
                allow_downgrade,
                lease_ttl: std::time::Duration::from_secs(60),
            },
            cli.output,
        ),
        Command::Journal(args) => journal_cmd::run(args, cli.output),
        Command::History {
            env,
            service,
            outcome,
            since,
            limit,
            region,
            journal,
            simulated,
        } => history_cmd::run(
            (&journal, simulated),
            region.as_deref(),
            history_cmd::Filters {
                env: env.as_deref(),
                service: service.as_deref(),
                outcome: outcome.as_deref(),
                since,
                limit,
            },
            cli.output,
        ),
        Command::Rollback {
            env,
            service,
            to,
            steps,
            reason,
            actor,
            sim,
            region,
            dir,
            journal,
            force,
        } => rollback_cmd::run(
            rollback_cmd::RollbackArgs {
                dir: &dir,
                env: &env,
                service: service.as_deref(),
                to: to.as_deref(),
                steps: steps.map(|s| s as usize),
                sim: sim.as_deref(),
                region: region.as_deref(),
                journal: &journal,
                reason: reason.as_deref(),
                actor: actor.as_deref(),
                force,
            },
            cli.output,
        ),
        Command::Resume {
            env,
            service,
            actor,
            region,
            dir,
            journal,
            simulated,
        } => rollback_cmd::resume(
            rollback_cmd::ResumeArgs {
                dir: &dir,
                env: &env,
                service: service.as_deref(),
                region: region.as_deref(),
                journal: &journal,
                simulated,
                actor: actor.as_deref(),
            },
            cli.output,
        ),
        Command::Diff {
            env,
            services,
            exit_code,
            sim,
            region,
            dir,
        } => diff_cmd::run(
            diff_cmd::DiffArgs {
                dir: &dir,
                env: &env,
                services: &services,
                sim: sim.as_deref(),
                region: region.as_deref(),
                exit_code,
            },
            cli.output,
        ),
        Command::Status {
            env,
            sim,
            region,
            dir,
            journal,
        } => status_cmd::run(
            status_cmd::StatusArgs {
                dir: &dir,
                env: env.as_deref(),
                sim: sim.as_deref(),
                region: region.as_deref(),
                journal: &journal,
            },
            cli.output,
        ),
    }
}

/// Simulated runs keep their own journal: under `--sim` (or `--simulated`) the default
/// journal is the simulator's (journal::realm); an explicit one is checked when opened.
fn simulated_journal_default(command: &mut Command) {
    let (simulated, journal) = match command {
        Command::Deploy { sim, journal, .. }
        | Command::Lifecycle { sim, journal, .. }
        | Command::Rollback { sim, journal, .. }
        | Command::Status { sim, journal, .. }
        | Command::Run { sim, journal, .. }
        | Command::Promote { sim, journal, .. } => (sim.is_some(), journal),
        Command::History {
            simulated, journal, ..
        }
        | Command::Resume {
            simulated, journal, ..
        } => (*simulated, journal),
        _ => return,
    };
    *journal = crate::state::journal::realm::spec_for(journal, simulated);
}

/// Print `value` as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(value: &T) {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("plain data serializes")
    );
}

/// An error for a person, on stderr, in the chosen format.
fn print_error(output: OutputFormat, kind: &str, message: &str) {
    match output {
        OutputFormat::Text => {
            crate::errln!("error: {}", crate::config::printable::for_terminal(message))
        }
        OutputFormat::Json => print_json(&serde_json::json!({
            "error": { "kind": kind, "message": message }
        })),
    }
}
