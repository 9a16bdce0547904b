//! `amagent doctor --env E`: ✓/✗ for every AWS resource the spec names and for what would block a
//! deploy of each service (live service and task definition), with the fix; ! for what to verify
//! by hand.

use super::sim_cmd::{Session, load_environment, runtime, scenario};
use super::{Exit, OutputFormat, print_json};
use crate::cloud::aws::Aws;
use crate::cloud::sim::FaultScript;
use crate::config::{Environment, Model};
use crate::doctor::codebuild::PipelineSpecs;
use crate::doctor::{self, Check, SpecLocator};
use std::path::Path;

pub fn run(
    dir: &Path,
    env_name: &str,
    region: Option<&str>,
    sim: Option<&str>,
    output: OutputFormat,
) -> Exit {
    let (model, env) = match load_environment(dir, env_name, output) {
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
    let source = doctor::promotion_source::source_in_another_registry(&env, &model);
    let specs = pipeline_specs(dir, &model);
    let checks = runtime(faults.is_some())
        .block_on(examine(&env, &spec, faults, region, source, &model, &specs));
    let all_ok = checks.iter().all(|c| c.ok);
    match output {
        OutputFormat::Json => {
            print_json(&serde_json::json!({ "env": env.name, "ok": all_ok, "checks": checks }))
        }
        OutputFormat::Text => print_text(&env.name, &checks),
    }
    if all_ok { Exit::Ok } else { Exit::Failed }
}

/// Where each pipeline's fields are written (`pipelines/<name>.yaml`), for fixes.
fn pipeline_specs(dir: &Path, model: &Model) -> PipelineSpecs {
    let mut specs = PipelineSpecs::new();
    for name in model.pipelines.keys() {
        for ext in ["yaml", "yml"] {
            let file = format!("pipelines/{name}.{ext}");
            if let Ok(text) = std::fs::read_to_string(dir.join(&file)) {
                specs.insert(name.clone(), SpecLocator::new(&file, &text));
                break;
            }
        }
    }
    specs
}

/// The checks, on the simulated account (with `faults`) or on AWS (identity first).
async fn examine(
    env: &Environment,
    spec: &SpecLocator,
    faults: Option<FaultScript>,
    region: Option<&str>,
    promotion_source: Option<&Environment>,
    model: &Model,
    pipelines: &PipelineSpecs,
) -> Vec<Check> {
    if faults.is_some() {
        let session = Session::open(env, faults, region).await;
        let mut checks = doctor::examine(&session.cloud, env, spec).await;
        checks.extend(doctor::codebuild::checks(&session.cloud, env, model, pipelines).await);
        return checks;
    }
    let aws = Aws::connect_with(
        crate::daemon::accounts::target_of(env, region),
        crate::cloud::aws::Options {
            assume_role: crate::daemon::accounts::assume_role_of(env),
            ..Default::default()
        },
    )
    .await;
    let mut checks = vec![doctor::identity_check(
        env,
        spec,
        aws.caller_identity().await,
    )];
    let cloud = aws.cloud();
    checks.extend(doctor::examine(&cloud, env, spec).await);
    checks.extend(doctor::codebuild::checks(&cloud, env, model, pipelines).await);
    if let Some(source) = promotion_source {
        // The copy reads the source with the source environment's own access: check that.
        let theirs = Aws::connect_with(
            crate::daemon::accounts::target_of(source, None),
            crate::cloud::aws::Options {
                assume_role: crate::daemon::accounts::assume_role_of(source),
                ..Default::default()
            },
        )
        .await;
        checks.extend(doctor::promotion_source::checks(&theirs.cloud(), env, source, spec).await);
    }
    checks
}

fn print_text(env: &str, checks: &[Check]) {
    let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    for c in checks {
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
        crate::outln!("\nAll {} checks passed for {env}.", checks.len());
        if to_verify > 0 {
            crate::outln!("{to_verify} marked ! to verify by hand.");
        }
    } else {
        crate::outln!("\n{failed} of {} checks failed for {env}.", checks.len());
    }
}
