//! `amagent rollback` (back to a verified revision, through the gate, then pinned) and
//! `amagent resume` (unpin).

use super::progress::ConsoleProgress;
use super::sim_cmd::{Session, load_environment, open_journal, runtime, scenario};
use super::{Exit, OutputFormat, print_error, print_json};
use crate::cloud::retry::RetryPolicy;
use crate::config::Environment;
use crate::rollback::{self, RollbackError, RollbackReport, Selector};
use crate::stages::deploy::rollout::short_td;
use crate::stages::deploy::{FailureKind, Outcome};
use crate::state::journal::pins::{Pin, pins, resume_record};
use std::path::Path;

pub use super::revert_pr::RevertArgs;

pub struct RollbackArgs<'a> {
    pub dir: &'a Path,
    pub env: &'a str,
    pub service: Option<&'a str>,
    pub to: Option<&'a str>,
    pub steps: Option<usize>,
    pub sim: Option<&'a str>,
    pub region: Option<&'a str>,
    pub journal: &'a str,
    pub reason: Option<&'a str>,
    pub actor: Option<&'a str>,
    /// Act even while an agent holds the lease on the journal (journalled).
    pub force: bool,
    /// `--revert-pr`.
    pub revert: Option<RevertArgs>,
}

/// `--actor`, else `$USER`, else "unknown".
pub fn actor(given: Option<&str>) -> String {
    given
        .map(String::from)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

pub fn run(args: RollbackArgs<'_>, output: OutputFormat) -> Exit {
    let (_, env) = match load_environment(args.dir, args.env, output) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let faults = match scenario(args.sim, output) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let selector = match (args.to, args.steps) {
        (Some(to), _) => Selector::To(to.to_string()),
        (None, steps) => Selector::Steps(steps.unwrap_or(1)),
    };
    let actor = actor(args.actor);
    runtime(faults.is_some()).block_on(async {
        let session = Session::open(&env, faults, args.region).await;
        let journal = match open_journal(args.journal, &session) {
            Ok(j) => j,
            Err(e) => {
                print_error(output, "usage", &e.to_string());
                return Exit::Usage;
            }
        };
        let who = (&session.clock, env.name.as_str(), "rollback");
        let leased = super::lease_guard::refuse_if_leased(
            args.journal,
            &session.cloud.s3,
            journal.as_ref(),
            who,
            args.force,
            output,
        );
        if let Err(code) = leased.await {
            return code;
        }
        let revert = match &args.revert {
            Some(r) => match super::revert_pr::prepare(r).await {
                Ok(p) => Some(p),
                Err(e) => {
                    print_error(output, "usage", &e);
                    return Exit::Usage;
                }
            },
            None => None,
        };
        let progress = ConsoleProgress::new(session.clock.clone());
        let ctx = rollback::Context {
            cloud: &session.cloud,
            clock: &session.clock,
            journal: journal.as_ref(),
            progress: &progress,
            retry: RetryPolicy::default(),
        };
        let request = rollback::Request {
            env: &env,
            services: args
                .service
                .map(|s| vec![s.to_string()])
                .unwrap_or_default(),
            selector,
            actor,
            reason: args.reason.map(String::from),
        };
        match rollback::rollback(&ctx, request).await {
            Ok(report) => {
                let opened = match &revert {
                    Some(p) if report.outcome == Outcome::Succeeded => {
                        Some(super::revert_pr::open(p, &report, journal.as_ref()).await)
                    }
                    _ => None,
                };
                print_report(&report, opened.as_ref(), output);
                tell_the_pull_requests(&report, journal.as_ref()).await;
                match opened {
                    Some(Err(_)) => Exit::Refused,
                    _ => exit_for(&report),
                }
            }
            Err(e) => print_refusal(&e, output),
        }
    })
}

/// Tell the pull requests whose change was rolled back (`rollback::tell`), when GitHub is
/// configured as for `amagent run` (AMAGENT_REPO + GITHUB_TOKEN or an App). Best effort: the
/// rollback itself is done and journalled either way.
async fn tell_the_pull_requests(
    report: &RollbackReport,
    journal: &dyn crate::state::journal::Journal,
) {
    let Ok(url) = std::env::var("AMAGENT_REPO") else {
        return;
    };
    let github = match crate::report::github::GitHub::from_env(&url).await {
        Ok(Some(g)) => g,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot report the rollback to GitHub");
            return;
        }
    };
    let records = journal.read(Some(&report.env)).await.unwrap_or_default();
    rollback::tell::tell(&github, report, &records).await;
}

/// 0 every service verified on its target, 3 AWS refused, 1 a rollback failed the gate.
pub fn exit_for(report: &RollbackReport) -> Exit {
    let kinds: Vec<FailureKind> = report
        .services
        .iter()
        .filter_map(|s| s.failure_kind)
        .collect();
    if report.outcome == Outcome::Succeeded {
        Exit::Ok
    } else if kinds.contains(&FailureKind::Journal) {
        Exit::Io
    } else if kinds.contains(&FailureKind::Refused) {
        Exit::Refused
    } else if kinds.contains(&FailureKind::Config) {
        Exit::Usage
    } else {
        Exit::Failed
    }
}

fn print_refusal(e: &RollbackError, output: OutputFormat) -> Exit {
    let (kind, code) = match e {
        RollbackError::Choice(_) | RollbackError::NoService { .. } => ("usage", Exit::Usage),
        RollbackError::Journal(_) => ("io", Exit::Io),
        RollbackError::Cloud { .. } => ("refused", Exit::Refused),
    };
    let verified = match e {
        RollbackError::Choice(c) => c.verified().to_vec(),
        _ => Vec::new(),
    };
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "error": { "kind": kind, "message": e.to_string(), "verified": verified }
        })),
        OutputFormat::Text => {
            crate::errln!("error: {e}");
            if let RollbackError::Choice(_) = e {
                if verified.is_empty() {
                    crate::errln!("the journal has no verified deploy of it to go back to");
                } else {
                    crate::errln!("verified revisions (newest first; give one to --to):");
                    for v in &verified {
                        crate::errln!("  {}", v.line());
                    }
                }
            }
        }
    }
    code
}

fn print_report(
    report: &RollbackReport,
    revert: Option<&Result<crate::revert::Opened, String>>,
    output: OutputFormat,
) {
    if output == OutputFormat::Json {
        let mut doc = serde_json::to_value(report).expect("a report serializes");
        if let Some(r) = revert {
            doc["revert_pr"] = match r {
                Ok(opened) => serde_json::to_value(opened).expect("serializes"),
                Err(e) => serde_json::json!({ "error": e }),
            };
        }
        print_json(&doc);
        return;
    }
    print_services(report);
    match revert {
        Some(Ok(o)) => crate::outln!(
            "revert pull request #{} opened (branch {}): merging it puts {} back in Git as it runs and releases the pin",
            o.number,
            o.branch,
            o.services.join(", ")
        ),
        Some(Err(e)) => crate::errln!(
            "error: the rollback is done, but the revert pull request was not opened: {e}"
        ),
        None => {}
    }
}

fn print_services(report: &RollbackReport) {
    crate::outln!(
        "{} — rollback run {} by {}{}",
        report.env,
        report.run,
        report.actor,
        report
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    for s in &report.services {
        let from = s.from.as_deref().map(short_td).unwrap_or("?");
        let to = short_td(&s.to);
        match (s.outcome, s.unchanged) {
            (Outcome::Succeeded, true) => {
                crate::outln!("  {:<10} already running {to}: nothing to do", s.service)
            }
            (Outcome::Succeeded, false) => crate::outln!(
                "  {:<10} rolled back {from} → {to} and verified healthy ({:.0} s); pinned — `amagent resume --env {} --service {}` lets the agent deploy it again",
                s.service,
                s.seconds,
                report.env,
                s.service
            ),
            (Outcome::Failed, _) => crate::outln!(
                "  {:<10} FAILED: {}",
                s.service,
                s.reason.as_deref().unwrap_or("")
            ),
        }
    }
}

pub struct ResumeArgs<'a> {
    pub dir: &'a Path,
    pub env: &'a str,
    pub service: Option<&'a str>,
    pub region: Option<&'a str>,
    pub journal: &'a str,
    /// The journal of simulated runs (`--simulated`).
    pub simulated: bool,
    pub actor: Option<&'a str>,
}

/// Unpin the service (all pinned services of the environment without --service).
pub fn resume(args: ResumeArgs<'_>, output: OutputFormat) -> Exit {
    let (_, env) = match load_environment(args.dir, args.env, output) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(s) = args.service
        && let Err(code) = super::deploy_cmd::service_spec(&env, s, output)
    {
        return code;
    }
    let by = actor(args.actor);
    let resumed = match runtime(false).block_on(unpin(&args, &env, &by, output)) {
        Ok(resumed) => resumed,
        Err(code) => return code,
    };
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "env": env.name,
            "by": by,
            "resumed": resumed,
        })),
        OutputFormat::Text if resumed.is_empty() => crate::outln!(
            "{}: nothing pinned{}",
            env.name,
            args.service
                .map(|s| format!(" for {s}"))
                .unwrap_or_default()
        ),
        OutputFormat::Text => {
            super::progress::close_line();
            for p in &resumed {
                crate::outln!(
                    "{} {}: unpinned (was pinned to {} by {} at {}); the agent deploys it again on the next change",
                    p.env,
                    p.service,
                    short_td(&p.to),
                    p.by,
                    p.at.format("%Y-%m-%d %H:%M:%SZ")
                );
            }
        }
    }
    Exit::Ok
}

/// Journal a resume for each pin of the environment (of `--service`, if given); gives the pins
/// lifted.
async fn unpin(
    args: &ResumeArgs<'_>,
    env: &Environment,
    by: &str,
    output: OutputFormat,
) -> Result<Vec<Pin>, Exit> {
    let clock = crate::clock::Clock::system();
    let journal =
        super::status_cmd::journal_without_sim(args.journal, env, args.region, args.simulated)
            .await
            .map_err(|e| {
                print_error(output, "usage", &e.to_string());
                Exit::Usage
            })?;
    let records = journal.read(Some(&env.name)).await.map_err(|e| {
        print_error(output, "io", &e.to_string());
        Exit::Io
    })?;
    let run = format!(
        "{}-{}-resume",
        env.name,
        clock.now().format("%Y%m%dT%H%M%SZ")
    );
    let mut resumed = Vec::new();
    for ((_, service), pin) in pins(&records)
        .into_iter()
        .filter(|((e, s), _)| *e == env.name && args.service.is_none_or(|w| w == s.as_str()))
    {
        let record = resume_record(&env.name, &service, by, clock.now(), &run);
        if let Err(e) = journal.append(&record).await {
            print_error(output, "io", &e.to_string());
            return Err(Exit::Io);
        }
        resumed.push(pin);
    }
    Ok(resumed)
}
