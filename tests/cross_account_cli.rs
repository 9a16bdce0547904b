//! Promotion across accounts through the binary: `amagent promote --sim` with production in
//! another account (reached through its role) copies staging's verified digest from staging's
//! account's registry into production's and deploys it under production's own registry host;
//! `amagent validate` refuses a promotion across accounts that no role makes readable, naming
//! file:line and the fix. Two real registries stand for the two accounts' registries.

mod support;

use amagent::state::journal::{Journal, LocalJournal, Phase, Record};
use std::path::Path;
use std::process::{Command, Output};
use support::envrepo::git;
use support::registry::Registry;

const STAGING_ACCOUNT: &str = "123456789012";
const PROD_ACCOUNT: &str = "210987654321";
const PROD_ROLE: &str = "arn:aws:iam::210987654321:role/amagent-deployer";

/// Production moved to `PROD_ACCOUNT`, with `role` when given.
fn production_in_other_account(text: &str, role: Option<&str>) -> String {
    if !text.contains("name: production") {
        return text.to_string();
    }
    let aws = match role {
        Some(role) => format!("accountId: \"{PROD_ACCOUNT}\"\n  roleArn: {role}"),
        None => format!("accountId: \"{PROD_ACCOUNT}\""),
    };
    text.replace(&format!("accountId: \"{STAGING_ACCOUNT}\""), &aws)
}

fn validate(dir: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .arg("validate")
        .arg(dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn validate_wants_a_role_on_one_side_of_a_promotion_across_accounts() {
    let tmp = tempfile::tempdir().unwrap();
    let no_role = tmp.path().join("no-role");
    support::envrepo::example(&no_role, |t| production_in_other_account(t, None));
    let (code, out) = validate(&no_role);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("environments/production.yaml:23:")
            && out.contains("`production` (account 210987654321) promotes from `staging` (account 123456789012), and neither names `aws.roleArn`")
            && out.contains("add `aws.roleArn` (a role in 210987654321 the agent may assume) to environments/production.yaml"),
        "{out}"
    );
    let with_role = tmp.path().join("with-role");
    support::envrepo::example(&with_role, |t| {
        production_in_other_account(t, Some(PROD_ROLE))
    });
    let (code, out) = validate(&with_role);
    assert_eq!(code, Some(0), "{out}");
}

fn record(n: i64, service: Option<&str>, step: &str, detail: serde_json::Value) -> Record {
    Record {
        at: chrono::DateTime::from_timestamp(1_790_000_000 + n, 0).unwrap(),
        run: "staging-verified".into(),
        env: "staging".into(),
        service: service.map(String::from),
        step: step.into(),
        phase: Phase::Finished,
        outcome: Some("succeeded".into()),
        detail,
    }
}

/// A simulated runs' journal in which staging applied `commit` and verified `image`.
async fn staging_verified(dir: &Path, commit: &str, image: &str) {
    let journal = LocalJournal::new(dir);
    for r in [
        record(
            0,
            Some("api"),
            "deploy",
            serde_json::json!({ "image": image }),
        ),
        record(1, None, "apply", serde_json::json!({ "commit": commit })),
    ] {
        journal.append(&r).await.unwrap();
    }
    std::fs::write(dir.join("SIMULATED"), "").unwrap();
}

fn promote(
    tmp: &Path,
    bare: &Path,
    commit: &str,
    (staging, production): (String, String),
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amagent"))
        .current_dir(tmp)
        .args([
            "promote", "--tag", "v1.4.0", "--commit", commit, "--sim", "healthy",
        ])
        .arg("--repo")
        .arg(bare)
        .arg("--journal")
        .arg(tmp.join("journal"))
        .arg("--cache")
        .arg(tmp.join("cache"))
        // Each account's ECR login hands out its own registry, and no shared one exists.
        .env_remove("AMAGENT_SIM_REGISTRY")
        .env(format!("AMAGENT_SIM_REGISTRY_{STAGING_ACCOUNT}"), staging)
        .env(format!("AMAGENT_SIM_REGISTRY_{PROD_ACCOUNT}"), production)
        .env("RUST_LOG", "debug")
        .env_remove("AMAGENT_JOURNAL")
        .env_remove("GITHUB_TOKEN")
        .env_remove("AMAGENT_REPO")
        .output()
        .unwrap()
}

/// The example with production in another account (through its role), a bare remote of it,
/// two registries (one per account) and staging's verified image in staging's registry.
struct Fixture {
    tmp: tempfile::TempDir,
    bare: std::path::PathBuf,
    commit: String,
    staging: Registry,
    production: Registry,
    image: support::oci_images::Pushed,
}

async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("envrepo");
    support::envrepo::example(&work, |t| production_in_other_account(t, Some(PROD_ROLE)));
    let commit = git(&work, &["rev-parse", "HEAD"]);
    let bare = tmp.path().join("remote.git");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let staging = Registry::start_as("staging-reader", "staging-registry-s3cret");
    let production = Registry::start_as("production-pusher", "production-registry-s3cret");
    let image = support::oci_images::push_image(
        &staging,
        "aussie-markets/api",
        "api v1.4.0",
        "amd64",
        Some("v1.4.0"),
    )
    .await;
    let verified = format!(
        "{STAGING_ACCOUNT}.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api@{}",
        image.digest
    );
    staging_verified(&tmp.path().join("journal"), &commit, &verified).await;
    Fixture {
        tmp,
        bare,
        commit,
        staging,
        production,
        image,
    }
}

/// Neither registry's password (nor `also`), at debug level, anywhere in `text`.
fn assert_no_password(text: &str, also: &str) {
    for secret in [
        "staging-registry-s3cret",
        "production-registry-s3cret",
        also,
    ] {
        assert!(
            secret.is_empty() || !text.contains(secret),
            "{secret} leaked: {text}"
        );
    }
}

#[tokio::test]
async fn promote_on_the_simulator_copies_into_production_s_own_account_registry() {
    let Fixture {
        tmp,
        bare,
        commit,
        staging,
        production,
        image,
    } = fixture().await;
    let logins = (
        staging.sim_registry(&staging.password),
        production.sim_registry(&production.password),
    );
    // Blocking is fine here: the registries are processes of their own.
    let out = promote(tmp.path(), &bare, &commit, logins);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");

    // The same bytes in production's registry, under the tag.
    let (status, bytes) =
        support::oci_images::manifest(&production, "aussie-markets/api-production", "v1.4.0").await;
    assert_eq!((status, &bytes), (200, &image.bytes), "{text}");
    // Deployed by digest under production's own account's registry host.
    let journal =
        std::fs::read_to_string(tmp.path().join("journal/production.jsonl")).unwrap_or_default();
    let deployed = format!(
        "\"image\":\"{PROD_ACCOUNT}.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api-production@{}\"",
        image.digest
    );
    assert!(journal.contains(&deployed), "{journal}\n{text}");
    assert!(
        journal.contains("\"step\":\"deploy\",\"phase\":\"finished\",\"outcome\":\"succeeded\""),
        "{journal}"
    );
    assert_no_password(&(text + &journal), "");
}

/// Staging's login refused by staging's registry: production's service is not deployed, and
/// the failure names both registries, never a password.
#[tokio::test]
async fn a_refused_source_login_fails_the_promotion_naming_the_registries_without_secrets() {
    let f = fixture().await;
    let wrong = "not-the-staging-s3cret";
    let logins = (
        f.staging.sim_registry(wrong),
        f.production.sim_registry(&f.production.password),
    );
    let out = promote(f.tmp.path(), &f.bare, &f.commit, logins);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let journal =
        std::fs::read_to_string(f.tmp.path().join("journal/production.jsonl")).unwrap_or_default();
    let cannot = format!(
        "cannot copy {STAGING_ACCOUNT}.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api@{} to {PROD_ACCOUNT}.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api-production",
        f.image.digest
    );
    // Said in the log (and in the pull requests' comment, with GitHub).
    assert!(text.contains(&cannot), "{text}");
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(
        !journal.contains("\"step\":\"deploy\",\"phase\":\"started\""),
        "nothing deployed: {journal}"
    );
    let (status, _) =
        support::oci_images::manifest(&f.production, "aussie-markets/api-production", "v1.4.0")
            .await;
    assert_eq!(status, 404);
    assert_no_password(&(text + &journal), wrong);
}
