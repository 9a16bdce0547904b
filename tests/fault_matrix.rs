//! The fault matrix: every way a deploy can go, on the simulator (virtual time). Each case
//! asserts the revision running at the end, the outcome recorded in the journal, and the exit
//! code — single-service cases through the `amagent deploy` binary, the fleet case through the
//! library.

use amagent::cli::{Exit, deploy_exit};
use amagent::clock::Clock;
use amagent::cloud::sim::FaultScript;
use amagent::config::{Environment, Model, load_dir};
use amagent::executor::{self, Context, EnvRun};
use amagent::sandbox::{Sandbox, fake_digest};
use amagent::stages::deploy::{Outcome, Silent};
use amagent::state::journal::{Journal, LocalJournal, Phase};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Run {
    code: Option<i32>,
    json: serde_json::Value,
    stderr: String,
    journal: tempfile::TempDir,
}

fn deploy(scenario: &str, image: &str) -> Run {
    let journal = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args([
            "--output",
            "json",
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
        ])
        .args(["--image", image, "--sim", scenario, "--dir"])
        .arg(root())
        .arg("--journal")
        .arg(journal.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    Run {
        code: out.status.code(),
        json: serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")),
        stderr: String::from_utf8(out.stderr).unwrap(),
        journal,
    }
}

/// The journal's verdict for the service's deploy.
fn recorded(run: &Run) -> (String, serde_json::Value) {
    let records = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(LocalJournal::new(run.journal.path()).read(Some("staging")))
        .unwrap();
    let last = records
        .iter()
        .rev()
        .find(|r| r.step == "deploy" && r.phase == Phase::Finished)
        .expect("a finished deploy record");
    (last.outcome.clone().unwrap(), last.detail.clone())
}

const FAMILY: &str = "aussie-markets-api-task";

fn revision(json: &serde_json::Value) -> String {
    json["task_definition"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn healthy_deploy_runs_the_new_revision() {
    let run = deploy("healthy", "v1.4.0");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json["outcome"], "succeeded");
    assert_eq!(run.json["rolled_back"], false);
    assert_eq!(revision(&run.json), format!("{FAMILY}:43"));
    let digest = fake_digest("aussie-markets/api:v1.4.0");
    assert!(
        run.json["image"]
            .as_str()
            .unwrap()
            .ends_with(&format!("aussie-markets/api@{digest}"))
    );
    let (outcome, detail) = recorded(&run);
    assert_eq!(outcome, "succeeded");
    assert!(detail["task_definition"].as_str().unwrap().ends_with(":43"));
}

#[test]
fn crash_looping_image_is_rolled_back() {
    let run = deploy("crash", "v1.4.0");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.json["outcome"], "failed");
    assert_eq!(run.json["rolled_back"], true);
    assert_eq!(revision(&run.json), format!("{FAMILY}:42"));
    let reason = run.json["reason"].as_str().unwrap();
    assert!(
        reason.contains("Essential container in task exited"),
        "{reason}"
    );
    let (outcome, detail) = recorded(&run);
    assert_eq!(outcome, "failed");
    assert_eq!(detail["rolled_back"], true);
}

#[test]
fn health_check_failing_during_bake_is_rolled_back() {
    let run = deploy("unhealthy-during-bake", "v1.4.0");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.json["rolled_back"], true);
    assert_eq!(revision(&run.json), format!("{FAMILY}:42"));
    let reason = run.json["reason"].as_str().unwrap();
    assert!(reason.contains("health check"), "{reason}");
    assert_eq!(recorded(&run).0, "failed");
}

#[test]
fn slow_start_within_the_timeout_succeeds() {
    let run = deploy("slow-start", "v1.4.0");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(revision(&run.json), format!("{FAMILY}:43"));
    let seconds = run.json["deploy"]["seconds"].as_f64().unwrap();
    assert!(seconds >= 240.0, "took {seconds} s");
    assert_eq!(recorded(&run).0, "succeeded");
}

#[test]
fn an_unhealthy_essential_container_is_rolled_back() {
    let run = deploy("container-unhealthy", "v1.4.0");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.json["rolled_back"], true);
    assert_eq!(revision(&run.json), format!("{FAMILY}:42"));
    let reason = run.json["reason"].as_str().unwrap();
    assert!(
        reason.contains("essential container api failed its container health check"),
        "{reason}"
    );
    assert_eq!(recorded(&run).0, "failed");
}

#[test]
fn a_slow_warm_up_without_a_grace_period_is_rolled_back() {
    // The example sets no healthCheckGracePeriodSeconds (tests/service_shapes.rs sets one).
    let run = deploy("slow-warm-up", "v1.4.0");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.json["rolled_back"], true);
    assert!(
        run.json["reason"]
            .as_str()
            .unwrap()
            .contains("load balancer health checks")
    );
}

#[test]
fn timeout_is_a_failure_and_rolls_back() {
    let run = deploy("timeout", "v1.4.0");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.json["rolled_back"], true);
    assert_eq!(revision(&run.json), format!("{FAMILY}:42"));
    assert!(run.json["reason"].as_str().unwrap().contains("timed out"));
    assert_eq!(recorded(&run).0, "failed");
}

#[test]
fn throttling_bursts_are_retried_and_the_deploy_still_verifies() {
    let run = deploy("throttled", "v1.4.0");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(revision(&run.json), format!("{FAMILY}:43"));
    assert!(
        run.json["aws_calls"]["DescribeTargetHealth"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(recorded(&run).0, "succeeded");
}

#[test]
fn access_denied_names_the_action_and_changes_nothing() {
    let run = deploy("access-denied", "v1.4.0");
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert_eq!(run.json["outcome"], "failed");
    assert_eq!(run.json["rolled_back"], false);
    assert!(
        run.json["reason"]
            .as_str()
            .unwrap()
            .contains("ecs:UpdateService")
    );
    assert_eq!(revision(&run.json), format!("{FAMILY}:42"));
    assert_eq!(recorded(&run).0, "failed");
}

#[test]
fn failed_snapshot_blocks_the_deploy() {
    // staging snapshots before a major version: v2.0.0 after v1.3.0.
    let run = deploy("snapshot-fails", "v2.0.0");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.json["outcome"], "failed");
    assert!(run.json["reason"].as_str().unwrap().contains("snapshot"));
    assert_eq!(revision(&run.json), format!("{FAMILY}:42"));
    assert_eq!(recorded(&run).0, "failed");
}

fn staging() -> (Model, Environment) {
    let model = load_dir(root()).unwrap();
    let env = model.environments["staging"].clone();
    (model, env)
}

fn fleet(n: usize) -> Environment {
    amagent::sandbox::fleet(&staging().1, n)
}

#[tokio::test(start_paused = true)]
async fn ten_services_at_once_with_one_bad() {
    let env = fleet(10);
    let bad = fake_digest("aussie-markets/svc7:v1.4.0");
    let faults = FaultScript::from_yaml(&format!(
        "images:\n  - match: \"{bad}\"\n    crashAfterSeconds: 15\n"
    ))
    .unwrap();
    let sandbox = Sandbox::for_environment(&env, faults);
    let cloud = sandbox.sim.cloud();
    let dir = tempfile::tempdir().unwrap();
    let journal = LocalJournal::new(dir.path());
    let ctx = Context {
        concurrency: 10,
        ..Context::new(&cloud, &sandbox.clock, &journal, &Silent)
    };
    let mut images = BTreeMap::new();
    let mut plan = amagent::plan::manual_deploy(&env, &env.services[0], "v1.4.0");
    let template = plan.services[0].clone();
    plan.services.clear();
    for s in &env.services {
        images.insert(s.name.clone(), sandbox.resolve_image(s, "v1.4.0").unwrap());
        let mut sp = template.clone();
        sp.name = s.name.clone();
        plan.services.push(sp);
    }
    let report = executor::execute(
        &ctx,
        EnvRun {
            env: &env,
            plan: &plan,
            images,
            commit: None,
            lifecycle_dry_run: false,
            resume_since: None,
        },
    )
    .await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(deploy_exit(&report), Exit::Failed);
    assert_eq!(report.deploys.len(), 10);
    for d in &report.deploys {
        let running = sandbox
            .sim
            .running_task_definition(
                &env.ecs.cluster,
                &format!("aussie-markets-{}-staging", d.service),
            )
            .unwrap();
        if d.service == "svc7" {
            assert_eq!(d.outcome, Outcome::Failed);
            assert!(d.rolled_back);
            assert!(
                running.ends_with("aussie-markets-svc7-task:42"),
                "{running}"
            );
        } else {
            assert_eq!(d.outcome, Outcome::Succeeded, "{d:?}");
            assert!(running.ends_with(":43"), "{running}");
        }
        assert_eq!(d.task_definition.as_deref(), Some(running.as_str()));
    }
    let records = journal.read(Some("staging")).await.unwrap();
    let verdicts = records
        .iter()
        .filter(|r| r.step == "deploy" && r.phase == Phase::Finished)
        .count();
    assert_eq!(verdicts, 10);
}

#[tokio::test(start_paused = true)]
async fn lifecycle_keeps_an_old_image_that_still_runs() {
    let (_, mut env) = staging();
    // Keep only the last 3 tagged: the running v1.3.0 (pushed 21 days ago) is outside that
    // window, but it runs, so it must stay.
    env.ecr.lifecycle.keep_last_tagged = 3;
    let sandbox = Sandbox::for_environment(&env, FaultScript::builtin("healthy").unwrap());
    let cloud = sandbox.sim.cloud();
    let dir = tempfile::tempdir().unwrap();
    let journal = LocalJournal::new(dir.path());
    let ctx = Context {
        concurrency: 1,
        ..Context::new(&cloud, &sandbox.clock, &journal, &Silent)
    };
    let running = fake_digest("aussie-markets/api:v1.3.0");
    let services: Vec<_> = env.services.iter().collect();
    let reports = executor::run_lifecycle(&ctx, &env, &services, false).await;
    let report = &reports[0];
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(report.expire.iter().all(|v| v.digest != running));
    let kept = report.keep.iter().find(|v| v.digest == running).unwrap();
    assert!(
        kept.reason
            .starts_with("protected: running in aussie-markets-api-task:42"),
        "{}",
        kept.reason
    );
    let left: Vec<String> = sandbox
        .sim
        .images("aussie-markets/api")
        .into_iter()
        .map(|i| i.digest)
        .collect();
    assert!(left.contains(&running));
    // 12 old tags + the running one: 3 kept by the rule, the running one protected; the two
    // untagged images are older than a day.
    assert_eq!(report.deleted.len(), 13 - 3 - 1 + 2);
    assert_eq!(left.len(), 4);
    let _ = Clock::system;
}

#[tokio::test(start_paused = true)]
async fn scaling_without_a_new_revision_is_verified_not_failed() {
    // Only desiredCount changes (1 → 3): the same task definition, so ECS keeps its deployment.
    let (_, mut env) = staging();
    let sandbox = Sandbox::for_environment(&env, FaultScript::builtin("healthy").unwrap());
    env.services[0].desired_count = amagent::config::desired_count::DesiredCount::Tasks(3);
    let cloud = sandbox.sim.cloud();
    let dir = tempfile::tempdir().unwrap();
    let journal = LocalJournal::new(dir.path());
    let ctx = Context::new(&cloud, &sandbox.clock, &journal, &Silent);
    let running = sandbox.resolve_image(&env.services[0], "v1.3.0").unwrap();
    let plan = amagent::plan::manual_deploy(&env, &env.services[0], "v1.3.0");
    let report = executor::execute(
        &ctx,
        EnvRun {
            env: &env,
            plan: &plan,
            images: BTreeMap::from([("api".to_string(), running)]),
            commit: None,
            lifecycle_dry_run: true,
            resume_since: None,
        },
    )
    .await;
    let d = &report.deploys[0];
    assert_eq!(d.outcome, Outcome::Succeeded, "{d:?}");
    assert!(
        d.task_definition
            .as_deref()
            .unwrap()
            .ends_with("aussie-markets-api-task:42")
    );
    let service = sandbox
        .sim
        .service(&env.ecs.cluster, "aussie-markets-api-staging")
        .unwrap();
    assert_eq!(service.desired_count, 3);
}
