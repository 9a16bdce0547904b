//! `amagent lifecycle --env E [--dry-run] [--policy] --sim SCENARIO`: what the environment's
//! ECR rules expire, with every running or rollback-target image protected.

use super::progress::ConsoleProgress;
use super::sim_cmd::{Session, load_environment, open_journal, runtime, scenario};
use super::{Exit, OutputFormat, print_json};
use crate::executor::{self, Context};
use crate::lifecycle::{Rules, ecr_policy_json};
use std::path::Path;

pub fn run(
    dir: &Path,
    env_name: &str,
    dry_run: bool,
    (sim, region): (Option<&str>, Option<&str>),
    journal: &str,
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
        let journal = match open_journal(journal, &session) {
            Ok(j) => j,
            Err(e) => {
                super::print_error(output, "usage", &e.to_string());
                return Exit::Usage;
            }
        };
        let journal = journal.as_ref();
        let progress = ConsoleProgress::new(session.clock.clone());
        let ctx = Context::new(&session.cloud, &session.clock, journal, &progress);
        let services: Vec<_> = env.services.iter().collect();
        let reports = executor::run_lifecycle(&ctx, &env, &services, dry_run).await;
        let policy = ecr_policy_json(Rules::from(&env.ecr.lifecycle));
        let failed = reports.iter().any(|r| r.error.is_some());
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
                    println!("{} ({}): {verb} {} image(s)", r.repository, r.services.join(", "), r.expire.len());
                    if let Some(e) = &r.error {
                        println!("  error: {e}");
                    }
                    for v in &r.expire {
                        println!("  - {} {:<12} pushed {}  {}", &v.digest[..19.min(v.digest.len())], v.tags.join(","), v.pushed_at.format("%Y-%m-%d"), v.reason);
                    }
                    for v in r.keep.iter().filter(|v| v.reason.starts_with("protected")) {
                        println!("  = {} {:<12} pushed {}  {}", &v.digest[..19.min(v.digest.len())], v.tags.join(","), v.pushed_at.format("%Y-%m-%d"), v.reason);
                    }
                }
                println!("\nEquivalent standing ECR lifecycle policy (ECR's own rules cannot protect running images):\n{policy}");
            }
        }
        if failed { Exit::Refused } else { Exit::Ok }
    })
}
