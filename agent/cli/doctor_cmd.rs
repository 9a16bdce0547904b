//! `amagent doctor --env E`: ✓/✗ for every AWS resource the spec names and for what would block a
//! deploy of each service (live service and task definition), with the fix; ! for what to verify
//! by hand.

use super::sim_cmd::{Session, load_environment, runtime, scenario};
use super::{Exit, OutputFormat, print_json};
use crate::cloud::aws::Aws;
use crate::doctor::{self, SpecLocator};
use std::path::Path;

pub fn run(
    dir: &Path,
    env_name: &str,
    region: Option<&str>,
    sim: Option<&str>,
    output: OutputFormat,
) -> Exit {
    let (_, env) = match load_environment(dir, env_name, output) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let file = format!("environments/{env_name}.yaml");
    let text = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
    let spec = SpecLocator::new(&file, &text);
    let faults = match scenario(sim, output) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let simulated = faults.is_some();
    let checks = runtime(simulated).block_on(async {
        let mut checks = Vec::new();
        if simulated {
            checks.extend(
                doctor::examine(
                    &Session::open(&env, faults, region).await.cloud,
                    &env,
                    &spec,
                )
                .await,
            );
        } else {
            let aws = Aws::connect_with(
                crate::daemon::accounts::target_of(&env, region),
                crate::cloud::aws::Options {
                    assume_role: crate::daemon::accounts::assume_role_of(&env),
                    ..Default::default()
                },
            )
            .await;
            checks.push(doctor::identity_check(
                &env,
                &spec,
                aws.caller_identity().await,
            ));
            checks.extend(doctor::examine(&aws.cloud(), &env, &spec).await);
        }
        checks
    });
    let all_ok = checks.iter().all(|c| c.ok);
    match output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({ "env": env.name, "ok": all_ok, "checks": checks }))
        }
        OutputFormat::Text => {
            let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
            for c in &checks {
                let mark = match (c.ok, c.warning) {
                    (false, _) => "✗",
                    (true, true) => "!",
                    (true, false) => "✓",
                };
                crate::outln!("{mark} {:width$}  {}  {}", c.check, c.subject, c.detail);
                if let Some(fix) = &c.fix {
                    crate::outln!("  {:width$}  fix: {fix}", "");
                }
            }
            let failed = checks.iter().filter(|c| !c.ok).count();
            let to_verify = checks.iter().filter(|c| c.warning).count();
            if failed == 0 {
                crate::outln!("\nAll {} checks passed for {}.", checks.len(), env.name);
                if to_verify > 0 {
                    crate::outln!("{to_verify} marked ! to verify by hand.");
                }
            } else {
                crate::outln!(
                    "\n{failed} of {} checks failed for {}.",
                    checks.len(),
                    env.name
                );
            }
        }
    }
    if all_ok { Exit::Ok } else { Exit::Failed }
}
