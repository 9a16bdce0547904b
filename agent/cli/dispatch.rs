//! From parsed arguments to the command that runs: one small adapter per command, so the
//! commands keep their own argument types and the dispatch stays a plain match.

use super::args::{self, Command};
use super::{
    Exit, OutputFormat, approve_cmd, build_cmd, demo_cmd, deploy_cmd, diff_cmd, doctor_cmd,
    history_cmd, init_cmd, journal_cmd, lifecycle_cmd, plan_cmd, rollback_cmd, run_cmd, schema_cmd,
    status_cmd, unblock_cmd, validate_cmd,
};
use std::time::Duration;

pub fn run(command: Command, output: OutputFormat) -> Exit {
    match command {
        Command::Demo(a) => demo_cmd::run(a.keep.as_deref(), output),
        Command::Validate(a) => validate_cmd::run(a.dir.as_ref().unwrap_or(&a.repo), output),
        Command::Plan(a) => plan_cmd::run(&a.repo, (a.from.as_deref(), &a.to), a.exit_code, output),
        Command::Deploy(a) => deploy(a, output),
        Command::Lifecycle(a) => lifecycle_cmd::run(
            &a.dir.dir,
            &a.env,
            a.dry_run,
            (a.sim.sim.as_deref(), a.region.region.as_deref()),
            (&a.journal.journal, a.force.force),
            output,
        ),
        Command::Build(a) => build_cmd::run(
            &a.dir.dir,
            &a.env,
            &a.service,
            a.sim.sim.as_deref(),
            a.cache.cache.as_deref(),
            output,
        ),
        Command::Doctor(a) => doctor_cmd::run(
            &a.dir.dir,
            &a.env,
            a.region.region.as_deref(),
            a.sim.sim.as_deref(),
            output,
        ),
        Command::Run(a) => run_cmd::run(agent(a), output),
        Command::Promote(a) => run_cmd::run(promote(a), output),
        Command::Journal(a) => journal_cmd::run(a, output),
        Command::Completions(a) => completions(a.shell, output),
        Command::Schema(a) => schema_cmd::run(a.kind, output),
        Command::History(a) => history(a, output),
        Command::Rollback(a) => rollback(a, output),
        Command::Resume(a) => resume(a, output),
        Command::Unblock(a) => unblock_cmd::run(
            unblock_cmd::UnblockArgs {
                dir: &a.dir.dir,
                env: &a.env,
                service: &a.service,
                digest: &a.digest,
                actor: a.actor.as_deref(),
                journal: &a.journal.journal,
                region: a.journal_region.as_deref(),
                simulated: a.simulated,
            },
            output,
        ),
        Command::Approve(a) => approve(a, output),
        Command::Init(a) => init_cmd::run(a, output),
        Command::Diff(a) => diff_cmd::run(
            diff_cmd::DiffArgs {
                dir: &a.dir.dir,
                env: &a.env,
                services: &a.services,
                sim: a.sim.sim.as_deref(),
                region: a.region.region.as_deref(),
                exit_code: a.exit_code,
            },
            output,
        ),
        Command::Status(a) => status_cmd::run(
            status_cmd::StatusArgs {
                dir: &a.dir.dir,
                env: a.env.as_deref(),
                sim: a.sim.sim.as_deref(),
                region: a.region.region.as_deref(),
                journal: &a.journal.journal,
            },
            output,
        ),
    }
}

/// The completion script for `shell`, generated from the command line's definition.
fn completions(shell: clap_complete::Shell, output: OutputFormat) -> Exit {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut super::Cli::command(), "amagent", &mut script);
    let script = String::from_utf8_lossy(&script);
    match output {
        OutputFormat::Text => crate::out!("{script}"),
        OutputFormat::Json => super::print_json(&serde_json::json!({
            "shell": shell.to_string(),
            "script": script,
        })),
    }
    Exit::Ok
}

fn deploy(a: args::Deploy, output: OutputFormat) -> Exit {
    deploy_cmd::run(
        deploy_cmd::DeployArgs {
            dir: &a.dir.dir,
            env: &a.env,
            service: &a.service,
            image: a.image.as_deref(),
            cache: a.cache.cache.as_deref(),
            sim: a.sim.sim.as_deref(),
            region: a.region.region.as_deref(),
            journal: &a.journal.journal,
            force: a.force.force,
            allow_bad: a.allow_bad,
        },
        output,
    )
}

/// `amagent run`: the agent's settings.
fn agent(a: args::Run) -> run_cmd::RunArgs {
    run_cmd::RunArgs {
        repo: a.remote.repo,
        branch: a.remote.branch,
        sim: a.sim.sim,
        listen: a.listen,
        poll_interval: Duration::from_secs(a.poll_interval.max(1)),
        once: a.once,
        shutdown_grace: Duration::from_secs(a.shutdown_grace),
        mirror: a.mirror,
        cache: a.cache.cache,
        journal: a.journal.journal,
        region: a.region.region,
        builder: a.builder,
        parallel_builds: a.parallel_builds,
        promote: None,
        allow_downgrade: false,
        lease_ttl: Duration::from_secs(a.lease_ttl.max(3)),
    }
}

/// `amagent promote`: the agent's one look, after creating and pushing the tag.
fn promote(a: args::Promote) -> run_cmd::RunArgs {
    run_cmd::RunArgs {
        repo: a.remote.repo,
        branch: a.remote.branch,
        sim: a.sim.sim,
        listen: None,
        poll_interval: Duration::from_secs(30),
        once: true,
        shutdown_grace: Duration::from_secs(90),
        mirror: None,
        cache: a.cache.cache,
        journal: a.journal.journal,
        region: a.region.region,
        builder: None,
        parallel_builds: crate::daemon::PARALLEL_BUILDS,
        promote: Some((a.tag, a.commit)),
        allow_downgrade: a.allow_downgrade,
        lease_ttl: Duration::from_secs(60),
    }
}

fn history(a: args::History, output: OutputFormat) -> Exit {
    history_cmd::run(
        &a.dir.dir,
        (&a.journal.journal, a.simulated),
        a.journal_region.as_deref(),
        history_cmd::Filters {
            env: a.env.as_deref(),
            service: a.service.as_deref(),
            outcome: a.outcome.as_deref(),
            since: a.since,
            limit: a.limit,
        },
        output,
    )
}

fn approve(a: args::Approve, output: OutputFormat) -> Exit {
    approve_cmd::run(
        approve_cmd::ApproveArgs {
            dir: &a.dir.dir,
            env: &a.env,
            tag: &a.tag,
            reject: a.reject,
            reason: a.reason.as_deref(),
            actor: a.actor.as_deref(),
            journal: &a.journal.journal,
            region: a.journal_region.as_deref(),
            simulated: a.simulated,
        },
        output,
    )
}

fn rollback(a: args::Rollback, output: OutputFormat) -> Exit {
    rollback_cmd::run(
        rollback_cmd::RollbackArgs {
            dir: &a.dir.dir,
            env: &a.env,
            service: a.service.as_deref(),
            to: a.to.as_deref(),
            steps: a.steps.map(|s| s as usize),
            sim: a.sim.sim.as_deref(),
            region: a.region.region.as_deref(),
            journal: &a.journal.journal,
            reason: a.reason.as_deref(),
            revert: a.revert_pr.then(|| rollback_cmd::RevertArgs {
                base: a.base_branch.clone(),
                cache: a.cache.cache.clone(),
            }),
            actor: a.actor.as_deref(),
            force: a.force.force,
        },
        output,
    )
}

fn resume(a: args::Resume, output: OutputFormat) -> Exit {
    rollback_cmd::resume(
        rollback_cmd::ResumeArgs {
            dir: &a.dir.dir,
            env: &a.env,
            service: a.service.as_deref(),
            region: a.journal_region.as_deref(),
            journal: &a.journal.journal,
            simulated: a.simulated,
            actor: a.actor.as_deref(),
        },
        output,
    )
}

/// Simulated runs keep their own journal: under `--sim` (or `--simulated`) the default
/// journal is the simulator's (journal::realm); an explicit one is checked when opened.
pub fn simulated_journal_default(command: &mut Command) {
    let (simulated, journal) = match command {
        Command::Deploy(a) => (a.sim.sim.is_some(), &mut a.journal),
        Command::Lifecycle(a) => (a.sim.sim.is_some(), &mut a.journal),
        Command::Rollback(a) => (a.sim.sim.is_some(), &mut a.journal),
        Command::Status(a) => (a.sim.sim.is_some(), &mut a.journal),
        Command::Run(a) => (a.sim.sim.is_some(), &mut a.journal),
        Command::Promote(a) => (a.sim.sim.is_some(), &mut a.journal),
        Command::History(a) => (a.simulated, &mut a.journal),
        Command::Resume(a) => (a.simulated, &mut a.journal),
        Command::Unblock(a) => (a.simulated, &mut a.journal),
        _ => return,
    };
    journal.journal = crate::state::journal::realm::spec_for(&journal.journal, simulated);
}
