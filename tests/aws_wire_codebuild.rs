//! The CodeBuild adapter on the wire: projects and builds against moto, and what moto does not
//! model — the overrides StartBuild sends, AWS's own BatchGetBuilds payload (exported variables,
//! log location, phase contexts) — against a local fake endpoint.
//!
//! moto (5.2) answers StartBuild, BatchGetBuilds and StopBuild with timestamps as ISO-8601
//! strings; AWS's JSON protocol sends them as epoch seconds (as in AWS's published example in
//! tests/fixtures/codebuild), and the Rust SDK refuses strings there. The moto tests therefore go
//! through `epoch_proxy`, which turns moto's `startTime`/`endTime` strings into epoch numbers
//! and changes nothing else.

mod support;

use amagent::cloud::types::{BuildStatus, NewBuildProject, StartBuild};
use amagent::cloud::{CloudError, ResourceKind};
use serde_json::{Value, json};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PROJECT: &str = "amagent-builds";
const ROLE: &str = "arn:aws:iam::123456789012:role/amagent-codebuild";
const SOURCE: &str = "amagent-build-sources/amagent/sources/5f1c.zip";
const JSON_1_1: &str = "application/x-amz-json-1.1";
const PUBLISHED: &str = include_str!("fixtures/codebuild/batch-get-builds-example.json");

fn new_project() -> NewBuildProject {
    NewBuildProject {
        name: PROJECT.into(),
        service_role: ROLE.into(),
        environment_type: "LINUX_CONTAINER".into(),
        compute_type: "BUILD_GENERAL1_SMALL".into(),
        image: "aws/codebuild/amazonlinux-x86_64-standard:5.0".into(),
        source_location: SOURCE.into(),
        timeout_minutes: 45,
        tags: vec![("amagent:pipeline".into(), "api".into())],
    }
}

fn start(project: &str) -> StartBuild {
    StartBuild {
        project: project.into(),
        source_location: SOURCE.into(),
        buildspec: "version: 0.2\nphases:\n  build:\n    commands: [docker buildx build .]\n"
            .into(),
        environment_type: "ARM_CONTAINER".into(),
        image: "aws/codebuild/amazonlinux-aarch64-standard:3.0".into(),
        compute_type: "BUILD_GENERAL1_MEDIUM".into(),
        privileged: true,
        environment: vec![
            ("IMAGE_REPO".into(), "aussie-markets/api".into()),
            ("IMAGE_TAG".into(), "v1.4.0".into()),
        ],
        timeout_minutes: 30,
        idempotency_token: "amagent-staging-api-5f1c".into(),
    }
}

/// moto behind a proxy that rewrites CodeBuild's ISO-8601 timestamps as epoch seconds.
async fn epoch_proxy(moto: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (client, moto) = (client.clone(), moto.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let codebuild = parts
                .headers
                .get("x-amz-target")
                .is_some_and(|t| t.as_bytes().starts_with(b"CodeBuild_"));
            let mut headers = parts.headers.clone();
            headers.remove("host");
            headers.remove("content-length");
            let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let answer = client
                .request(parts.method, format!("{moto}{pq}"))
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = answer.status();
            let mut headers = answer.headers().clone();
            headers.remove("content-length");
            headers.remove("transfer-encoding");
            let mut bytes = answer.bytes().await.unwrap().to_vec();
            if codebuild && status.is_success() {
                let mut v: Value = serde_json::from_slice(&bytes).unwrap();
                epochs(&mut v);
                bytes = serde_json::to_vec(&v).unwrap();
            }
            (status, headers, bytes)
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn epochs(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(s) if key == "startTime" || key == "endTime" => {
                        let t = chrono::DateTime::parse_from_rfc3339(s)
                            .unwrap_or_else(|e| panic!("moto's {key} `{s}`: {e}"));
                        *value = json!(t.timestamp_millis() as f64 / 1000.0);
                    }
                    other => epochs(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(epochs),
        _ => {}
    }
}

#[tokio::test]
async fn a_missing_project_reads_as_none_and_a_created_one_reads_back() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    let cloud = aws.cloud();
    assert_eq!(cloud.builds.project(PROJECT).await.unwrap(), None);

    let created = cloud.builds.create_project(&new_project()).await.unwrap();
    assert_eq!(created.name, PROJECT);
    assert_eq!(
        created.arn,
        "arn:aws:codebuild:ap-southeast-2:123456789012:project/amagent-builds"
    );
    let read = cloud.builds.project(PROJECT).await.unwrap().unwrap();
    assert_eq!(read, created);
    assert_eq!(read.service_role, ROLE);
    assert_eq!(read.environment_type, "LINUX_CONTAINER");
    assert_eq!(read.image, "aws/codebuild/amazonlinux-x86_64-standard:5.0");
    assert_eq!(read.compute_type, "BUILD_GENERAL1_SMALL");
    assert!(read.privileged, "docker builds need privileged mode");
    // By ARN too: BatchGetProjects takes either.
    assert_eq!(cloud.builds.project(&read.arn).await.unwrap(), Some(read));

    // What the port does not carry back, read with the SDK: S3 source, no artifacts, logs on.
    let raw = aws_sdk_codebuild::Client::new(aws.sdk_config())
        .batch_get_projects()
        .names(PROJECT)
        .send()
        .await
        .unwrap();
    let p = &raw.projects()[0];
    let source = p.source().unwrap();
    assert_eq!(source.r#type().as_str(), "S3");
    assert_eq!(source.location(), Some(SOURCE));
    assert_eq!(p.artifacts().unwrap().r#type().as_str(), "NO_ARTIFACTS");
    let logs = p.logs_config().and_then(|l| l.cloud_watch_logs()).unwrap();
    assert_eq!(logs.status().as_str(), "ENABLED");
    assert_eq!(p.timeout_in_minutes(), Some(45));
    let tags: Vec<_> = p.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [(Some("amagent:pipeline"), Some("api"))]);
}

#[tokio::test]
async fn a_build_starts_queued_and_reads_back_with_its_phases_in_order() {
    let (_moto, moto) = support::moto::fresh().await;
    let cloud = support::connect(&epoch_proxy(moto).await).await.cloud();
    cloud.builds.create_project(&new_project()).await.unwrap();

    let started = cloud.builds.start_build(&start(PROJECT)).await.unwrap();
    let uuid = started.id.strip_prefix("amagent-builds:").unwrap();
    assert_eq!(
        uuid.split('-').map(str::len).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{}",
        started.id
    );
    assert_eq!(started.status, BuildStatus::InProgress);
    assert_eq!(started.current_phase, "QUEUED");
    let phases: Vec<_> = started.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(phases, ["SUBMITTED", "QUEUED"]);
    assert_eq!(started.phases[0].status.as_deref(), Some("SUCCEEDED"));
    assert_eq!(started.phases[1].status, None, "QUEUED is still running");
    assert!(started.started_at.is_some());
    assert_eq!(started.ended_at, None);

    // moto finishes a build the first time it is described. An unknown id is absent.
    let ids = [started.id.clone(), format!("{PROJECT}:no-such-build")];
    let builds = cloud.builds.batch_get_builds(&ids).await.unwrap();
    assert_eq!(builds.len(), 1);
    let done = &builds[0];
    assert_eq!(done.id, started.id);
    assert_eq!(done.status, BuildStatus::Succeeded);
    assert_eq!(done.current_phase, "COMPLETED");
    let phases: Vec<_> = done.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!(
        phases,
        [
            "SUBMITTED",
            "QUEUED",
            "PROVISIONING",
            "DOWNLOAD_SOURCE",
            "INSTALL",
            "PRE_BUILD",
            "BUILD",
            "POST_BUILD",
            "UPLOAD_ARTIFACTS",
            "FINALIZING",
            "COMPLETED"
        ]
    );
    assert!(
        done.phases
            .iter()
            .all(|p| p.status.as_deref() == Some("SUCCEEDED"))
    );
    assert!(done.ended_at.unwrap() > done.started_at.unwrap());
    assert!(done.exported.is_empty());
}

#[tokio::test]
async fn stopping_a_fresh_build_reads_stopped() {
    let (_moto, moto) = support::moto::fresh().await;
    let cloud = support::connect(&epoch_proxy(moto).await).await.cloud();
    cloud.builds.create_project(&new_project()).await.unwrap();
    let started = cloud.builds.start_build(&start(PROJECT)).await.unwrap();
    let stopped = cloud.builds.stop_build(&started.id).await.unwrap();
    assert_eq!(stopped.id, started.id);
    assert_eq!(stopped.status, BuildStatus::Stopped);
    assert!(stopped.status.is_done());
}

/// AWS documents ResourceNotFoundException for StartBuild on a project that does not exist;
/// moto answers the same code ("Project cannot be found: …").
#[tokio::test]
async fn starting_a_build_in_a_missing_project_is_not_found() {
    let (_moto, moto) = support::moto::fresh().await;
    let cloud = support::connect(&epoch_proxy(moto).await).await.cloud();
    let err = cloud.builds.start_build(&start("nope")).await.unwrap_err();
    assert_eq!(
        err,
        CloudError::NotFound {
            kind: ResourceKind::BuildProject,
            name: "nope".into()
        }
    );
    assert_eq!(err.to_string(), "CodeBuild project `nope` not found");
}

/// moto ignores StartBuild's overrides, so what is sent is read off the wire.
#[tokio::test]
async fn start_build_sends_every_override_and_the_idempotency_token() {
    let server = MockServer::start().await;
    let answer = json!({ "build": {
        "id": "amagent-builds:1b6b2f1e-0000-4000-8000-000000000001",
        "buildStatus": "IN_PROGRESS",
        "currentPhase": "QUEUED",
        "startTime": 1764668940.5,
        "phases": [{ "phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED" }, { "phaseType": "QUEUED" }]
    }});
    Mock::given(method("POST"))
        .and(header("x-amz-target", "CodeBuild_20161006.StartBuild"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(answer.to_string(), JSON_1_1))
        .expect(1)
        .mount(&server)
        .await;
    let cloud = support::connect(&server.uri()).await.cloud();
    let run = cloud.builds.start_build(&start(PROJECT)).await.unwrap();
    assert_eq!(run.status, BuildStatus::InProgress);
    assert_eq!(
        run.started_at.unwrap().to_rfc3339(),
        "2025-12-02T09:49:00.500+00:00"
    );

    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    let want = start(PROJECT);
    assert_eq!(
        sent,
        json!({
            "projectName": PROJECT,
            "sourceTypeOverride": "S3",
            "sourceLocationOverride": SOURCE,
            "buildspecOverride": want.buildspec,
            "environmentTypeOverride": "ARM_CONTAINER",
            "imageOverride": "aws/codebuild/amazonlinux-aarch64-standard:3.0",
            "computeTypeOverride": "BUILD_GENERAL1_MEDIUM",
            "privilegedModeOverride": true,
            "environmentVariablesOverride": [
                { "name": "IMAGE_REPO", "value": "aussie-markets/api", "type": "PLAINTEXT" },
                { "name": "IMAGE_TAG", "value": "v1.4.0", "type": "PLAINTEXT" }
            ],
            "timeoutInMinutesOverride": 30,
            "idempotencyToken": "amagent-staging-api-5f1c"
        })
    );
}

/// AWS's published BatchGetBuilds example (tests/fixtures/codebuild/SOURCES.md) as CodeBuild's
/// answer. The example has no exported variables and only empty phase contexts, so a copy adds
/// both, shaped as the API reference lists them (Build.exportedEnvironmentVariables
/// `[{name, value}]`, BuildPhase.contexts `[{statusCode, message}]`), to its second build, which
/// is made to fail in BUILD.
#[tokio::test]
async fn aws_s_published_batch_get_builds_maps_phases_logs_times_and_exports() {
    let mut answer: Value = serde_json::from_str(PUBLISHED).unwrap();
    let second = &mut answer["builds"][1];
    second["buildStatus"] = json!("FAILED");
    second["exportedEnvironmentVariables"] = json!([
        { "name": "IMAGE_DIGEST", "value": "sha256:9b2a6c1f0e" },
        { "name": "IMAGE_URI", "value": "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api" }
    ]);
    let build_phase = &mut second["phases"][5];
    assert_eq!(build_phase["phaseType"], "BUILD");
    build_phase["phaseStatus"] = json!("FAILED");
    build_phase["contexts"] = json!([{
        "statusCode": "COMMAND_EXECUTION_ERROR",
        "message": "Error while executing command: docker buildx build --push .. Reason: exit status 1"
    }]);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "CodeBuild_20161006.BatchGetBuilds"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(answer.to_string(), JSON_1_1))
        .expect(1)
        .mount(&server)
        .await;
    let cloud = support::connect(&server.uri()).await.cloud();
    let ids: Vec<String> = [
        "9b0ac37f-d19e-4254-9079-f47e9a389eEX",
        "b79a46f7-1473-4636-a23f-da9c45c208EX",
    ]
    .iter()
    .map(|u| format!("codebuild-demo-project:{u}"))
    .collect();
    // Empty and oversized asks are answered without a call (`expect(1)` counts them).
    assert!(cloud.builds.batch_get_builds(&[]).await.unwrap().is_empty());
    let too_many = vec![ids[0].clone(); 101];
    let err = cloud.builds.batch_get_builds(&too_many).await.unwrap_err();
    assert!(matches!(err, CloudError::InvalidRequest { .. }), "{err}");

    let builds = cloud.builds.batch_get_builds(&ids).await.unwrap();
    let sent: Value =
        serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent, json!({ "ids": ids }));

    let [first, second] = &builds[..] else {
        panic!("{builds:?}")
    };
    assert_eq!(first.id, ids[0]);
    assert_eq!(first.status, BuildStatus::Succeeded);
    assert_eq!(first.current_phase, "COMPLETED");
    assert_eq!(
        first.log,
        Some((
            "/aws/codebuild/codebuild-demo-project".into(),
            "9b0ac37f-d19e-4254-9079-f47e9a389eEX".into()
        ))
    );
    assert_eq!(millis(first.started_at), 1_479_832_341_854); // 2016-11-22T16:32:21.854Z
    assert_eq!(millis(first.ended_at), 1_479_832_474_764);
    let durations: Vec<_> = first
        .phases
        .iter()
        .map(|p| (p.phase.as_str(), p.duration_seconds))
        .collect();
    assert_eq!(durations[1], ("PROVISIONING", Some(72)));
    assert_eq!(
        durations[9],
        ("COMPLETED", None),
        "the last phase has no end"
    );
    assert_eq!(
        first.phases.len(),
        10,
        "no QUEUED phase in this 2016 example"
    );
    assert!(first.phases.iter().all(|p| p.messages.is_empty()));
    assert!(first.exported.is_empty());

    assert_eq!(second.status, BuildStatus::Failed);
    let failed = &second.phases[5];
    assert_eq!(
        (failed.phase.as_str(), failed.status.as_deref()),
        ("BUILD", Some("FAILED"))
    );
    assert_eq!(
        failed.messages,
        ["Error while executing command: docker buildx build --push .. Reason: exit status 1"]
    );
    assert_eq!(second.exported["IMAGE_DIGEST"], "sha256:9b2a6c1f0e");
    assert_eq!(second.exported.len(), 2);
}

/// Epoch seconds arrive as a float (1479832474.764 is 1479832474.76399993… in binary): the
/// nearest millisecond, as the example writes it.
fn millis(t: Option<chrono::DateTime<chrono::Utc>>) -> i64 {
    (t.unwrap().timestamp_nanos_opt().unwrap() + 500_000).div_euclid(1_000_000)
}

#[tokio::test]
async fn access_denied_names_the_codebuild_action() {
    let server = MockServer::start().await;
    let body = json!({
        "__type": "AccessDeniedException",
        "message": "User: arn:aws:sts::123456789012:assumed-role/amagent/x is not authorized to perform: codebuild:StopBuild on resource: arn:aws:codebuild:ap-southeast-2:123456789012:project/amagent-builds"
    });
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(body.to_string(), JSON_1_1))
        .mount(&server)
        .await;
    let cloud = support::connect(&server.uri()).await.cloud();
    let err = cloud
        .builds
        .stop_build("amagent-builds:1")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CloudError::AccessDenied {
            action: "codebuild:StopBuild".into(),
            resource: "amagent-builds:1".into()
        }
    );
}
