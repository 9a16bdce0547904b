//! Gates before and after the rollout (issue 17), on the simulator through the library: the
//! pre-deploy task (`preDeploy`: passes → deploy; exits 1 → nothing deployed, log tail in the
//! comment; times out; never starts) and CloudWatch alarms (one firing during the bake rolls
//! back naming it; ECS's own deployment alarms are watched and kept; a missing alarm refuses).

use amagent::cloud::sim::{AlarmRule, FaultScript, OneOffRule};
use amagent::cloud::types::DeploymentAlarms;
use amagent::config::{Environment, PreDeploy, load_dir};
use amagent::executor::{self, EnvReport, EnvRun};
use amagent::report::render_comment;
use amagent::sandbox::Sandbox;
use amagent::stages::deploy::{FailureKind, Outcome, Progress};
use amagent::state::journal::{Journal, LocalJournal};
use std::collections::BTreeMap;
use std::path::Path;

const API: &str = "aussie-markets-api-staging";
const CLUSTER: &str = "aussie-markets-staging";
const ALARM: &str = "aussie-markets-api-staging-5xx";

struct World {
    env: Environment,
    sandbox: Sandbox,
    journal: LocalJournal,
    dir: tempfile::TempDir,
    progress: Steps,
}

/// The progress lines of the deploys, in order: what the rollout went through.
#[derive(Default)]
struct Steps(std::sync::Mutex<Vec<String>>);

impl Progress for Steps {
    fn step(&self, _: &str, _: &str, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
    fn done(&self, _: &str, _: &str, _: bool, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

fn staging(edit: impl FnOnce(&mut amagent::config::Service)) -> Environment {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut env = load_dir(root).unwrap().environments["staging"].clone();
    edit(&mut env.services[0]);
    env
}

fn migrate(timeout_seconds: u32) -> Option<PreDeploy> {
    Some(PreDeploy {
        command: vec!["npm".into(), "run".into(), "migrate".into()],
        timeout_seconds,
        container: None,
    })
}

impl World {
    fn new(env: Environment, faults: FaultScript) -> World {
        let sandbox = Sandbox::for_environment(&env, faults);
        let dir = tempfile::tempdir().unwrap();
        World {
            journal: LocalJournal::new(dir.path()),
            dir,
            env,
            sandbox,
            progress: Steps::default(),
        }
    }

    async fn deploy(&self, tag: &str) -> EnvReport {
        let cloud = self.sandbox.sim.cloud();
        let ctx =
            executor::Context::new(&cloud, &self.sandbox.clock, &self.journal, &self.progress);
        let spec = &self.env.services[0];
        let image = self.sandbox.resolve_image(spec, tag).unwrap();
        let plan = amagent::plan::manual_deploy(&self.env, spec, tag);
        executor::execute(
            &ctx,
            EnvRun {
                env: &self.env,
                plan: &plan,
                images: BTreeMap::from([(spec.name.clone(), image)]),
                commit: Some("c0ffee1".into()),
                lifecycle_dry_run: true,
                resume_since: None,
            },
        )
        .await
    }

    fn running(&self) -> String {
        let td = self
            .sandbox
            .sim
            .running_task_definition(CLUSTER, API)
            .unwrap();
        td.rsplit('/').next().unwrap().to_string()
    }

    fn calls(&self, operation: &str) -> u64 {
        self.sandbox
            .sim
            .calls()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// The journal's steps for the service, in order, as `step:phase:outcome`.
    async fn steps(&self) -> Vec<String> {
        self.journal
            .read(Some("staging"))
            .await
            .unwrap()
            .iter()
            .filter(|r| r.service.as_deref() == Some("api"))
            .map(|r| {
                format!(
                    "{}:{}:{}",
                    r.step,
                    r.phase.as_str(),
                    r.outcome.as_deref().unwrap_or("-")
                )
            })
            .collect()
    }
}

fn position(steps: &[String], prefix: &str) -> usize {
    steps
        .iter()
        .position(|s| s.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in {steps:#?}"))
}

#[tokio::test(start_paused = true)]
async fn a_migration_that_passes_runs_on_the_new_revision_before_the_service_is_updated() {
    let faults = FaultScript::new().one_off(OneOffRule::new("migrate").run_seconds(45));
    let w = World::new(staging(|s| s.pre_deploy = migrate(600)), faults);
    let report = w.deploy("v1.4.0").await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{report:#?}");
    assert_eq!(w.running(), "aussie-markets-api-task:43");
    let d = &report.deploys[0];
    let pre = d.pre_deploy.as_ref().expect("the pre-deploy task ran");
    assert!(
        pre.verdict.passed && pre.verdict.exit_code == Some(0),
        "{pre:#?}"
    );
    assert!(pre.task_definition.ends_with("aussie-markets-api-task:43"));
    // RunTask with the new revision, placed like the service, started by amagent.
    let tasks = w.sandbox.sim.one_off_tasks();
    assert_eq!(tasks.len(), 1);
    assert!(tasks[0].task_definition_arn.ends_with(":43"));
    assert_eq!(tasks[0].started_by, "amagent-pre-deploy");
    assert_eq!(w.calls("RunTask"), 1);
    assert_eq!(w.calls("StopTask"), 0);
    let steps = w.steps().await;
    assert!(position(&steps, "register:finished") < position(&steps, "pre-deploy:started"));
    assert!(
        position(&steps, "pre-deploy:finished:succeeded")
            < position(&steps, "update-service:started"),
        "{steps:#?}"
    );
    eprintln!(
        "migration passes: pre-deploy {:.0} s (virtual), whole deploy {:.0} s",
        pre.seconds, d.seconds
    );
}

#[tokio::test(start_paused = true)]
async fn a_migration_that_exits_1_deploys_nothing_and_the_comment_shows_its_log_tail() {
    let w = World::new(
        staging(|s| s.pre_deploy = migrate(600)),
        FaultScript::builtin("migration-fails").unwrap(),
    );
    let report = w.deploy("v1.4.0").await;
    assert_eq!(report.outcome, Outcome::Failed);
    let d = &report.deploys[0];
    assert_eq!(d.failure_kind, Some(FailureKind::PreDeploy), "{d:#?}");
    assert!(!d.rolled_back);
    // Nothing else changed: no UpdateService, the service runs its old revision; the new
    // revision stays registered, and the reason says so.
    assert_eq!(w.calls("UpdateService"), 0);
    assert_eq!(w.running(), "aussie-markets-api-task:42");
    assert_eq!(
        w.sandbox
            .sim
            .task_definition_revisions("aussie-markets-api-task"),
        vec![42, 43]
    );
    let reason = d.reason.as_deref().unwrap();
    assert!(reason.contains("exit code 1"), "{reason}");
    assert!(
        reason.contains("aussie-markets-api-task:43 stays registered"),
        "{reason}"
    );
    let pre = d.pre_deploy.as_ref().unwrap();
    assert_eq!(pre.verdict.exit_code, Some(1));
    let comment = render_comment(&report, Some("c0ffee1"));
    assert!(comment.contains("exit code: **1**"), "{comment}");
    assert!(
        comment.contains("Essential container in task exited"),
        "{comment}"
    );
    assert!(
        comment.contains("ERROR: relation \"orders\" does not exist"),
        "{comment}"
    );
    assert!(comment.contains("| api | pre-deploy | ❌ |"), "{comment}");
    // Journalled, without the application's log lines.
    let steps = w.steps().await;
    assert!(
        steps.contains(&"pre-deploy:finished:failed".to_string()),
        "{steps:#?}"
    );
    assert!(steps.contains(&"deploy:finished:failed".to_string()));
    assert!(!steps.iter().any(|s| s.starts_with("update-service")));
    let journal = std::fs::read_to_string(w.dir.path().join("staging.jsonl")).unwrap();
    assert!(
        !journal.contains("does not exist"),
        "log lines reached the journal"
    );
    eprintln!(
        "migration exits 1: pre-deploy {:.0} s (virtual)",
        pre.seconds
    );
}

#[tokio::test(start_paused = true)]
async fn a_migration_that_runs_past_its_timeout_is_stopped_and_nothing_deploys() {
    let faults = FaultScript::new().one_off(OneOffRule::new("migrate").run_seconds(7200));
    let w = World::new(staging(|s| s.pre_deploy = migrate(120)), faults);
    let report = w.deploy("v1.4.0").await;
    let d = &report.deploys[0];
    assert_eq!(d.failure_kind, Some(FailureKind::PreDeploy), "{d:#?}");
    let pre = d.pre_deploy.as_ref().unwrap();
    assert!(
        pre.verdict.timed_out && !pre.verdict.never_started,
        "{pre:#?}"
    );
    // ECS kills the container after the stop: 137.
    assert_eq!(pre.verdict.exit_code, Some(137));
    assert!(
        pre.summary.contains("timed out after 120 s"),
        "{}",
        pre.summary
    );
    assert_eq!(w.calls("StopTask"), 1);
    assert_eq!(w.calls("UpdateService"), 0);
    assert_eq!(w.running(), "aussie-markets-api-task:42");
    assert!((120.0..130.0).contains(&pre.seconds), "{}", pre.seconds);
}

#[tokio::test(start_paused = true)]
async fn a_task_that_never_starts_is_stopped_at_the_timeout_and_says_it_never_started() {
    let faults = FaultScript::new().one_off(OneOffRule::new("*").never_starts());
    let w = World::new(staging(|s| s.pre_deploy = migrate(300)), faults);
    let report = w.deploy("v1.4.0").await;
    let pre = report.deploys[0].pre_deploy.as_ref().unwrap();
    assert!(
        pre.verdict.never_started && pre.verdict.timed_out,
        "{pre:#?}"
    );
    assert_eq!(pre.verdict.exit_code, None);
    assert!(
        pre.summary.contains("never started within 300 s"),
        "{}",
        pre.summary
    );
    // Its container never ran: no log stream.
    assert_eq!(pre.log_tail, None);
    assert!(render_comment(&report, None).contains("log not available"));
    assert_eq!(w.calls("UpdateService"), 0);
}

#[tokio::test(start_paused = true)]
async fn an_alarm_firing_during_the_bake_rolls_back_naming_the_alarm() {
    // Healthy at ~170 s after UpdateService, bake 120 s: 200 s is inside the bake.
    let faults = FaultScript::new().alarm(AlarmRule::new(ALARM, 200));
    let w = World::new(staging(|s| s.deploy.alarms = vec![ALARM.into()]), faults);
    let report = w.deploy("v1.4.0").await;
    let d = &report.deploys[0];
    assert_eq!(d.outcome, Outcome::Failed, "{d:#?}");
    assert!(d.rolled_back, "{d:#?}");
    let reason = d.reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("CloudWatch alarm `{ALARM}` went into ALARM")),
        "{reason}"
    );
    assert!(reason.contains("Threshold Crossed"), "{reason}");
    assert_eq!(w.running(), "aussie-markets-api-task:42");
    // The gate had reached the bake: every new task was healthy before the alarm.
    let shown = w.progress.0.lock().unwrap().clone();
    let baking = position(&shown, "all new tasks healthy; baking");
    assert!(
        baking < position(&shown, "failed: CloudWatch alarm"),
        "{shown:#?}"
    );
    let records = w.journal.read(Some("staging")).await.unwrap();
    let gate = records
        .iter()
        .find(|r| r.step == "gate" && r.outcome.as_deref() == Some("failed"))
        .unwrap();
    assert_eq!(gate.detail["failure"]["kind"], "alarm");
    assert_eq!(gate.detail["failure"]["alarm"], ALARM);
    let comment = render_comment(&report, None);
    assert!(
        comment.contains(ALARM) && comment.contains("Rolled back to"),
        "{comment}"
    );
    eprintln!(
        "alarm during bake: verdict and rollback in {:.0} s (virtual)",
        d.seconds
    );
}

#[tokio::test(start_paused = true)]
async fn ecs_deployment_alarms_on_the_live_service_are_watched_and_kept() {
    let faults = FaultScript::new().alarm(AlarmRule::new("ecs-own-alarm", 60));
    let w = World::new(staging(|_| {}), faults);
    w.sandbox.sim.add_alarm("ecs-own-alarm");
    let ecs_alarms = DeploymentAlarms {
        alarm_names: vec!["ecs-own-alarm".into()],
        enable: true,
        rollback: false,
    };
    w.sandbox
        .sim
        .set_deployment_alarms(CLUSTER, API, ecs_alarms.clone());
    let report = w.deploy("v1.4.0").await;
    let d = &report.deploys[0];
    assert!(d.rolled_back, "{d:#?}");
    assert!(
        d.reason.as_deref().unwrap().contains("`ecs-own-alarm`"),
        "{d:#?}"
    );
    // UpdateService handed the service's alarms configuration back unchanged.
    let live = w.sandbox.sim.service(CLUSTER, API).unwrap();
    assert_eq!(live.deployment_configuration.alarms, Some(ecs_alarms));
}

#[tokio::test(start_paused = true)]
async fn an_alarm_that_does_not_exist_refuses_the_deploy_before_update_service() {
    let w = World::new(
        staging(|s| s.deploy.alarms = vec!["no-such-alarm".into()]),
        FaultScript::new(),
    );
    // The sandbox made the spec's alarms; this world's spec names one it did not.
    let w = World {
        env: staging(|s| s.deploy.alarms = vec!["misspelt-alarm".into()]),
        ..w
    };
    let report = w.deploy("v1.4.0").await;
    let d = &report.deploys[0];
    assert_eq!(d.failure_kind, Some(FailureKind::Config), "{d:#?}");
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("`misspelt-alarm` do not exist"),
        "{d:#?}"
    );
    assert_eq!(w.calls("UpdateService"), 0);
    assert_eq!(w.running(), "aussie-markets-api-task:42");
}

#[tokio::test(start_paused = true)]
async fn an_alarm_already_firing_before_the_deploy_does_not_block_it() {
    // Fires 60 s after a first deploy and stays: the second deploy starts under it.
    let faults = FaultScript::new().alarm(AlarmRule::new(ALARM, 5));
    let w = World::new(staging(|s| s.deploy.alarms = vec![ALARM.into()]), faults);
    let first = w.deploy("v1.4.0").await;
    assert!(first.deploys[0].rolled_back, "{first:#?}");
    let second = w.deploy("v1.5.0").await;
    assert_eq!(second.outcome, Outcome::Succeeded, "{second:#?}");
}

/// A second service, `api2`, alongside staging's api: its own ECS names and target group.
fn with_worker(env: &mut Environment, pre_deploy: Option<PreDeploy>) {
    let mut second = env.services[0].clone();
    second.name = "api2".into();
    second.ecs.service = "aussie-markets-api2-staging".into();
    second.ecs.task_family = "aussie-markets-api2-task".into();
    if let Some(lb) = second.load_balancer.as_mut() {
        lb.target_group = "aussie-markets-api2-staging".into();
    }
    second.pre_deploy = pre_deploy;
    env.services.push(second);
}

#[tokio::test(start_paused = true)]
async fn a_long_migration_does_not_stall_the_gate_of_a_rollout_already_in_flight() {
    // api2's migration takes 15 minutes — as long as api's whole rollout timeout. api starts
    // first; its gate must keep being polled while api2's start waits on the migration.
    let faults = FaultScript::new().one_off(OneOffRule::new("migrate").run_seconds(900));
    let mut env = staging(|_| {});
    with_worker(&mut env, migrate(1200));
    let w = World::new(env, faults);
    let cloud = w.sandbox.sim.cloud();
    let targets = w
        .env
        .services
        .iter()
        .map(|spec| amagent::stages::deploy::Target {
            env: "staging".into(),
            cluster: CLUSTER.into(),
            spec: spec.clone(),
            image: w.sandbox.resolve_image(spec, "v1.4.0").unwrap(),
            revision: None,
        })
        .collect();
    let rollout = amagent::stages::deploy::Rollout {
        cloud: &cloud,
        clock: &w.sandbox.clock,
        journal: &w.journal,
        progress: &w.progress,
        run_id: "staging-run",
        retry: Default::default(),
        concurrency: 4,
        pacer: Default::default(),
    };
    let results = rollout.run(targets).await;
    let by_name = |n: &str| results.iter().find(|r| r.service == n).unwrap();
    let api = by_name("api");
    assert_eq!(api.outcome, Outcome::Succeeded, "{api:#?}");
    // Verified long before the migration ended: not after it.
    assert!(api.seconds < 600.0, "{api:#?}");
    let api2 = by_name("api2");
    assert_eq!(api2.outcome, Outcome::Succeeded, "{api2:#?}");
    assert!(api2.pre_deploy.as_ref().unwrap().seconds >= 900.0);
    // api finished first, while api2 was still migrating.
    assert_eq!(results[0].service, "api");
}

/// `amagent deploy` on a copy of the example whose api has a migration, `--sim
/// migration-fails`: exit 1, the service not updated, the exit code and the log tail shown.
#[test]
fn the_deploy_command_shows_a_failed_migrations_exit_code_and_log() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = tempfile::tempdir().unwrap();
    for dir in ["environments", "pipelines"] {
        std::fs::create_dir(repo.path().join(dir)).unwrap();
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, repo.path().join(dir).join(path.file_name().unwrap())).unwrap();
        }
    }
    let staging = repo.path().join("environments/staging.yaml");
    let text = std::fs::read_to_string(&staging).unwrap().replacen(
        "    loadBalancer:\n",
        "    preDeploy:\n      command: [npm, run, migrate]\n    loadBalancer:\n",
        1,
    );
    std::fs::write(&staging, text).unwrap();
    let journal = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args([
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
            "--image",
            "v1.4.0",
        ])
        .args(["--sim", "migration-fails", "--repo"])
        .arg(repo.path())
        .arg("--journal")
        .arg(journal.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("FAILED (not rolled back; running aussie-markets-api-task:42)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pre-deploy task failed: exit code 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ERROR: relation \"orders\" does not exist"),
        "{stdout}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_settings_only_change_runs_no_pre_deploy_task() {
    // The running release (v1.3.0) with one more task: no new revision, nothing to migrate.
    let w = World::new(
        staging(|_| {}),
        FaultScript::builtin("migration-fails").unwrap(),
    );
    // The account runs one task; the spec now asks for two.
    let w = World {
        env: staging(|s| {
            s.pre_deploy = migrate(600);
            s.desired_count = amagent::config::desired_count::DesiredCount::Tasks(2);
        }),
        ..w
    };
    let report = w.deploy("v1.3.0").await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{report:#?}");
    assert!(report.deploys[0].pre_deploy.is_none());
    assert_eq!(w.calls("RunTask"), 0);
    assert_eq!(w.calls("UpdateService"), 1);
    assert_eq!(w.running(), "aussie-markets-api-task:42");
}

#[tokio::test(start_paused = true)]
async fn doctor_names_a_watched_alarm_that_does_not_exist_and_where_it_is_configured() {
    let w = World::new(
        staging(|s| s.deploy.alarms = vec![ALARM.into()]),
        FaultScript::new(),
    );
    let env = staging(|s| s.deploy.alarms = vec![ALARM.into(), "misspelt-alarm".into()]);
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("environments/staging.yaml"),
    )
    .unwrap()
    .replacen(
        "      autoRollback: true\n",
        &format!("      autoRollback: true\n      alarms: [{ALARM}, misspelt-alarm]\n"),
        1,
    );
    let locator = amagent::doctor::SpecLocator::new("environments/staging.yaml", &text);
    let checks = amagent::doctor::examine(&w.sandbox.sim.cloud(), &env, &locator).await;
    let alarm = |name: &str| {
        checks
            .iter()
            .find(|c| c.check == "CloudWatch alarm" && c.subject == name)
            .unwrap_or_else(|| panic!("no check of {name}: {checks:#?}"))
    };
    assert!(alarm(ALARM).ok);
    let missing = alarm("misspelt-alarm");
    assert!(!missing.ok);
    let fix = missing.fix.as_deref().unwrap();
    assert!(
        fix.contains("environments/staging.yaml:53 (services[0].deploy.alarms[1])"),
        "{fix}"
    );
}

#[tokio::test(start_paused = true)]
async fn run_task_denied_is_a_refusal_naming_the_action_and_nothing_deploys() {
    let w = World::new(
        staging(|s| s.pre_deploy = migrate(600)),
        FaultScript::new().deny("RunTask"),
    );
    let report = w.deploy("v1.4.0").await;
    let d = &report.deploys[0];
    assert_eq!(d.failure_kind, Some(FailureKind::Refused), "{d:#?}");
    assert!(
        d.reason.as_deref().unwrap().contains("ecs:RunTask"),
        "{d:#?}"
    );
    assert_eq!(w.calls("UpdateService"), 0);
    assert_eq!(w.running(), "aussie-markets-api-task:42");
}
