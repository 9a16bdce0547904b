//! `amagent lifecycle --env E [--dry-run] [--policy] --sim SCENARIO`: what the environment's
//! ECR rules expire, with every running or rollback-target image protected.

use super::progress::ConsoleProgress;
use super::sim_cmd::{Session, load_environment, open_journal, runtime, scenario};
use super::{Exit, OutputFormat, print_json};
use crate::executor::{self, Context};
use crate::stages::lifecycle::{Rules, ecr_policy_json};
use crate::state::journal::{Phase, Record};
use std::path::Path;

pub fn run(
    dir: &Path,
    env_name: &str,
    dry_run: bool,
    (sim, region): (Option<&str>, Option<&str>),
    (journal_spec, force): (&str, bool),
    output: OutputFormat,
) -> Exit {
    let (_, env) = match load_environment(dir, env_name, output) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let faults = match scenario(sim, output) {
        Ok(f) => f,
        Err(code) => return code,
    };
    runtime(faults.is_some()).block_on(async {
        let session = Session::open(&env, faults, region).await;
        let journal = match open_journal(journal_spec, &session) {
            Ok(j) => j,
            Err(e) => {
                super::print_error(output, "usage", &e.to_string());
                return Exit::Usage;
            }
        };
        let journal = journal.as_ref();
        // A dry run changes nothing: it may look while an agent is active.
        if !dry_run {
            let who = (&session.clock, env.name.as_str(), "lifecycle");
            let leased = super::lease_guard::refuse_if_leased(journal_spec, &session.cloud.s3, journal, who, force, output);
            if let Err(code) = leased.await {
                return code;
            }
        }
        let progress = ConsoleProgress::new(session.clock.clone());
        let ctx = Context::new(&session.cloud, &session.clock, journal, &progress);
        let services: Vec<_> = env.services.iter().collect();
        // Write-ahead: an unreadable journal stops it; deletions are journalled before made.
        let run = format!("{}-{}-lifecycle", env.name, session.clock.now().format("%Y%m%dT%H%M%SZ"));
        let record = |phase, outcome: Option<&str>, detail| Record {
            at: session.clock.now(),
            run: run.clone(),
            env: env.name.clone(),
            service: None,
            step: "lifecycle".into(),
            phase,
            outcome: outcome.map(String::from),
            detail,
        };
        let started = match journal.read(Some(&env.name)).await {
            Ok(_) if dry_run => Ok(()),
            Ok(_) => journal.append(&record(Phase::Started, None, serde_json::json!({ "manual": true }))).await,
            Err(e) => Err(e),
        };
        if let Err(e) = started {
            super::print_error(output, "io", &format!("nothing deleted: {e}"));
            return Exit::Io;
        }
        let reports = executor::run_lifecycle(&ctx, &env, &services, dry_run).await;
        let failed = reports.iter().any(|r| r.error.is_some());
        if !dry_run {
            let outcome = if failed { "failed" } else { "succeeded" };
            let detail = serde_json::to_value(&reports).unwrap_or_default();
            if let Err(e) = journal.append(&record(Phase::Finished, Some(outcome), detail)).await {
                tracing::error!(error = %e, "cannot write the journal");
            }
        }
        let policy = ecr_policy_json(Rules::from(&env.ecr.lifecycle));
        match output {
            OutputFormat::Json => print_json(&serde_json::json!({
                "env": env.name,
                "dry_run": dry_run,
                "repositories": reports,
                "ecr_policy": serde_json::from_str::<serde_json::Value>(&policy).unwrap_or_default(),
            })),
            OutputFormat::Text => {
                for r in &reports {
                    let verb = if dry_run { "would expire" } else { "expired" };
                    crate::outln!("{} ({}): {verb} {} image(s)", r.repository, r.services.join(", "), r.expire.len());
                    if let Some(e) = &r.error {
                        crate::outln!("  error: {e}");
                    }
                    for v in &r.expire {
                        crate::outln!("  - {} {:<12} pushed {}  {}", &v.digest[..19.min(v.digest.len())], v.tags.join(","), v.pushed_at.format("%Y-%m-%d"), v.reason);
                    }
                    for v in r.keep.iter().filter(|v| v.reason.starts_with("protected")) {
                        crate::outln!("  = {} {:<12} pushed {}  {}", &v.digest[..19.min(v.digest.len())], v.tags.join(","), v.pushed_at.format("%Y-%m-%d"), v.reason);
                    }
                }
                crate::outln!("\nEquivalent standing ECR lifecycle policy (ECR's own rules cannot protect running images):\n{policy}");
            }
        }
        if failed { Exit::Refused } else { Exit::Ok }
    })
}
