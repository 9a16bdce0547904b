//! GitHub Deployments (issue 18 item 3): each environment apply creates a deployment of the
//! merged commit, `in_progress` while it deploys, then `success` or `failure` — asserted call by
//! call on the fake GitHub, with the agent applying real merges on the simulator. And the
//! reporter's own calls against wiremock: the retry policy of every other GitHub call.

mod support;

use amagent::cloud::sim::{FaultScript, ImageRule};
use amagent::report::github::GitHub;
use amagent::report::{Deployment, DeploymentState, Reporter};
use amagent::sandbox::Sandbox;
use amagent::secret::Secret;
use amagent::stages::deploy::Outcome;
use amagent::state::journal::{Journal, LocalJournal};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::envrepo::{self, edit, git, source_repo};
use support::github::FakeGitHub;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(start_paused = true)]
async fn a_merge_that_deploys_and_one_that_rolls_back_each_make_one_deployment() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("api-src");
    std::fs::create_dir_all(&source).unwrap();
    let (v14, v15) = source_repo(&source);
    let repo = tmp.path().join("envrepo");
    envrepo::example(&repo, |text| {
        let text = text.replace(
            "url: https://github.com/aussie-markets/api.git",
            &format!("url: {}", source.display()),
        );
        match text.contains("name: staging") {
            true => text.replacen(
                "services:\n",
                "github:\n  deployment:\n    url: https://staging.aussie-markets.com\nservices:\n",
                1,
            ),
            false => text,
        }
    });
    // Both images are in ECR already (built by CI); v1.5.0's tasks crash.
    let (good, bad) = (
        format!("sha256:{}", "4".repeat(64)),
        format!("sha256:{}", "5".repeat(64)),
    );
    let faults = FaultScript::new().image(ImageRule::new(&bad).crash_after(15));
    let model = amagent::config::load_dir(&repo).unwrap_or_else(|e| panic!("{e:?}"));
    let envs: Vec<_> = model.environments.values().cloned().collect();
    let sandbox = Sandbox::for_environments(&envs, faults, amagent::sandbox::epoch());
    let now = amagent::sandbox::epoch();
    sandbox
        .sim
        .push_image("aussie-markets/api", &good, &[&v14, "v1.4.0"], now);
    sandbox
        .sim
        .push_image("aussie-markets/api", &bad, &[&v15, "v1.5.0"], now);
    let journal: Arc<dyn Journal> = Arc::new(LocalJournal::new(tmp.path().join("journal")));
    let mut agent = envrepo::sim_agent(&repo, tmp.path(), &sandbox, journal);
    let github = FakeGitHub::start();
    agent.reporter = Arc::new(
        GitHub::from_token(&github.url, "o", "r", Secret::new("ghp_deployments_token"))
            .unwrap()
            .with_target_url(Some("https://amagent.example.com".into())),
    );
    agent.tick().await.unwrap(); // adopt: nothing deployed, no deployment
    assert!(github.deployments().is_empty());

    let staging_file = "environments/staging.yaml";
    edit(
        &repo,
        staging_file,
        "ref: v1.3.0",
        "ref: v1.4.0",
        "Merge pull request #11",
    );
    let good_merge = git(&repo, &["rev-parse", "HEAD"]);
    let tick = agent.tick().await.unwrap();
    assert_eq!(tick.applied[0].outcome, Outcome::Succeeded, "{tick:?}");
    edit(
        &repo,
        staging_file,
        "ref: v1.4.0",
        "ref: v1.5.0",
        "Merge pull request #12",
    );
    let bad_merge = git(&repo, &["rev-parse", "HEAD"]);
    let tick = agent.tick().await.unwrap();
    assert!(tick.applied[0].deploys[0].rolled_back, "{tick:?}");

    // The exact calls, in order: create, in_progress, verdict — per merge.
    let calls: Vec<String> = github
        .requests()
        .into_iter()
        .filter(|r| r.contains("/deployments"))
        .collect();
    assert_eq!(
        calls,
        [
            "POST /repos/o/r/deployments",
            "POST /repos/o/r/deployments/7001/statuses",
            "POST /repos/o/r/deployments/7001/statuses",
            "POST /repos/o/r/deployments",
            "POST /repos/o/r/deployments/7002/statuses",
            "POST /repos/o/r/deployments/7002/statuses",
        ]
    );
    let d = github.deployments();
    let created = &d[0].body;
    assert_eq!(created["ref"], good_merge.as_str());
    assert_eq!(created["environment"], "staging");
    assert_eq!(created["auto_merge"], false);
    assert_eq!(created["required_contexts"], json!([]));
    assert_eq!(created["production_environment"], false);
    assert_eq!(created["transient_environment"], false);
    let image = created["payload"]["services"]["api"].as_str().unwrap();
    assert!(image.ends_with(&format!("@{good}")), "{created}");
    assert!(
        created["payload"]["run"]
            .as_str()
            .unwrap()
            .starts_with("staging-apply-")
    );

    let status = |i: usize| (d[i].id, d[i].status.clone().unwrap(), d[i].body.clone());
    let (id, state, body) = status(1);
    assert_eq!((id, state.as_str()), (7001, "in_progress"));
    assert_eq!(
        body["environment_url"],
        "https://staging.aussie-markets.com"
    );
    assert_eq!(body["log_url"], "https://amagent.example.com");
    let (id, state, body) = status(2);
    assert_eq!((id, state.as_str()), (7001, "success"), "{body}");
    // GitHub itself marks the previous deployment of the environment inactive.
    assert_eq!(body["auto_inactive"], true);

    assert_eq!(d[3].body["ref"], bad_merge.as_str());
    assert!(
        d[3].body["payload"]["services"]["api"]
            .as_str()
            .unwrap()
            .ends_with(&format!("@{bad}"))
    );
    let (id, state, _) = status(4);
    assert_eq!((id, state.as_str()), (7002, "in_progress"));
    let (id, state, body) = status(5);
    assert_eq!((id, state.as_str()), (7002, "failure"), "{body}");
    assert!(
        body["description"].as_str().unwrap().contains("failed"),
        "{body}"
    );
}

fn deployment() -> Deployment {
    Deployment {
        env: "production".into(),
        commit: "3e1a9d7c5b2f4e6a8c0b1d3f5e7a9c2b4d6f8e0a".into(),
        run: "production-promote-v1.4.0".into(),
        production: true,
        transient: false,
        environment_url: None,
        description: "amagent: api".into(),
        payload: json!({ "services": { "api": "api@sha256:ab" } }),
    }
}

fn published(object: &str) -> Value {
    let delivery: Value = serde_json::from_str(include_str!(
        "fixtures/github/deployment_status.created.json"
    ))
    .unwrap();
    delivery[object].clone()
}

fn reporter(server: &MockServer) -> GitHub {
    GitHub::from_token(&server.uri(), "o", "r", Secret::new("ghp_x"))
        .unwrap()
        .with_retry_base(Duration::from_millis(1))
}

#[tokio::test]
async fn creating_a_deployment_is_retried_after_a_server_error_and_not_after_a_refusal() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/deployments"))
        .respond_with(ResponseTemplate::new(502).set_body_json(json!({"message": "Bad Gateway"})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/deployments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(published("deployment")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/deployments/145988746/statuses"))
        .respond_with(ResponseTemplate::new(422).set_body_json(
            json!({"message": "Validation Failed", "documentation_url": "https://docs.github.com"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let gh = reporter(&server);
    let d = deployment();
    let id = gh.create_deployment(&d).await.unwrap();
    assert_eq!(id, Some(145988746), "the id of GitHub's answer");
    let refused = gh
        .deployment_status(145988746, &d, DeploymentState::Success, "deployed")
        .await;
    let e = refused.unwrap_err().to_string();
    assert!(e.contains("Validation Failed (HTTP 422)"), "{e}");
    let sent = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&sent[1].body).unwrap();
    assert_eq!(body["production_environment"], true);
    assert_eq!(body["payload"]["services"]["api"], "api@sha256:ab");
    // `expect` counts are checked when the server drops: 2 creations, 1 status (no retry).
}
