//! One agent, several AWS accounts (issue 15): an environment with `aws.roleArn` is served
//! through that role (STS AssumeRole, session `amagent-<env>`), in the role's account, while
//! the others keep the agent's own credentials. On moto, whose STS hands out credentials that
//! act in the assumed role's account — two accounts on one server.

mod support;

use amagent::cloud::aws::{AssumeRole, Aws, Options, Target};
use std::process::Command;

const PROD_ACCOUNT: &str = "222222222222";
const ROLE: &str = "arn:aws:iam::222222222222:role/amagent-deployer";

async fn as_role(endpoint: &str) -> Aws {
    Aws::connect_with(
        Target {
            account: PROD_ACCOUNT.into(),
            region: "ap-southeast-2".into(),
        },
        Options {
            endpoint: Some(endpoint.to_string()),
            static_credentials: Some(("testing".into(), amagent::secret::Secret::new("testing"))),
            assume_role: Some(AssumeRole {
                arn: ROLE.into(),
                external_id: Some("aussie-markets-prod".into()),
                session_name: "amagent-production".into(),
            }),
        },
    )
    .await
}

async fn clusters(aws: &Aws) -> Vec<String> {
    aws_sdk_ecs::Client::new(aws.sdk_config())
        .list_clusters()
        .send()
        .await
        .unwrap()
        .cluster_arns()
        .to_vec()
}

#[tokio::test]
async fn an_assumed_role_acts_in_the_roles_account_and_only_there() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let own = support::connect(&endpoint).await;
    let role = as_role(&endpoint).await;
    let (account, arn) = role.caller_identity().await.unwrap();
    assert_eq!(account, PROD_ACCOUNT);
    assert_eq!(
        arn,
        "arn:aws:sts::222222222222:assumed-role/amagent-deployer/amagent-production"
    );
    assert_eq!(own.caller_identity().await.unwrap().0, "123456789012");

    aws_sdk_ecs::Client::new(role.sdk_config())
        .create_cluster()
        .cluster_name("aussie-markets-production")
        .send()
        .await
        .unwrap();
    assert_eq!(
        clusters(&role).await,
        ["arn:aws:ecs:ap-southeast-2:222222222222:cluster/aussie-markets-production"]
    );
    assert!(
        clusters(&own).await.is_empty(),
        "the agent's own account is untouched"
    );
}

/// The environments repo with production moved to another account, reached through a role.
fn repo_with_production_in(dir: &std::path::Path, role: Option<&str>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["environments", "pipelines"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for f in std::fs::read_dir(root.join(sub)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.join(sub).join(f.file_name().unwrap())).unwrap();
        }
    }
    let path = dir.join("environments/production.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let aws = match role {
        Some(role) => format!("accountId: \"{PROD_ACCOUNT}\"\n  roleArn: {role}"),
        None => format!("accountId: \"{PROD_ACCOUNT}\""),
    };
    // Without a role, promotion from staging's account would be refused by validate (no way to
    // read one registry and write the other): production then builds from source.
    let text = match role {
        Some(_) => text,
        None => text.replace("promotion:\n  from: staging\n  tagPattern: \"v*\"\n", ""),
    };
    std::fs::write(&path, text.replace("accountId: \"123456789012\"", &aws)).unwrap();
}

fn amagent(dir: &std::path::Path, endpoint: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["--output", "json"])
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

fn check<'a>(json: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no {check} in {json}"))
}

#[tokio::test]
async fn doctor_checks_each_environment_in_its_own_account() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let role = as_role(&endpoint).await;
    aws_sdk_ecs::Client::new(role.sdk_config())
        .create_cluster()
        .cluster_name("aussie-markets-production")
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    repo_with_production_in(dir.path(), Some(ROLE));
    let (_, out) = tokio::task::spawn_blocking({
        let (dir, endpoint) = (dir.path().to_owned(), endpoint.clone());
        move || amagent(&dir, &endpoint, &["doctor", "--env", "production"])
    })
    .await
    .unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let credentials = check(&json, "credentials");
    assert_eq!(credentials["ok"], true, "{credentials}");
    assert_eq!(
        credentials["subject"],
        "arn:aws:sts::222222222222:assumed-role/amagent-deployer/amagent-production"
    );
    assert_eq!(check(&json, "ECS cluster")["ok"], true, "{json:#}");

    // Without the role the agent's own credentials are in the wrong account: said plainly.
    repo_with_production_in(dir.path(), None);
    let (code, out) = tokio::task::spawn_blocking({
        let (dir, endpoint) = (dir.path().to_owned(), endpoint.clone());
        move || amagent(&dir, &endpoint, &["doctor", "--env", "production"])
    })
    .await
    .unwrap();
    assert_ne!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let credentials = check(&json, "credentials");
    assert_eq!(credentials["ok"], false);
    assert!(
        credentials["detail"]
            .as_str()
            .unwrap()
            .contains("for account 123456789012, but the spec says 222222222222"),
        "{credentials}"
    );
}

#[test]
fn validate_refuses_a_role_in_another_account() {
    let dir = tempfile::tempdir().unwrap();
    repo_with_production_in(
        dir.path(),
        Some("arn:aws:iam::333333333333:role/amagent-deployer"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("environments/production.yaml:9")
            && stderr.contains(
                "the role is in account 333333333333, but `aws.accountId` is 222222222222"
            ),
        "{stderr}"
    );
}

/// Promotion across accounts logs in to each side's registry with that side's own access: on
/// moto (whose ECR token names the caller's account), staging's login through the agent's own
/// credentials is staging's account's registry and token, production's through its role is
/// production's — what the copy reads and writes with (tests/cross_account.rs).
#[tokio::test]
async fn each_environment_s_registry_login_is_its_own_account_s() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    repo_with_production_in(dir.path(), Some(ROLE));
    let path = dir.path().join("environments/production.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            &format!("roleArn: {ROLE}"),
            &format!("roleArn: {ROLE}\n  externalId: aussie-markets-prod"),
        ),
    )
    .unwrap();
    let model = amagent::config::load_dir(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    let accounts = amagent::daemon::accounts::Accounts::new(
        Options {
            endpoint: Some(endpoint.clone()),
            static_credentials: Some(("testing".into(), amagent::secret::Secret::new("testing"))),
            assume_role: None,
        },
        None,
        None,
    );
    for (env, account) in [("staging", "123456789012"), ("production", PROD_ACCOUNT)] {
        let cloud = accounts.cloud_for(&model.environments[env]).await;
        let host = format!("{account}.dkr.ecr.ap-southeast-2.amazonaws.com");
        assert_eq!(cloud.ecr.registry_host(), host, "{env}");
        let auth = cloud.ecr.get_authorization_token().await.unwrap();
        assert_eq!(auth.endpoint, format!("https://{host}"), "{env}");
        assert_eq!(auth.username, "AWS");
        assert_eq!(
            auth.password.expose(),
            format!("{account}-auth-token"),
            "{env}: the token is its own account's"
        );
        let shown = format!("{auth:?}");
        assert!(!shown.contains("auth-token"), "{shown}");
    }
}

async fn create_repository(aws: &Aws, name: &str) {
    aws_sdk_ecr::Client::new(aws.sdk_config())
        .create_repository()
        .repository_name(name)
        .send()
        .await
        .unwrap();
}

/// `doctor` for an environment promoted from another account checks the source registry with
/// the *source* environment's own access (here the agent's own credentials, staging's account),
/// not the target's role: a repository of that name in production's account does not count.
#[tokio::test]
async fn doctor_reads_the_promotion_source_with_the_source_s_own_access() {
    let (_moto, endpoint) = support::moto::fresh().await;
    let role = as_role(&endpoint).await;
    create_repository(&role, "aussie-markets/api").await;
    let dir = tempfile::tempdir().unwrap();
    repo_with_production_in(dir.path(), Some(ROLE));
    let doctor = || {
        let (dir, endpoint) = (dir.path().to_owned(), endpoint.clone());
        tokio::task::spawn_blocking(move || {
            amagent(&dir, &endpoint, &["doctor", "--env", "production"])
        })
    };
    let (_, out) = doctor().await.unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let login = check(&json, "promotion source login");
    assert_eq!(login["ok"], true, "{login}");
    assert_eq!(
        login["subject"],
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com"
    );
    let repository = check(&json, "promotion source repository");
    assert_eq!(repository["ok"], false, "{repository}");
    assert_eq!(
        repository["subject"],
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api"
    );

    create_repository(&support::connect(&endpoint).await, "aussie-markets/api").await;
    let (_, out) = doctor().await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let repository = check(&json, "promotion source repository");
    assert_eq!(repository["ok"], true, "{repository}");
    assert!(
        repository["detail"]
            .as_str()
            .unwrap()
            .contains("with the agent's own credentials"),
        "{repository}"
    );
}
