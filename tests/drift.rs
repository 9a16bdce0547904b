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
