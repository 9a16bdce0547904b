//! CodeBuild: projects, the phase timeline, the image pushed to ECR, failures, stop, timeout,
//! idempotency, concurrency and the fault rules.

use super::*;

const PROJECT: &str = "amagent-image-builds";
const BUCKET: &str = "amagent-build-sources";
const KEY: &str = "sources/aussie-markets-api/3f2a9c1.zip";
const HOST: &str = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com";
/// What the build pushes and exports comes from here (its `--tag` words, its
/// `exported-variables` and the command assigning them), as in CodeBuild.
const BUILDSPEC: &str = "version: 0.2\nenv:\n  exported-variables: [IMAGE_DIGEST]\nphases:\n  build:\n    \
                         commands:\n      - docker buildx build --push -t \"$AMAGENT_REPOSITORY_URI\":3f2a9c1 \
                         --tag \"$AMAGENT_REPOSITORY_URI\":main-3f2a9c1 .\n      - export IMAGE_DIGEST=$(jq -er \
                         .digest /tmp/meta.json)\n";

struct Builds {
    sim: Simulator,
    cloud: Cloud,
    /// The simulator's second 0.
    origin: tokio::time::Instant,
}

async fn builds(faults: FaultScript) -> Builds {
    let origin = tokio::time::Instant::now();
    let sim = Simulator::new(Clock::starting_at(epoch()), faults);
    sim.add_build_project(PROJECT);
    sim.add_bucket(BUCKET);
    sim.add_repository(REPO);
    sim.add_repository("aussie-markets/web");
    let cloud = sim.cloud();
    cloud
        .s3
        .put(BUCKET, KEY, b"PK\x03\x04", PutCondition::Always)
        .await
        .unwrap();
    Builds { sim, cloud, origin }
}

fn request(repository: &str, token: &str) -> StartBuild {
    StartBuild {
        project: PROJECT.into(),
        source_location: format!("{BUCKET}/{KEY}"),
        buildspec: BUILDSPEC.into(),
        environment_type: "LINUX_CONTAINER".into(),
        image: "aws/codebuild/amazonlinux-x86_64-standard:5.0".into(),
        compute_type: "BUILD_GENERAL1_SMALL".into(),
        privileged: true,
        environment: vec![
            (
                "AMAGENT_REPOSITORY_URI".into(),
                format!("{HOST}/{repository}"),
            ),
            ("AMAGENT_IMAGE_TAGS".into(), "3f2a9c1 main-3f2a9c1".into()),
            ("AMAGENT_COMMIT".into(), "3f2a9c1".into()),
        ],
        timeout_minutes: 60,
        idempotency_token: token.into(),
    }
}

/// Sleep until half a second into the simulator's second `second`, then describe the build.
async fn at(b: &Builds, second: u64, id: &str) -> BuildRun {
    let then = b.origin + Duration::from_millis(second * 1000 + 500);
    tokio::time::sleep_until(then).await;
    let mut found = b.cloud.builds.batch_get_builds(&[id.into()]).await.unwrap();
    assert_eq!(found.len(), 1, "{id} is described");
    found.remove(0)
}

fn phase<'a>(run: &'a BuildRun, name: &str) -> &'a BuildPhase {
    let found = run.phases.iter().find(|p| p.phase == name);
    found.unwrap_or_else(|| panic!("{name} not reached: {:?}", run.phases))
}

fn names(run: &BuildRun) -> Vec<&str> {
    run.phases.iter().map(|p| p.phase.as_str()).collect()
}

async fn tail(b: &Builds, run: &BuildRun, limit: u32) -> Vec<String> {
    let (group, stream) = run.log.clone().expect("the build has a log stream");
    b.cloud
        .logs
        .tail(&group, &stream, limit)
        .await
        .unwrap()
        .expect("the stream exists")
}

#[tokio::test(start_paused = true)]
async fn a_build_walks_codebuilds_phases_and_logs_them() {
    let b = builds(FaultScript::new()).await;
    let first = b
        .cloud
        .builds
        .start_build(&request(REPO, "t1"))
        .await
        .unwrap();
    let (project, uuid) = first.id.split_once(':').unwrap();
    assert_eq!(project, PROJECT);
    assert_eq!(uuid.len(), 36, "{uuid}");
    assert_eq!(first.status, BuildStatus::InProgress);
    assert_eq!(first.current_phase, "QUEUED");
    assert_eq!(
        phase(&first, "SUBMITTED").status.as_deref(),
        Some("SUCCEEDED")
    );
    assert_eq!(phase(&first, "QUEUED").status, None);
    assert_eq!(first.started_at, Some(epoch()));

    let provisioning = at(&b, 10, &first.id).await;
    assert_eq!(provisioning.current_phase, "PROVISIONING");
    assert_eq!(
        provisioning.log, None,
        "no log stream before PROVISIONING ends"
    );

    let building = at(&b, 60, &first.id).await;
    assert_eq!(building.current_phase, "BUILD");
    assert_eq!(building.status, BuildStatus::InProgress);
    assert!(building.exported.is_empty());
    let group = format!("/aws/codebuild/{PROJECT}");
    assert_eq!(building.log, Some((group, uuid.to_string())));
    let lines = tail(&b, &building, 100).await;
    assert!(
        lines.iter().any(|l| l.contains("Entering phase BUILD")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Running command docker buildx build --push")),
        "the buildspec's own commands are logged: {lines:#?}"
    );
    assert!(
        lines[0].starts_with("[Container] 2026/11/25 00:00:17"),
        "{}",
        lines[0]
    );
}

#[tokio::test(start_paused = true)]
async fn a_build_pushes_when_post_build_ends_and_exports_the_digest_when_done() {
    let b = builds(FaultScript::new()).await;
    let first = b
        .cloud
        .builds
        .start_build(&request(REPO, "t1"))
        .await
        .unwrap();
    // POST_BUILD ends at 0+2+15+3+2+6+90+8 = 126 s: the image is in ECR from then.
    let digest = build_digest(&format!("{BUCKET}/{KEY}"), REPO);
    at(&b, 125, &first.id).await;
    assert!(b.sim.images(REPO).is_empty());
    at(&b, 126, &first.id).await;
    let images = b.sim.images(REPO);
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].digest, digest);
    assert_eq!(images[0].tags, vec!["3f2a9c1", "main-3f2a9c1"]);
    assert_eq!(
        images[0].pushed_at,
        epoch() + chrono::Duration::seconds(126)
    );

    let done = at(&b, 131, &first.id).await;
    assert_eq!(done.status, BuildStatus::Succeeded);
    assert_eq!(done.current_phase, "COMPLETED");
    assert_eq!(
        names(&done),
        crate::cloud::sim::codebuild_world::PHASES.to_vec()
    );
    let durations: Vec<Option<i64>> = done.phases.iter().map(|p| p.duration_seconds).collect();
    let expected = [0, 2, 15, 3, 2, 6, 90, 8, 2, 2].map(Some);
    assert_eq!(durations[..10], expected);
    assert_eq!(durations[10], None, "COMPLETED has no duration");
    assert_eq!(done.exported.get("IMAGE_DIGEST"), Some(&digest));
    assert_eq!(
        done.ended_at,
        Some(epoch() + chrono::Duration::seconds(130))
    );
    let lines = tail(&b, &done, 3).await;
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_build_failing_in_build_says_why_in_its_phase_and_log_tail() {
    let error = "#9 ERROR: failed to solve: process \"/bin/sh -c npm ci\" did not complete";
    let rule = BuildRule::new("aussie-markets/api")
        .build_seconds(40)
        .fail_in("BUILD")
        .log_lines(&["#9 [4/6] RUN npm ci", error]);
    let b = builds(FaultScript::new().codebuild(rule)).await;
    let id = b
        .cloud
        .builds
        .start_build(&request(REPO, "t1"))
        .await
        .unwrap()
        .id;
    let failed = at(&b, 100, &id).await;
    assert_eq!(failed.status, BuildStatus::Failed);
    let build = phase(&failed, "BUILD");
    assert_eq!(build.status.as_deref(), Some("FAILED"));
    assert_eq!(build.duration_seconds, Some(40));
    assert!(
        build.messages[0].starts_with(
            "COMMAND_EXECUTION_ERROR: Error while executing command: docker buildx build"
        ),
        "{:?}",
        build.messages
    );
    assert_eq!(
        names(&failed)[6..],
        ["BUILD", "FINALIZING", "COMPLETED"],
        "a failed BUILD goes on to FINALIZING"
    );
    assert!(failed.exported.is_empty());
    assert!(b.sim.images(REPO).is_empty(), "nothing pushed");
    let lines = tail(&b, &failed, 4).await;
    assert_eq!(lines[0], error);
    assert!(lines[1].contains("Command did not exit successfully docker buildx build"));
    assert!(lines[1].ends_with("exit status 1"));
    assert!(lines[2].contains("Phase complete: BUILD State: FAILED"));
    assert!(lines[3].contains("Phase context status code: COMMAND_EXECUTION_ERROR"));
}

#[tokio::test(start_paused = true)]
async fn a_missing_source_fails_download_source_like_aws() {
    let b = builds(FaultScript::new()).await;
    let mut r = request(REPO, "t1");
    r.source_location = format!("{BUCKET}/sources/none.zip");
    let id = b.cloud.builds.start_build(&r).await.unwrap().id;
    let failed = at(&b, 40, &id).await;
    assert_eq!(failed.status, BuildStatus::Failed);
    let download = phase(&failed, "DOWNLOAD_SOURCE");
    assert_eq!(download.status.as_deref(), Some("FAILED"));
    let message = &download.messages[0];
    assert!(message.starts_with("CLIENT_ERROR: error while downloading key sources/none.zip"));
    assert!(message.contains("NoSuchKey"), "{message}");
    assert!(!names(&failed).contains(&"INSTALL"));
    let lines = tail(&b, &failed, 2).await;
    assert!(lines[0].contains("Phase complete: DOWNLOAD_SOURCE State: FAILED"));
}

#[tokio::test(start_paused = true)]
async fn a_missing_repository_fails_post_build_with_the_registry_error() {
    let b = builds(FaultScript::new()).await;
    let id = (b
        .cloud
        .builds
        .start_build(&request("aussie-markets/gone", "t1"))
        .await)
        .unwrap()
        .id;
    let failed = at(&b, 140, &id).await;
    assert_eq!(failed.status, BuildStatus::Failed);
    assert_eq!(phase(&failed, "BUILD").status.as_deref(), Some("SUCCEEDED"));
    assert_eq!(
        phase(&failed, "POST_BUILD").status.as_deref(),
        Some("FAILED")
    );
    let lines = tail(&b, &failed, 10).await;
    let expected = "name unknown: The repository with name 'aussie-markets/gone' does not exist \
                    in the registry with id '123456789012'";
    assert!(lines.iter().any(|l| l == expected), "{lines:#?}");
    assert!(b.sim.images("aussie-markets/gone").is_empty());
}

#[tokio::test(start_paused = true)]
async fn stop_build_stops_within_two_seconds_and_refuses_a_finished_build() {
    let b = builds(FaultScript::new()).await;
    let id = b
        .cloud
        .builds
        .start_build(&request(REPO, "t1"))
        .await
        .unwrap()
        .id;
    at(&b, 50, &id).await;
    let stopping = b.cloud.builds.stop_build(&id).await.unwrap();
    assert_eq!(stopping.status, BuildStatus::InProgress);
    assert_eq!(at(&b, 51, &id).await.status, BuildStatus::InProgress);
    let stopped = at(&b, 52, &id).await;
    assert_eq!(stopped.status, BuildStatus::Stopped);
    assert_eq!(phase(&stopped, "BUILD").status.as_deref(), Some("STOPPED"));
    assert_eq!(stopped.current_phase, "COMPLETED");
    assert_eq!(
        stopped.ended_at,
        Some(epoch() + chrono::Duration::seconds(52))
    );
    at(&b, 200, &id).await;
    assert!(
        b.sim.images(REPO).is_empty(),
        "a stopped build pushes nothing"
    );
    let e = b.cloud.builds.stop_build(&id).await.unwrap_err();
    assert!(
        matches!(&e, CloudError::InvalidRequest { message, .. } if message.contains("already complete")),
        "{e}"
    );
    let e = b
        .cloud
        .builds
        .stop_build("amagent-image-builds:nope")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            CloudError::NotFound {
                kind: ResourceKind::Build,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_build_still_running_at_its_timeout_times_out() {
    let rule = BuildRule::new("*").build_seconds(3600);
    let b = builds(FaultScript::new().codebuild(rule)).await;
    let mut r = request(REPO, "t1");
    r.timeout_minutes = 5;
    let id = b.cloud.builds.start_build(&r).await.unwrap().id;
    assert_eq!(at(&b, 299, &id).await.status, BuildStatus::InProgress);
    let timed_out = at(&b, 300, &id).await;
    assert_eq!(timed_out.status, BuildStatus::TimedOut);
    assert_eq!(
        phase(&timed_out, "BUILD").status.as_deref(),
        Some("TIMED_OUT")
    );
    assert_eq!(
        timed_out.ended_at,
        Some(epoch() + chrono::Duration::seconds(300))
    );
    r.timeout_minutes = 0;
    r.idempotency_token = "t2".into();
    let e = b.cloud.builds.start_build(&r).await.unwrap_err();
    assert!(e.to_string().contains("outside 5 to 2160"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn the_same_idempotency_token_gives_the_same_build() {
    let b = builds(FaultScript::new()).await;
    let first = b
        .cloud
        .builds
        .start_build(&request(REPO, "t1"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(18)).await;
    let again = b
        .cloud
        .builds
        .start_build(&request(REPO, "t1"))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        again.current_phase, "DOWNLOAD_SOURCE",
        "the build as it is now"
    );
    assert_eq!(b.sim.build_started_count(), 1);
    let mut changed = request(REPO, "t1");
    changed.timeout_minutes = 30;
    let e = b.cloud.builds.start_build(&changed).await.unwrap_err();
    assert!(e.to_string().contains("IdempotentParameterMismatch"), "{e}");
    let other = b
        .cloud
        .builds
        .start_build(&request(REPO, "t2"))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    // A token holds for 5 minutes.
    tokio::time::sleep(Duration::from_secs(300)).await;
    let later = b
        .cloud
        .builds
        .start_build(&request(REPO, "t1"))
        .await
        .unwrap();
    assert_ne!(later.id, first.id);
    assert_eq!(b.sim.build_started_count(), 3);
    assert_eq!(b.sim.calls()["StartBuild"], 5);
}

#[tokio::test(start_paused = true)]
async fn two_builds_run_at_once() {
    let b = builds(FaultScript::new().codebuild(BuildRule::new("web").build_seconds(30))).await;
    let api = b
        .cloud
        .builds
        .start_build(&request(REPO, "api"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let web = b
        .cloud
        .builds
        .start_build(&request("aussie-markets/web", "web"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(200)).await;
    let ids = [api.id.clone(), web.id.clone()];
    let done = b.cloud.builds.batch_get_builds(&ids).await.unwrap();
    assert!(
        done.iter().all(|r| r.status == BuildStatus::Succeeded),
        "{done:?}"
    );
    let runs = b.sim.build_runs();
    assert_eq!(runs.len(), 2);
    let (a, w) = (&runs[0], &runs[1]);
    assert_eq!((a.started, a.ended), (0, Some(130)));
    assert_eq!(
        (w.started, w.ended),
        (1, Some(71)),
        "web's rule: BUILD 30 s"
    );
    assert!(
        a.started < w.ended.unwrap() && w.started < a.ended.unwrap(),
        "they overlap"
    );
    assert_eq!(a.request.environment[0].1, format!("{HOST}/{REPO}"));
    assert_eq!(b.sim.images(REPO).len(), 1);
    assert_eq!(b.sim.images("aussie-markets/web").len(), 1);
    assert_ne!(
        b.sim.images(REPO)[0].digest,
        b.sim.images("aussie-markets/web")[0].digest
    );
    let missing = b
        .cloud
        .builds
        .batch_get_builds(&["x:y".into()])
        .await
        .unwrap();
    assert!(missing.is_empty(), "unknown ids are absent");
}

#[tokio::test(start_paused = true)]
async fn projects_are_read_created_once_and_needed_to_build() {
    let b = builds(FaultScript::new()).await;
    let p = b.cloud.builds.project(PROJECT).await.unwrap().unwrap();
    assert_eq!(p.environment_type, "LINUX_CONTAINER");
    assert_eq!(
        p.service_role,
        format!("arn:aws:iam::123456789012:role/service-role/codebuild-{PROJECT}-service-role")
    );
    assert_eq!(
        p.arn,
        format!("arn:aws:codebuild:ap-southeast-2:123456789012:project/{PROJECT}")
    );
    assert_eq!(b.cloud.builds.project("web-builds").await.unwrap(), None);
    let new = NewBuildProject {
        name: "web-builds".into(),
        service_role: "arn:aws:iam::123456789012:role/amagent-codebuild".into(),
        environment_type: "ARM_CONTAINER".into(),
        compute_type: "BUILD_GENERAL1_SMALL".into(),
        image: "aws/codebuild/amazonlinux-aarch64-standard:3.0".into(),
        source_location: format!("{BUCKET}/{KEY}"),
        timeout_minutes: 60,
        tags: vec![("managed-by".into(), "amagent".into())],
    };
    let created = b.cloud.builds.create_project(&new).await.unwrap();
    assert_eq!(
        b.cloud.builds.project("web-builds").await.unwrap(),
        Some(created)
    );
    let e = b.cloud.builds.create_project(&new).await.unwrap_err();
    assert!(
        e.to_string().contains("ResourceAlreadyExistsException"),
        "{e}"
    );
    let mut r = request(REPO, "t1");
    r.project = "nope".into();
    let e = b.cloud.builds.start_build(&r).await.unwrap_err();
    assert_eq!(e, CloudError::not_found(ResourceKind::BuildProject, "nope"));
    assert_eq!(b.sim.build_started_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn calls_are_counted_and_access_denied_is_honoured() {
    let b = builds(FaultScript::new().deny("StartBuild")).await;
    b.sim.reset_calls();
    b.cloud.builds.project(PROJECT).await.unwrap();
    let e = b
        .cloud
        .builds
        .start_build(&request(REPO, "t1"))
        .await
        .unwrap_err();
    let arn = format!("arn:aws:codebuild:ap-southeast-2:123456789012:project/{PROJECT}");
    assert!(
        matches!(&e, CloudError::AccessDenied { resource, .. } if *resource == arn),
        "{e}"
    );
    assert_eq!(b.sim.build_started_count(), 0);
    b.cloud.builds.batch_get_builds(&[]).await.unwrap();
    let calls = b.sim.calls();
    assert_eq!(calls["BatchGetProjects"], 1);
    assert_eq!(calls["StartBuild"], 1);
    assert_eq!(calls["BatchGetBuilds"], 1);
    assert_eq!(calls.len(), 3, "{calls:?}");
}

#[test]
fn codebuild_rules_parse_and_are_checked() {
    let s = FaultScript::from_yaml(
        "codebuild:\n  - match: aussie-markets/api\n    buildSeconds: 40\n    queuedSeconds: 30\n    \
         failIn: BUILD\n    logLines: [\"npm ERR! code ELIFECYCLE\"]\n",
    )
    .unwrap();
    let expected = BuildRule::new("aussie-markets/api")
        .build_seconds(40)
        .queued_seconds(30)
        .fail_in("BUILD")
        .log_lines(&["npm ERR! code ELIFECYCLE"]);
    assert_eq!(s.codebuild, vec![expected]);
    let e =
        FaultScript::from_yaml("codebuild:\n  - match: api\n    failIn: COMPILE\n").unwrap_err();
    assert!(
        e.contains("failIn `COMPILE`") && e.contains("PROVISIONING"),
        "{e}"
    );
    let e = FaultScript::from_yaml("codebuild:\n  - match: \"\"\n").unwrap_err();
    assert!(e.contains("empty `match`"), "{e}");
    let e = FaultScript::from_yaml("codebuild:\n  - match: api\n    seconds: 5\n").unwrap_err();
    assert!(e.contains("seconds"), "{e}");
}
