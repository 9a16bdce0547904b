//! Rollout efficiency on the simulator, for 1 and 50 services rolling at once:
//! - virtual rollout time ÷ the physical floor (task start + the health checks a new target
//!   needs + the deregistration delay of the old target): how much the agent's polling adds;
//! - AWS calls per rollout, by operation.
//!
//! `cargo bench --bench rollout` prints the figures (wall time too).

use amagent::cloud::sim::FaultScript;
use amagent::config::{Environment, load_dir};
use amagent::executor::{self, Context, EnvRun};
use amagent::sandbox::Sandbox;
use amagent::stages::deploy::{Outcome, Silent};
use amagent::state::journal::LocalJournal;
use std::collections::BTreeMap;
use std::time::Instant;

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

fn measure(n: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let wall = Instant::now();
    runtime.block_on(async {
        let env = fleet(n);
        let sandbox = Sandbox::for_environment(&env, FaultScript::builtin("healthy").unwrap());
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
        assert!(report.deploys.iter().all(|d| d.outcome == Outcome::Succeeded), "{report:?}");
        let floor = TASK_START_S + FIRST_CHECK_S + DEREGISTRATION_S;
        let slowest = report.deploys.iter().map(|d| d.seconds).fold(0.0, f64::max);
        println!("rollout of {n} service(s) at once (desired 1, 100/200, bake 0):");
        println!("  virtual time, whole run:      {virtual_s:8.1} s");
        println!("  slowest service's rollout:    {slowest:8.1} s");
        println!("  physical floor:               {floor:8.1} s (start {TASK_START_S} + first check {FIRST_CHECK_S} + deregistration {DEREGISTRATION_S})");
        println!("  ratio (slowest ÷ floor):      {:8.3}", slowest / floor);
        println!("  wall time:                    {:8.1} ms", wall.elapsed().as_secs_f64() * 1000.0);
        let calls = sandbox.sim.calls();
        let total: u64 = calls.values().sum();
        println!("  AWS calls per rollout:        {:8.1} (total {total})", total as f64 / n as f64);
        for (op, count) in &calls {
            println!("    {op:<28} {:8.2}", *count as f64 / n as f64);
        }
    });
}

fn main() {
    // `cargo test --benches` passes --bench-less args; run the same either way.
    measure(1);
    println!();
    measure(50);
}
