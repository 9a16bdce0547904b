//! The command line: clap definitions, dispatch, and output in text or JSON. Commands are thin:
//! they call `config`, `repo` and `plan` and print what those return.

mod approve_cmd;
mod args;
mod args_journal;
#[cfg(test)]
mod args_tests;
mod build_cmd;
mod demo_cmd;
mod deploy_cmd;
mod diff_cmd;
mod dispatch;
mod doctor_cmd;
mod exit;
mod history_cmd;
mod init_cmd;
mod journal_cmd;
mod json_out;
mod lease_guard;
mod lifecycle_cmd;
mod plan_cmd;
mod plan_git;
mod progress;
mod revert_pr;
mod rollback_cmd;
mod run_cmd;
mod run_once;
mod run_ui;
mod schema_cmd;
mod sim_cmd;
mod status_cmd;
mod unblock_cmd;
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
        amagent demo                          the whole product on the simulator, in six acts\n  \
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
    let cli = match parse() {
        Ok(cli) => cli,
        Err(exit) => return exit.into(),
    };
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
    dispatch::simulated_journal_default(&mut cli.command);
    let exit = dispatch::run(cli.command, cli.output);
    if cli.output == OutputFormat::Json {
        json_out::finish(exit);
    }
    exit
}

/// The command line, or the exit for one that does not parse — with `--output json`, as the
/// one JSON document (help and version are printed as text whatever the format).
fn parse() -> Result<Cli, Exit> {
    let error = match Cli::try_parse() {
        Ok(cli) => return Ok(cli),
        Err(e) => e,
    };
    let args: Vec<String> = std::env::args().collect();
    let json = args
        .windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || args.iter().any(|a| a == "--output=json");
    use clap::error::ErrorKind;
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !json || informational {
        error.exit();
    }
    json_out::add_error("usage", error.render().to_string().trim_end());
    json_out::finish(Exit::Usage);
    Err(Exit::Usage)
}

/// The command's result for `--output json` (printed once, when the command ends).
fn print_json<T: serde::Serialize>(value: &T) {
    json_out::set_result(serde_json::to_value(value).expect("plain data serializes"));
}

/// An error for a person, on stderr, in the chosen format (with JSON: in the one document).
fn print_error(output: OutputFormat, kind: &str, message: &str) {
    match output {
        OutputFormat::Text => {
            progress::close_line();
            crate::errln!("error: {}", crate::config::printable::for_terminal(message))
        }
        OutputFormat::Json => json_out::add_error(kind, message),
    }
}
