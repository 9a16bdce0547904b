//! `amagent doctor` against moto through AWS_ENDPOINT_URL: ✓ for an account seeded like the
//! staging spec, ✗ with the fix (and where it is configured) for a missing target group and a
//! missing SSM parameter, and — read from the live service and the task definition it runs —
//! for what would block a deploy: a deployment controller other than ECS, the spec's container
//! missing, a port the target group does not expect, secrets without an execution role; ! for
//! secrets the spec adds that the execution role must be allowed to read.

mod support;

use amagent::cloud::aws::Aws;
use std::path::Path;
use std::process::Command;

const FIXTURE: &str = include_str!("fixtures/ecs-describe-task-definition-staging.json");

async fn seed(endpoint: &str) -> Aws {
    let aws = support::connect(endpoint).await;
    let cloud = aws.cloud();
    let c = aws.sdk_config();
    let v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let td = cloud
        .ecs
        .register_task_definition(&serde_json::from_value(v["taskDefinition"].clone()).unwrap())
        .await
        .unwrap();
    let ecs_client = aws_sdk_ecs::Client::new(c);
    ecs_client
        .create_cluster()
        .cluster_name("aussie-markets-staging")
        .send()
        .await
        .unwrap();
    let group = aws_sdk_elasticloadbalancingv2::Client::new(c)
        .create_target_group()
        .name("aussie-markets-api-staging")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(3000)
        .vpc_id(support::vpc(endpoint).await)
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .health_check_path("/api/v1/health")
        .send()
        .await
        .unwrap();
    let group = group.target_groups()[0].target_group_arn().unwrap();
    create_service(&aws, &td.arn, Some(group), "ECS").await;
    aws_sdk_ecr::Client::new(c)
        .create_repository()
        .repository_name("aussie-markets/api")
        .send()
        .await
        .unwrap();
    support::db_instance(&aws, "aussie-markets-staging-db").await;
    let ssm = aws_sdk_ssm::Client::new(c);
    for name in ["database-url", "redis-url"] {
        ssm.put_parameter()
            .name(format!("/aussie-markets/staging/api/{name}"))
            .value("never-read")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    aws
}

fn doctor(endpoint: &str) -> (Option<i32>, serde_json::Value) {
    doctor_in(endpoint, Path::new(env!("CARGO_MANIFEST_DIR")))
}

fn doctor_in(endpoint: &str, dir: &Path) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["--output", "json", "doctor", "--env", "staging", "--dir"])
        .arg(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

fn check<'a>(json: &'a serde_json::Value, check: &str, subject: &str) -> &'a serde_json::Value {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check && c["subject"] == subject)
        .unwrap_or_else(|| panic!("no {check} {subject} in {json}"))
}

/// The live service and the task definition it runs were read, and nothing blocks a deploy.
fn live_checks_pass(json: &serde_json::Value) {
    assert_eq!(
        check(json, "deployment controller", SERVICE)["detail"],
        "ECS (rolling update)"
    );
    assert_eq!(check(json, "container", "api")["ok"], true);
    assert_eq!(check(json, "container port", "api:3000")["ok"], true);
    assert_eq!(
        check(
            json,
            "execution role",
            "arn:aws:iam::123456789012:role/aussie-markets-api-staging-execution"
        )["detail"],
        "already reads the 2 secret(s) the spec sets"
    );
}

#[tokio::test]
async fn seeded_account_passes_and_missing_pieces_say_how_to_fix_them() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = seed(&endpoint).await;
    let (code, json) = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        move || doctor(&endpoint)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["ok"], true);
    assert_eq!(
        check(&json, "credentials", "arn:aws:sts::123456789012:user/moto")["ok"],
        true
    );
    for c in json["checks"].as_array().unwrap() {
        assert_eq!(c["ok"], true, "{c}");
        assert!(c.get("warning").is_none(), "{c}");
    }
    live_checks_pass(&json);

    // Take away the target group and one SSM parameter.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(aws.sdk_config());
    let tg = elb
        .describe_target_groups()
        .names("aussie-markets-api-staging")
        .send()
        .await
        .unwrap();
    elb.delete_target_group()
        .target_group_arn(tg.target_groups()[0].target_group_arn().unwrap())
        .send()
        .await
        .unwrap();
    aws_sdk_ssm::Client::new(aws.sdk_config())
        .delete_parameter()
        .name("/aussie-markets/staging/api/redis-url")
        .send()
        .await
        .unwrap();
    let (code, json) = tokio::task::spawn_blocking(move || doctor(&endpoint))
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{json:#}");
    let tg = check(&json, "target group", "aussie-markets-api-staging");
    assert_eq!(tg["ok"], false);
    assert_eq!(
        tg["fix"],
        "create it, or correct the name at environments/staging.yaml:44 (services[0].loadBalancer.targetGroup)"
    );
    let param = check(
        &json,
        "SSM parameter",
        "/aussie-markets/staging/api/redis-url",
    );
    assert_eq!(param["ok"], false);
    assert!(
        param["fix"]
            .as_str()
            .unwrap()
            .contains("environments/staging.yaml:42 (services[0].secrets.REDIS_URL)"),
        "{param}"
    );
    assert_eq!(
        check(
            &json,
            "SSM parameter",
            "/aussie-markets/staging/api/database-url"
        )["ok"],
        true
    );
    assert!(
        !json.to_string().contains("never-read"),
        "SSM values are never read"
    );
}

#[tokio::test]
async fn deploy_against_aws_checks_ssm_parameters_before_touching_anything() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let journal = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_amagent"))
            .args(["--output", "json", "deploy", "--env", "staging", "--service", "api"])
            .args(["--image", "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api@sha256:1111111111111111111111111111111111111111111111111111111111111111"])
            .arg("--dir")
            .arg(env!("CARGO_MANIFEST_DIR"))
            .arg("--journal")
            .arg(journal.path())
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outcome"], "failed");
    let reason = json["reason"].as_str().unwrap();
    assert!(
        reason.contains("SSM parameter(s) missing: /aussie-markets/staging/api/database-url"),
        "{reason}"
    );
}

/// The staging account, but the service runs a task definition changed by `edit`, under the
/// deployment controller `controller`, registered in the target group if `attached`.
async fn seed_live(
    endpoint: &str,
    edit: impl Fn(&mut serde_json::Value),
    controller: &str,
    attached: bool,
) {
    let aws = seed(endpoint).await;
    let mut td: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let td = &mut td["taskDefinition"];
    edit(td);
    let registered = aws
        .cloud()
        .ecs
        .register_task_definition(&serde_json::from_value(td.clone()).unwrap())
        .await
        .unwrap();
    let client = aws_sdk_ecs::Client::new(aws.sdk_config());
    let running = client
        .delete_service()
        .cluster("aussie-markets-staging")
        .service("aussie-markets-api-staging")
        .force(true)
        .send()
        .await
        .unwrap();
    let group = attached.then(|| {
        running.service().unwrap().load_balancers()[0]
            .target_group_arn()
            .unwrap()
            .to_string()
    });
    create_service(&aws, &registered.arn, group.as_deref(), controller).await;
}

/// The staging service on `td`, registering container api:3000 in `group`.
async fn create_service(aws: &Aws, td: &str, group: Option<&str>, controller: &str) {
    use aws_sdk_ecs::types as ecs;
    aws_sdk_ecs::Client::new(aws.sdk_config())
        .create_service()
        .cluster("aussie-markets-staging")
        .service_name("aussie-markets-api-staging")
        .task_definition(td)
        .desired_count(1)
        .set_load_balancers(group.map(|arn| {
            vec![
                ecs::LoadBalancer::builder()
                    .target_group_arn(arn)
                    .container_name("api")
                    .container_port(3000)
                    .build(),
            ]
        }))
        .deployment_controller(
            ecs::DeploymentController::builder()
                .r#type(ecs::DeploymentControllerType::from(controller))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn doctor_on(endpoint: &str) -> (Option<i32>, serde_json::Value) {
    let endpoint = endpoint.to_string();
    tokio::task::spawn_blocking(move || doctor(&endpoint))
        .await
        .unwrap()
}

const SERVICE: &str = "aussie-markets-api-staging";
const DB_ARN: &str =
    "arn:aws:ssm:ap-southeast-2:123456789012:parameter/aussie-markets/staging/api/database-url";
const REDIS_ARN: &str =
    "arn:aws:ssm:ap-southeast-2:123456789012:parameter/aussie-markets/staging/api/redis-url";

#[tokio::test]
async fn a_live_service_that_would_block_a_deploy_says_what_and_where_to_fix() {
    let (_moto, endpoint) = support::moto::fresh().await;
    seed_live(
        &endpoint,
        |td| {
            td.as_object_mut().unwrap().remove("executionRoleArn");
            td["containerDefinitions"][0]["portMappings"][0]["containerPort"] = 8080.into();
            td["containerDefinitions"][0]["portMappings"][0]["hostPort"] = 8080.into();
        },
        "CODE_DEPLOY",
        true,
    )
    .await;
    let (code, json) = doctor_on(&endpoint).await;
    assert_eq!(code, Some(1), "{json:#}");

    let controller = check(&json, "deployment controller", SERVICE);
    assert_eq!(controller["ok"], false, "{controller}");
    assert!(
        controller["detail"]
            .as_str()
            .unwrap()
            .starts_with("CODE_DEPLOY"),
        "{controller}"
    );
    assert!(
        controller["fix"]
            .as_str()
            .unwrap()
            .contains("deploymentController type ECS")
            && controller["fix"]
                .as_str()
                .unwrap()
                .contains("environments/staging.yaml:26 (services[0].ecs.service)"),
        "{controller}"
    );

    assert_eq!(check(&json, "container", "api")["ok"], true);

    let port = check(&json, "container port", "api:3000");
    assert_eq!(port["ok"], false, "{port}");
    assert!(
        port["detail"].as_str().unwrap().contains("maps [8080]"),
        "{port}"
    );
    assert_eq!(
        port["fix"],
        "add containerPort 3000 to the task definition's portMappings, or correct \
         environments/staging.yaml:45 (services[0].loadBalancer.containerPort)"
    );

    let role = check(&json, "execution role", SERVICE);
    assert_eq!(role["ok"], false, "{role}");
    assert!(
        role["detail"]
            .as_str()
            .unwrap()
            .contains("no executionRoleArn"),
        "{role}"
    );
    let fix = role["fix"].as_str().unwrap();
    assert!(fix.contains(DB_ARN) && fix.contains(REDIS_ARN), "{fix}");
    assert!(
        fix.contains("environments/staging.yaml:41 (services[0].secrets)"),
        "{fix}"
    );
}

#[tokio::test]
async fn a_missing_container_and_new_secrets_are_named() {
    let (moto, endpoint) = support::moto::fresh().await;
    // The running revision calls the container `web`: the spec's `api` is not there, and none
    // of the spec's secrets are set yet, so the execution role must be able to read both.
    seed_live(
        &endpoint,
        |td| {
            td["containerDefinitions"][0]["name"] = "web".into();
        },
        "ECS",
        true,
    )
    .await;
    let (code, json) = doctor_on(&endpoint).await;
    assert_eq!(code, Some(1), "{json:#}");
    assert_eq!(check(&json, "deployment controller", SERVICE)["ok"], true);
    let container = check(&json, "container", "api");
    assert_eq!(container["ok"], false, "{container}");
    assert!(
        container["detail"]
            .as_str()
            .unwrap()
            .ends_with("has no container `api` (it has: web)"),
        "{container}"
    );
    assert_eq!(
        container["fix"],
        "set ecs.container to one of them at environments/staging.yaml:28 (services[0].ecs.container)"
    );
    let role = check(
        &json,
        "execution role",
        "arn:aws:iam::123456789012:role/aussie-markets-api-staging-execution",
    );
    assert_eq!(role["ok"], true, "{role}");
    assert_eq!(role["warning"], true, "{role}");
    let detail = role["detail"].as_str().unwrap();
    assert!(
        detail.contains(DB_ARN) && detail.contains(REDIS_ARN),
        "{detail}"
    );

    // Only REDIS_URL is new to the running revision: only it is named.
    drop(moto);
    let (_moto, endpoint) = support::moto::fresh().await;
    seed_live(
        &endpoint,
        |td| {
            let secrets = td["containerDefinitions"][0]["secrets"]
                .as_array_mut()
                .unwrap();
            secrets.retain(|s| s["name"] != "REDIS_URL");
        },
        "ECS",
        true,
    )
    .await;
    let (code, json) = doctor_on(&endpoint).await;
    assert_eq!(code, Some(0), "{json:#}");
    let role = check(
        &json,
        "execution role",
        "arn:aws:iam::123456789012:role/aussie-markets-api-staging-execution",
    );
    assert_eq!(role["warning"], true, "{role}");
    let detail = role["detail"].as_str().unwrap();
    assert!(
        detail.contains(REDIS_ARN) && !detail.contains(DB_ARN),
        "{detail}"
    );
}

#[tokio::test]
async fn a_service_outside_the_specs_target_group_is_named() {
    let (_moto, endpoint) = support::moto::fresh().await;
    seed_live(&endpoint, |_| {}, "ECS", false).await;
    let (code, json) = doctor_on(&endpoint).await;
    assert_eq!(code, Some(1), "{json:#}");
    let lb = check(&json, "service load balancer", "aussie-markets-api-staging");
    assert_eq!(lb["ok"], false, "{lb}");
    assert!(
        lb["detail"]
            .as_str()
            .unwrap()
            .ends_with("registers its tasks in no target group"),
        "{lb}"
    );
    assert_eq!(
        lb["fix"],
        "attach aussie-markets-api-staging to the service (loadBalancers: containerName api, \
         containerPort 3000; UpdateService can), or correct environments/staging.yaml:44 \
         (services[0].loadBalancer.targetGroup)"
    );
}

const BUCKET: &str = "aussie-markets-build-sources";
const BUILD_ROLE: &str = "arn:aws:iam::123456789012:role/amagent-codebuild";

/// The example's environments and pipelines, the api pipeline building on CodeBuild (with
/// `create:` when `create`), and the text of its pipeline file.
fn codebuild_repo(create: bool) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = format!(
        "  builder: codebuild\n  codebuild:\n    project: amagent-builds\n    sourceBucket: {BUCKET}\n"
    );
    if create {
        settings.push_str(&format!("    create:\n      serviceRole: {BUILD_ROLE}\n"));
    }
    support::envrepo::example(dir.path(), |t| match t.contains("kind: Pipeline") {
        true => t.replacen("stages:", &format!("{settings}stages:"), 1),
        false => t.to_string(),
    });
    let text = std::fs::read_to_string(dir.path().join("pipelines/api.yaml")).unwrap();
    (dir, text)
}

async fn doctor_in_dir(endpoint: &str, dir: &Path) -> (Option<i32>, serde_json::Value) {
    let (endpoint, dir) = (endpoint.to_string(), dir.to_path_buf());
    tokio::task::spawn_blocking(move || doctor_in(&endpoint, &dir))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_codebuild_pipeline_s_project_and_source_bucket_are_checked() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = seed(&endpoint).await;
    let (plain, text) = codebuild_repo(false);
    let line = |key: &str| {
        text.lines()
            .position(|l| l.trim_start().starts_with(key))
            .unwrap()
            + 1
    };

    // Neither the project nor the bucket exists.
    let (code, json) = doctor_in_dir(&endpoint, plain.path()).await;
    assert_eq!(code, Some(1), "{json:#}");
    let project = check(&json, "CodeBuild project", "amagent-builds");
    assert_eq!(project["ok"], false, "{project}");
    assert_eq!(
        project["fix"],
        format!(
            "create a CodeBuild project named amagent-builds (any settings: each build overrides \
             its source, buildspec and environment), or add `create: {{serviceRole: <role ARN>}}` \
             under pipelines/api.yaml:{} (build.codebuild.project) so the agent creates it",
            line("project:")
        )
    );
    let bucket = check(&json, "CodeBuild source bucket", BUCKET);
    assert_eq!(bucket["ok"], false, "{bucket}");
    assert_eq!(
        bucket["fix"],
        format!(
            "create the bucket in this environment's region, or correct the name at \
             pipelines/api.yaml:{} (build.codebuild.sourceBucket)",
            line("sourceBucket:")
        )
    );

    // With `create:`, a missing project is what the first build makes: to verify, not failed.
    support::create_bucket(&aws, BUCKET).await;
    let (with_create, _) = codebuild_repo(true);
    let (code, json) = doctor_in_dir(&endpoint, with_create.path()).await;
    assert_eq!(code, Some(0), "{json:#}");
    let project = check(&json, "CodeBuild project", "amagent-builds");
    assert_eq!(
        [&project["ok"], &project["warning"]],
        [true, true],
        "{project}"
    );
    let created_as = format!("not found: the first build creates it, running as {BUILD_ROLE}");
    assert!(project["detail"].as_str().unwrap().starts_with(&created_as));
    assert_eq!(
        check(&json, "CodeBuild source bucket", BUCKET)["detail"],
        "listed amagent/sources/: 0 source bundle(s)"
    );

    // The project made and one bundle uploaded: every check passes, none to verify.
    let project = amagent::cloud::types::NewBuildProject {
        name: "amagent-builds".into(),
        service_role: BUILD_ROLE.into(),
        environment_type: "LINUX_CONTAINER".into(),
        compute_type: "BUILD_GENERAL1_SMALL".into(),
        image: "aws/codebuild/amazonlinux-x86_64-standard:5.0".into(),
        source_location: format!("{BUCKET}/amagent/sources/5f1c.zip"),
        timeout_minutes: 60,
        tags: vec![],
    };
    aws.cloud().builds.create_project(&project).await.unwrap();
    let always = amagent::cloud::types::PutCondition::Always;
    let key = "amagent/sources/5f1c.zip";
    aws.cloud()
        .s3
        .put(BUCKET, key, b"PK", always)
        .await
        .unwrap();
    let (code, json) = doctor_in_dir(&endpoint, plain.path()).await;
    assert_eq!(code, Some(0), "{json:#}");
    for c in json["checks"].as_array().unwrap() {
        assert_eq!(c["ok"], true, "{c}");
        assert!(c.get("warning").is_none(), "{c}");
    }
    assert_eq!(
        check(&json, "CodeBuild project", "amagent-builds")["detail"],
        format!("found, runs as {BUILD_ROLE} (LINUX_CONTAINER)")
    );
    assert_eq!(
        check(&json, "CodeBuild source bucket", BUCKET)["detail"],
        "listed amagent/sources/: 1 source bundle(s)"
    );
}
