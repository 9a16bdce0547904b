//! `amagent doctor` against moto through AWS_ENDPOINT_URL: ✓ for an account seeded like the
//! staging spec, ✗ with the fix (and where it is configured) for a missing target group and a
//! missing SSM parameter.

mod support;

use amagent::cloud::aws::Aws;
use std::process::Command;

async fn seed(endpoint: &str) -> Aws {
    support::seed_staging(endpoint).await
}

fn doctor(endpoint: &str) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["--output", "json", "doctor", "--env", "staging", "--dir"])
        .arg(env!("CARGO_MANIFEST_DIR"))
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
    }

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
