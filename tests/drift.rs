//! `amagent diff` and `drift::observe` on the simulator: an account that runs what Git says
//! shows no difference; a console edit (another revision with more CPU, a manual scale) shows
//! each edited field with both values, and `diff --exit-code` tells them apart.

use amagent::cloud::retry::RetryPolicy;
use amagent::cloud::sim::FaultScript;
use amagent::cloud::types::UpdateService;
use amagent::config::load_dir;
use amagent::drift::FieldDiff;
use amagent::drift::observe::observe;
use amagent::sandbox::Sandbox;
use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(start_paused = true)]
async fn a_console_edit_shows_each_field_with_both_values() {
    let model = load_dir(repo()).unwrap();
    let env = model.environments["staging"].clone();
    let sandbox = Sandbox::for_environment(&env, FaultScript::builtin("healthy").unwrap());
    let cloud = sandbox.sim.cloud();
    let specs: Vec<_> = env.services.iter().collect();
    let before = observe(&cloud, RetryPolicy::default(), &env, &specs)
        .await
        .unwrap();
    assert!(
        before
            .iter()
            .all(|d| d.diffs.is_empty() && d.error.is_none()),
        "{before:?}"
    );

    // Someone edits the service in the console: a revision with 1024 CPU, scaled to 3.
    let api = &env.services[0];
    let service = &cloud
        .ecs
        .describe_services(&env.ecs.cluster, std::slice::from_ref(&api.ecs.service))
        .await
        .unwrap()[0];
    let mut td = cloud
        .ecs
        .describe_task_definition(&service.task_definition)
        .await
        .unwrap();
    td.cpu = Some("1024".into());
    td.memory = Some("2048".into());
    let edited = cloud.ecs.register_task_definition(&td).await.unwrap();
    cloud
        .ecs
        .update_service(&UpdateService {
            cluster: env.ecs.cluster.clone(),
            service: api.ecs.service.clone(),
            task_definition: edited.arn.clone(),
            desired_count: Some(3),
            deployment_configuration: None,
            ..Default::default()
        })
        .await
        .unwrap();

    let after = observe(&cloud, RetryPolicy::default(), &env, &specs)
        .await
        .unwrap();
    let field = |name: &str, git: String, running: &str| FieldDiff {
        field: name.into(),
        git: Some(git),
        running: Some(running.into()),
    };
    assert_eq!(
        after[0].diffs,
        [
            field("cpu", api.cpu.to_string(), "1024"),
            field("memory", api.memory.to_string(), "2048"),
            field("desiredCount", api.desired_count.to_string(), "3"),
        ]
    );
}

#[test]
fn diff_on_an_account_that_runs_what_git_says_exits_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args([
            "--output",
            "json",
            "diff",
            "--env",
            "staging",
            "--sim",
            "healthy",
            "--exit-code",
            "--dir",
        ])
        .arg(repo())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["env"], "staging");
    assert_eq!(json["services"][0]["service"], "api");
    assert_eq!(json["services"][0]["diffs"], serde_json::json!([]));

    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args([
            "diff",
            "--env",
            "staging",
            "--service",
            "nope",
            "--sim",
            "healthy",
            "--dir",
        ])
        .arg(repo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no service `nope` (services: api"));
}

mod support;

use support::statuses::Statuses;

/// Scale staging's api to `count` behind the agent's back, as someone in the console would.
async fn scale(sandbox: &Sandbox, env: &amagent::config::Environment, count: u32) {
    let cloud = sandbox.sim.cloud();
    let api = &env.services[0];
    let service = cloud
        .ecs
        .describe_services(&env.ecs.cluster, std::slice::from_ref(&api.ecs.service))
        .await
        .unwrap()
        .remove(0);
    cloud
        .ecs
        .update_service(&UpdateService {
            cluster: env.ecs.cluster.clone(),
            service: api.ecs.service.clone(),
            task_definition: service.task_definition,
            desired_count: Some(count),
            deployment_configuration: None,
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn desired(sandbox: &Sandbox, env: &amagent::config::Environment) -> u32 {
    let api = &env.services[0];
    sandbox
        .sim
        .cloud()
        .ecs
        .describe_services(&env.ecs.cluster, std::slice::from_ref(&api.ecs.service))
        .await
        .unwrap()[0]
        .desired_count
}

async fn agent_on(
    self_heal: bool,
) -> (
    tempfile::TempDir,
    Sandbox,
    amagent::daemon::Agent,
    std::sync::Arc<Statuses>,
) {
    agent_with(move |text| match self_heal {
        true => text.replacen("ecs:\n  cluster:", "selfHeal: true\necs:\n  cluster:", 1),
        false => text.to_string(),
    })
    .await
}

/// The agent on the example, each file passed through `edit`, after adoption.
async fn agent_with(
    edit: impl Fn(&str) -> String,
) -> (
    tempfile::TempDir,
    Sandbox,
    amagent::daemon::Agent,
    std::sync::Arc<Statuses>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("envrepo");
    support::envrepo::example(&repo, edit);
    let model = load_dir(&repo).unwrap();
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, FaultScript::new(), amagent::sandbox::epoch());
    let journal = std::sync::Arc::new(amagent::state::journal::LocalJournal::new(
        tmp.path().join("journal"),
    ));
    let mut agent = support::envrepo::sim_agent(&repo, tmp.path(), &sandbox, journal);
    let statuses = std::sync::Arc::new(Statuses::default());
    agent.reporter = statuses.clone();
    agent.drift_interval = Some(std::time::Duration::ZERO);
    agent.tick().await.unwrap(); // adopt
    (tmp, sandbox, agent, statuses)
}

#[tokio::test(start_paused = true)]
async fn the_agent_reports_a_console_edit_once_and_its_end() {
    let (_tmp, sandbox, mut agent, statuses) = agent_on(false).await;
    let env = load_dir(repo()).unwrap().environments["staging"].clone();
    agent.tick().await.unwrap();
    assert!(
        statuses.of("staging/drift").is_empty(),
        "no drift, nothing said: {:?}",
        statuses.of("staging/drift")
    );

    scale(&sandbox, &env, 3).await;
    agent.tick().await.unwrap();
    agent.tick().await.unwrap();
    let said = statuses.of("staging/drift");
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert_eq!(said[0].0, amagent::report::Status::Failure);
    assert_eq!(said[0].1, "api: desiredCount 1 → 3 (running)");
    let metrics = agent.metrics.encode();
    assert!(
        metrics.contains(r#"amagent_drift{env="staging",service="api",field="desiredCount"} 1"#),
        "{metrics}"
    );
    assert_eq!(
        desired(&sandbox, &env).await,
        3,
        "not healed without selfHeal"
    );

    scale(&sandbox, &env, 1).await;
    agent.tick().await.unwrap();
    let said = statuses.of("staging/drift");
    assert_eq!(said.len(), 2);
    assert_eq!(
        said[1],
        (
            amagent::report::Status::Success,
            "runs what Git says".into()
        )
    );
    assert!(
        !agent.metrics.encode().contains("amagent_drift{"),
        "{}",
        agent.metrics.encode()
    );
}

#[tokio::test(start_paused = true)]
async fn with_self_heal_the_agent_restores_git_through_the_gate() {
    let (_tmp, sandbox, mut agent, statuses) = agent_on(true).await;
    let env = load_dir(repo()).unwrap().environments["staging"].clone();
    scale(&sandbox, &env, 3).await;
    agent.tick().await.unwrap();
    assert_eq!(
        desired(&sandbox, &env).await,
        1,
        "healed: {:?}",
        statuses.of("staging/drift")
    );
    agent.tick().await.unwrap();
    let said = statuses.of("staging/drift");
    assert_eq!(said.last().unwrap().1, "runs what Git says", "{said:?}");
}

/// `desiredCount: managed`: an autoscaler's count is not drift, self-heal leaves it, and a
/// deploy keeps it.
#[tokio::test(start_paused = true)]
async fn an_autoscaled_count_is_neither_drift_nor_reset_by_a_deploy() {
    let managed = |text: &str| {
        text.replacen("ecs:\n  cluster:", "selfHeal: true\necs:\n  cluster:", 1)
            .replacen("desiredCount: 1", "desiredCount: managed", 1)
    };
    let (tmp, sandbox, mut agent, statuses) = agent_with(managed).await;
    let env = load_dir(&tmp.path().join("envrepo")).unwrap().environments["staging"].clone();
    assert_eq!(env.services[0].desired_count.to_string(), "managed");
    scale(&sandbox, &env, 4).await; // the autoscaler
    agent.tick().await.unwrap();
    agent.tick().await.unwrap();
    assert!(
        statuses
            .of("staging/drift")
            .iter()
            .all(|(s, _)| *s == amagent::report::Status::Success),
        "{:?}",
        statuses.of("staging/drift")
    );
    assert_eq!(
        desired(&sandbox, &env).await,
        4,
        "self-heal left the autoscaler's count"
    );
    // A merge that changes the api deploys it and keeps the count.
    support::envrepo::edit(
        &tmp.path().join("envrepo"),
        "environments/staging.yaml",
        "memory: 512 ",
        "memory: 1024 ",
        "Merge pull request #5",
    );
    let tick = agent.tick().await.unwrap();
    let staging = tick.applied.iter().find(|r| r.env == "staging").unwrap();
    assert_eq!(staging.deploys.len(), 1, "{tick:?}");
    assert_eq!(staging.outcome, amagent::stages::deploy::Outcome::Succeeded);
    assert_eq!(desired(&sandbox, &env).await, 4);
}

/// A new drift is told once to the environment's notification targets (`events: [drift]`).
#[tokio::test(start_paused = true)]
async fn a_new_drift_is_notified_once() {
    let receiver = support::receiver::Receiver::start();
    let block = format!(
        "notify:\n  - webhook:\n      url: {}/drift\n    events: [drift]\nservices:\n",
        receiver.url
    );
    let (_tmp, sandbox, mut agent, _) = agent_with(|text| match text.contains("name: staging") {
        true => text.replacen("services:\n", &block, 1),
        false => text.to_string(),
    })
    .await;
    let env = load_dir(repo()).unwrap().environments["staging"].clone();
    scale(&sandbox, &env, 3).await;
    agent.tick().await.unwrap();
    agent.tick().await.unwrap();
    assert!(
        agent
            .notifier()
            .wait_idle(std::time::Duration::from_secs(30))
    );
    let told: Vec<serde_json::Value> = receiver.to("/drift").iter().map(|r| r.json()).collect();
    assert_eq!(told.len(), 1, "said once: {told:?}");
    assert_eq!(told[0]["event"], "drift");
    assert_eq!(told[0]["services"][0]["name"], "api");
    assert_eq!(
        told[0]["services"][0]["reason"],
        "api: desiredCount 1 → 3 (running)"
    );
}
