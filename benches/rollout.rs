//! Rollout efficiency on the simulator, for 1, 50 and 200 services rolling at once:
//! - virtual rollout time ÷ the physical floor (task start + the health checks a new target
//!   needs + the deregistration delay of the old target): how much the agent's polling adds;
//! - decision latency: from the simulator's state change that settles a rollout (the old task
//!   stopped at the drain's end; under `crash`, the new task exiting) to the agent's gate
//!   verdict in the journal, p50 / p95 / max;
//! - AWS calls per rollout, by operation, and calls AWS's token buckets (modelled: the
//!   simulator's `aws_read_limits`) throttled.
//!
//! `cargo bench --bench rollout` prints the figures (wall time too).

use amagent::cloud::sim::FaultScript;
use amagent::cloud::types::DesiredStatus;
use amagent::cloud::{Cloud, CloudError};
use amagent::config::{Environment, load_dir};
use amagent::executor::{self, Context, EnvRun};
use amagent::sandbox::Sandbox;
use amagent::stages::deploy::{DeployResult, Outcome, Silent};
use amagent::state::journal::{Journal, LocalJournal};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Simulator defaults the floor is made of (see cloud::sim): task start, one passing health
/// check one interval after registration, the target group's deregistration delay.
const TASK_START_S: f64 = 20.0;
const FIRST_CHECK_S: f64 = 30.0;
const DEREGISTRATION_S: f64 = 300.0;

fn fleet(n: usize) -> Environment {
    let model = load_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut env = amagent::sandbox::fleet(&model.environments["staging"], n);
    for s in &mut env.services {
        s.deploy.bake_seconds = 0; // measure the rollout itself, not the policy's bake
    }
    env
}

fn measure(n: usize, scenario: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let wall = Instant::now();
    runtime.block_on(async {
        let env = fleet(n);
        let faults = FaultScript::builtin(scenario).unwrap().aws_rate_limits();
        let sandbox = Sandbox::for_environment(&env, faults);
        let cloud = sandbox.sim.cloud();
        let dir = tempfile::tempdir().unwrap();
        let journal = LocalJournal::new(dir.path());
        let ctx = Context {
            concurrency: n,
            ..Context::new(&cloud, &sandbox.clock, &journal, &Silent)
        };
        let mut plan = amagent::plan::manual_deploy(&env, &env.services[0], "v1.4.0");
        plan.services[0].stages.retain(|s| s.stage == amagent::config::StageKind::Deploy);
        let template = plan.services[0].clone();
        plan.services.clear();
        let mut images = BTreeMap::new();
        for s in &env.services {
            images.insert(s.name.clone(), sandbox.resolve_image(s, "v1.4.0").unwrap());
            let mut sp = template.clone();
            sp.name = s.name.clone();
            plan.services.push(sp);
        }
        sandbox.sim.reset_calls();
        let started = tokio::time::Instant::now();
        let report = executor::execute(&ctx, EnvRun {
            env: &env,
            plan: &plan,
            images,
            commit: None,
            lifecycle_dry_run: true,
            resume_since: None,
        })
        .await;
        let virtual_s = started.elapsed().as_secs_f64();
        let calls = sandbox.sim.calls();
        let throttled = sandbox.sim.throttled();
        let expected = if scenario == "healthy" { Outcome::Succeeded } else { Outcome::Failed };
        assert!(report.deploys.iter().all(|d| d.outcome == expected), "{report:?}");
        let latencies = decision_latencies(&env, &cloud, &journal, &report.deploys).await;
        println!("rollout of {n} service(s) at once, scenario {scenario} (desired 1, 100/200, bake 0):");
        println!("  virtual time, whole run:      {virtual_s:8.1} s");
        if scenario == "healthy" {
            let floor = TASK_START_S + FIRST_CHECK_S + DEREGISTRATION_S;
            let slowest = report.deploys.iter().map(|d| d.seconds).fold(0.0, f64::max);
            println!("  slowest service's rollout:    {slowest:8.1} s");
            println!("  physical floor:               {floor:8.1} s (start {TASK_START_S} + first check {FIRST_CHECK_S} + deregistration {DEREGISTRATION_S})");
            println!("  ratio (slowest ÷ floor):      {:8.3}", slowest / floor);
        }
        println!(
            "  decision latency:             p50 {:.1} s, p95 {:.1} s, max {:.1} s",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.95),
            percentile(&latencies, 1.0)
        );
        println!("  wall time:                    {:8.1} ms", wall.elapsed().as_secs_f64() * 1000.0);
        let total: u64 = calls.values().sum();
        println!("  AWS calls per rollout:        {:8.1} (total {total})", total as f64 / n as f64);
        for (op, count) in &calls {
            println!("    {op:<30} {:8.2}", *count as f64 / n as f64);
        }
        let throttled_total: u64 = throttled.values().sum();
        println!("  throttled (AWS token buckets modelled): {throttled_total} {throttled:?}");
    });
}

/// Per service: the gate's verdict time (journal) minus the last task stop at or before it
/// (the simulator's stoppedAt) — the state change the verdict was waiting for.
async fn decision_latencies(
    env: &Environment,
    cloud: &Cloud,
    journal: &LocalJournal,
    deploys: &[DeployResult],
) -> Vec<f64> {
    let records = journal.read(None).await.unwrap();
    let mut out = Vec::new();
    for d in deploys {
        let verdict = records
            .iter()
            .filter(|r| r.service.as_deref() == Some(d.service.as_str()) && r.step == "gate")
            .filter(|r| r.outcome.is_some())
            .map(|r| r.at)
            .min()
            .expect("a gate verdict is journalled");
        let spec = env.services.iter().find(|s| s.name == d.service).unwrap();
        let (cluster, name) = (&env.ecs.cluster, &spec.ecs.service);
        // The bench's own look is throttled too (the buckets are the account's): wait it out.
        let arns = loop {
            match cloud
                .ecs
                .list_tasks(cluster, name, DesiredStatus::Stopped)
                .await
            {
                Err(CloudError::Throttled { .. }) => {
                    tokio::time::sleep(Duration::from_secs(1)).await
                }
                other => break other.unwrap(),
            }
        };
        let tasks = loop {
            match cloud.ecs.describe_tasks(cluster, &arns).await {
                Err(CloudError::Throttled { .. }) => {
                    tokio::time::sleep(Duration::from_secs(1)).await
                }
                other => break other.unwrap(),
            }
        };
        let change = tasks
            .iter()
            .filter_map(|t| t.stopped_at)
            .filter(|at| *at <= verdict)
            .max()
            .expect("a task stopped before the verdict");
        out.push((verdict - change).as_seconds_f64());
    }
    out
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

fn main() {
    // `cargo test --benches` passes --bench-less args; run the same either way.
    for n in [1, 50, 200] {
        measure(n, "healthy");
        println!();
    }
    measure(50, "crash");
}
