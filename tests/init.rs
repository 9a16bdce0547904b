//! `amagent init` end to end. On moto: a service made the way Terraform makes one — a published
//! task definition with a FireLens log router and a Datadog agent beside the app, the app's
//! image in ECR by tag, SSM and Secrets Manager secrets, a target group with its own health
//! check path — is adopted; the file validates, `doctor` is all ✓, and rendering a deploy of
//! the running image registers nothing. On the simulator: the account shaped like the
//! worked example's staging is adopted back into (nearly) the same spec. Refusals: an existing
//! file without --force, and a task definition whose ECR containers are ambiguous.

mod support;

use amagent::cloud::aws::Aws;
use amagent::config::{Environment, load_dir};
use amagent::stages::deploy::render::render;
use std::path::Path;
use std::process::{Command, Output};

const REGION: &str = "ap-southeast-2";
const HOST: &str = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com";
const STRIPE: &str = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:shop/stripe";

fn amagent(endpoint: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_amagent"));
    command.args(args);
    if let Some(endpoint) = endpoint {
        command
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true");
    }
    command.output().unwrap()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tests/fixtures/taskdefs/firelens-datadog.json (aws-samples) as a Terraform module would
/// register it: Fargate sizes, the app's image from ECR by tag, its port, env and secrets, and
/// a Datadog agent sidecar; the log router's image is AWS's own ECR (another account).
fn terraform_task_definition(stripe_arn: &str) -> serde_json::Value {
    let mut td: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/taskdefs/firelens-datadog.json")).unwrap();
    td["family"] = "shop-web".into();
    td["networkMode"] = "awsvpc".into();
    td["requiresCompatibilities"] = serde_json::json!(["FARGATE"]);
    td["cpu"] = "512".into();
    td["memory"] = "1024".into();
    let containers = td["containerDefinitions"].as_array_mut().unwrap();
    containers[0]["image"] =
        "906394416424.dkr.ecr.ap-southeast-2.amazonaws.com/aws-for-fluent-bit:stable".into();
    let app = &mut containers[1];
    app["name"] = "web".into();
    app["image"] = format!("{HOST}/shop/web:v2.4.1").into();
    app["portMappings"] = serde_json::json!([{ "containerPort": 8080, "protocol": "tcp" }]);
    app["environment"] = serde_json::json!([
        { "name": "RAILS_ENV", "value": "production" },
        { "name": "WEB_CONCURRENCY", "value": "4" }
    ]);
    app["secrets"] = serde_json::json!([
        { "name": "DATABASE_URL", "valueFrom": "arn:aws:ssm:ap-southeast-2:123456789012:parameter/shop/staging/web/database-url" },
        { "name": "STRIPE_KEY", "valueFrom": format!("{stripe_arn}:api_key::") }
    ]);
    containers.push(serde_json::json!({
        "name": "datadog-agent",
        "image": "public.ecr.aws/datadog/agent:7",
        "essential": false,
        "environment": [{ "name": "ECS_FARGATE", "value": "true" }],
        "secrets": [{ "name": "DD_API_KEY", "valueFrom": "arn:aws:ssm:ap-southeast-2:123456789012:parameter/shop/staging/datadog-api-key" }]
    }));
    td
}

/// The account: cluster, target group, ECR repository with the running image, SSM parameters,
/// the Stripe secret, and the service (2 tasks).
async fn seed(endpoint: &str) -> Aws {
    let aws = support::connect(endpoint).await;
    let stripe = seed_secrets(&aws).await;
    let td = terraform_task_definition(&stripe);
    let td = aws
        .cloud()
        .ecs
        .register_task_definition(&serde_json::from_value(td).unwrap())
        .await
        .unwrap();
    seed_image(&aws).await;
    seed_service(&aws, endpoint, &td.arn).await;
    aws
}

/// The SSM parameters (the app's and the Datadog agent's) and the Stripe secret; its ARN.
async fn seed_secrets(aws: &Aws) -> String {
    let c = aws.sdk_config();
    let stripe = aws_sdk_secretsmanager::Client::new(c)
        .create_secret()
        .name("shop/stripe")
        .secret_string(r#"{"api_key":"never-read"}"#)
        .send()
        .await
        .unwrap();
    assert!(stripe.arn().unwrap().starts_with(STRIPE));
    let ssm = aws_sdk_ssm::Client::new(c);
    for name in [
        "/shop/staging/web/database-url",
        "/shop/staging/datadog-api-key",
    ] {
        ssm.put_parameter()
            .name(name)
            .value("never-read")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    stripe.arn().unwrap().to_string()
}

/// ECR repository shop/web with the running image, tagged v2.4.1 and latest.
async fn seed_image(aws: &Aws) {
    let ecr = aws_sdk_ecr::Client::new(aws.sdk_config());
    ecr.create_repository()
        .repository_name("shop/web")
        .send()
        .await
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": format!("sha256:{:064x}", 7) },
        "layers": [{ "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 100, "digest": format!("sha256:{:064x}", 8) }]
    });
    for tag in ["v2.4.1", "latest"] {
        ecr.put_image()
            .repository_name("shop/web")
            .image_manifest(manifest.to_string())
            .image_tag(tag)
            .send()
            .await
            .unwrap();
    }
}

/// The target group (health check /up), the cluster and the service as Terraform declares it.
async fn seed_service(aws: &Aws, endpoint: &str, task_definition: &str) {
    use aws_sdk_ecs::types as ecs;
    let c = aws.sdk_config();
    let group = aws_sdk_elasticloadbalancingv2::Client::new(c)
        .create_target_group()
        .name("shop-web-staging")
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(8080)
        .vpc_id(support::vpc(endpoint).await)
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .health_check_path("/up")
        .send()
        .await
        .unwrap();
    let group = group.target_groups()[0].target_group_arn().unwrap();
    let client = aws_sdk_ecs::Client::new(c);
    client
        .create_cluster()
        .cluster_name("shop-staging")
        .send()
        .await
        .unwrap();
    client
        .create_service()
        .cluster("shop-staging")
        .service_name("shop-web-staging")
        .task_definition(task_definition)
        .desired_count(2)
        .launch_type(ecs::LaunchType::Fargate)
        .health_check_grace_period_seconds(60)
        .load_balancers(
            ecs::LoadBalancer::builder()
                .target_group_arn(group)
                .container_name("web")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn adopted(dir: &Path, env: &str) -> Environment {
    load_dir(dir).unwrap().environments[env].clone()
}

fn init_args<'a>(dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "init",
        "--env",
        "staging",
        "--region",
        REGION,
        "--cluster",
        "shop-staging",
        "--service",
        "shop-web-staging",
        "--dir",
        dir,
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test]
async fn adopts_a_terraform_made_service_with_sidecars_on_moto() {
    let (_moto, endpoint) = support::moto::fresh().await;
    seed(&endpoint).await;
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().to_str().unwrap().to_string();
    let endpoint2 = endpoint.clone();
    let (first, again, refused) = tokio::task::spawn_blocking(move || {
        let first = amagent(Some(&endpoint2), &init_args(&dir, &[]));
        let text = std::fs::read_to_string(Path::new(&dir).join("environments/staging.yaml"));
        let refused = amagent(Some(&endpoint2), &init_args(&dir, &[]));
        let again = amagent(Some(&endpoint2), &init_args(&dir, &["--force"]));
        let again_text = std::fs::read_to_string(Path::new(&dir).join("environments/staging.yaml"));
        (
            (first, text.unwrap()),
            (again, again_text.unwrap()),
            refused,
        )
    })
    .await
    .unwrap();
    let stdout = ok(&first.0);
    assert!(
        stdout.contains("wrote environments/staging.yaml"),
        "{stdout}"
    );
    assert!(stdout.contains("wrote pipelines/web.yaml"), "{stdout}");
    let text = first.1;
    assert!(text.starts_with("# Generated by `amagent init`"), "{text}");
    assert!(text.contains(&format!("{HOST}/shop/web@sha256:")), "{text}");
    // (moto does not keep healthCheckGracePeriodSeconds: the header's line for it is
    // covered by init's unit tests.)
    assert!(!text.contains("never-read"));
    // Refused without --force (exit 2), idempotent with it.
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    ok(&again.0);
    assert_eq!(again.1, text, "the same account gives the same file");

    let env = adopted(repo.path(), "staging");
    assert_as_it_runs(&env);
    doctor_finds_nothing_amiss(&endpoint, repo.path()).await;
    renders_no_new_revision(&endpoint, &env.services[0]).await;
}

/// The spec says what runs: the app's container, image, sizes, variables, secrets, group.
fn assert_as_it_runs(env: &Environment) {
    assert_eq!(env.aws.account_id, "123456789012");
    assert_eq!(env.ssm.naming, "/shop/{env}/{service}/{secret}");
    let s = &env.services[0];
    assert_eq!((s.name.as_str(), s.pipeline.as_str()), ("web", "web"));
    assert_eq!(
        (
            s.ecs.service.as_str(),
            s.ecs.task_family.as_str(),
            s.ecs.container.as_str()
        ),
        ("shop-web-staging", "shop-web", "web"),
        "the app, not the log router (another account's ECR) or the agent (public)"
    );
    assert_eq!(s.image.repository, "shop/web");
    assert_eq!(s.source.reference, "v2.4.1");
    assert_eq!(
        (s.cpu, s.memory, s.desired_count.fixed()),
        (512, 1024, Some(2))
    );
    assert_eq!(s.env["RAILS_ENV"], "production");
    assert_eq!(s.secrets["DATABASE_URL"], "/shop/staging/web/database-url");
    assert!(s.secrets["STRIPE_KEY"].starts_with(STRIPE));
    assert!(s.secrets["STRIPE_KEY"].ends_with(":api_key::"));
    assert!(!s.secrets.contains_key("DD_API_KEY"), "the sidecar's own");
    let lb = s.load_balancer.as_ref().unwrap();
    assert_eq!(
        (
            lb.target_group.as_str(),
            lb.container_port,
            lb.health_check_path.as_str()
        ),
        ("shop-web-staging", 8080, "/up")
    );
    // moto keeps no deploymentConfiguration (nor grace period) and answers ECS's defaults;
    // init's unit tests cover other values.
    assert_eq!(
        (s.deploy.minimum_healthy_percent, s.deploy.maximum_percent),
        (100, 200)
    );
}

/// `doctor` on the adopted file: every check passes, nothing to verify by hand.
async fn doctor_finds_nothing_amiss(endpoint: &str, dir: &Path) {
    let (endpoint, dir) = (endpoint.to_string(), dir.to_str().unwrap().to_string());
    let doctor = tokio::task::spawn_blocking(move || {
        amagent(
            Some(&endpoint),
            &[
                "--output", "json", "doctor", "--env", "staging", "--dir", &dir,
            ],
        )
    })
    .await
    .unwrap();
    let doctor: serde_json::Value = serde_json::from_str(&ok(&doctor)).unwrap();
    let checks = doctor["checks"].as_array().unwrap();
    let amiss: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|c| c["ok"] == false || c["warning"] == true)
        .collect();
    assert!(amiss.is_empty(), "{amiss:#?}");
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "Secrets Manager secret"),
        "{checks:#?}"
    );
}

/// A deploy of the running image renders the very task definition that runs: no new
/// revision. (The whole `deploy` command runs on the simulator below: moto's deployments never
/// reach COMPLETED, so its gate would wait.)
async fn renders_no_new_revision(endpoint: &str, spec: &amagent::config::Service) {
    let cloud = support::connect(endpoint).await.cloud();
    let running = cloud
        .ecs
        .describe_services("shop-staging", &["shop-web-staging".to_string()])
        .await
        .unwrap()[0]
        .task_definition
        .clone();
    let live = cloud.ecs.describe_task_definition(&running).await.unwrap();
    let image = format!("{HOST}/shop/web:v2.4.1");
    let rendered = render(&live, spec, &image, |p| cloud.ssm.arn(p)).unwrap();
    assert_eq!(rendered, None, "the adopted spec changes nothing");
}

#[tokio::test]
async fn several_ecr_containers_ask_which() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    // Both containers run images from this account's ECR: which one is the service's own?
    let mut td = terraform_task_definition(STRIPE);
    td["containerDefinitions"][0]["image"] = format!("{HOST}/shop/log-router:1").into();
    let td = aws
        .cloud()
        .ecs
        .register_task_definition(&serde_json::from_value(td).unwrap())
        .await
        .unwrap();
    let client = aws_sdk_ecs::Client::new(aws.sdk_config());
    client
        .create_cluster()
        .cluster_name("shop-staging")
        .send()
        .await
        .unwrap();
    client
        .create_service()
        .cluster("shop-staging")
        .service_name("shop-web-staging")
        .task_definition(&td.arn)
        .desired_count(1)
        .send()
        .await
        .unwrap();
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || amagent(Some(&endpoint), &init_args(&dir, &[])))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "several containers of shop-web:1 run images from this account's ECR (log_router, web)"
        ) && err.contains("--container"),
        "{err}"
    );
    assert!(
        !repo.path().join("environments").exists(),
        "nothing written"
    );
}

#[test]
fn adopts_the_simulated_staging_service_back_into_its_spec() {
    let repo = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(repo.path().join("environments")).unwrap();
    std::fs::create_dir_all(repo.path().join("pipelines")).unwrap();
    std::fs::copy(
        root.join("environments/staging.yaml"),
        repo.path().join("environments/staging.yaml"),
    )
    .unwrap();
    std::fs::copy(
        root.join("pipelines/api.yaml"),
        repo.path().join("pipelines/api.yaml"),
    )
    .unwrap();
    let original = adopted(repo.path(), "staging");
    let dir = repo.path().to_str().unwrap();
    let args = [
        "init",
        "--env",
        "staging",
        "--region",
        REGION,
        "--cluster",
        "aussie-markets-staging",
        "--service",
        "aussie-markets-api-staging",
        "--dir",
        dir,
        "--sim",
        "healthy",
        "--force",
    ];
    let stdout = ok(&amagent(None, &args));
    assert!(
        !stdout.contains("pipelines/"),
        "pipelines/api.yaml fits: {stdout}"
    );
    let back = adopted(repo.path(), "staging");
    let (mut a, b) = (back.services[0].clone(), original.services[0].clone());
    assert_eq!(a.source.reference, b.source.reference);
    assert!(a.source.url.contains("REPLACE-ME"));
    a.source.url = b.source.url.clone();
    assert_eq!(a, b, "every field the account shows comes back as written");
    assert_eq!(back.ssm, original.ssm);
    // doctor and a deploy of the running release on the simulator: nothing to do.
    ok(&amagent(
        None,
        &[
            "doctor", "--env", "staging", "--dir", dir, "--sim", "healthy",
        ],
    ));
    let journal = tempfile::tempdir().unwrap();
    let out = ok(&amagent(
        None,
        &[
            "--output",
            "json",
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
            "--image",
            "v1.3.0",
            "--dir",
            dir,
            "--sim",
            "healthy",
            "--journal",
            journal.path().to_str().unwrap(),
        ],
    ));
    let deploy: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        deploy["reason"], "already running this image and configuration",
        "{deploy:#}"
    );
}
