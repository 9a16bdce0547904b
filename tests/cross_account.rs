//! Promotion across accounts (issue 15 item 4): staging's verified digest copied from staging's
//! registry (read with staging's own login) into production's registry in another account
//! (written with production's), manifest bytes unchanged — multi-arch indexes too — and blobs
//! uploaded, never mounted, across registries. Two real registries (Debian's docker-registry),
//! each with its own htpasswd user, stand for the two accounts' registries; the simulator hands
//! each account's ECR login its own one.

mod support;

use amagent::clock::Clock;
use amagent::cloud::sim::{FaultScript, Simulator};
use amagent::stages::image::copy::{CopyReport, Side, copy_by_digest};
use amagent::stages::image::push::PushError;
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::oci_images::{self, Pushed};
use support::registry::Registry;

const STAGING_ACCOUNT: &str = "123456789012";
const PROD_ACCOUNT: &str = "210987654321";
const STAGING_PASSWORD: &str = "staging-registry-s3cret";
const PROD_PASSWORD: &str = "production-registry-s3cret";

/// Everything logged at any level while a test runs (the copy's and oci-client's and
/// reqwest's own), to show no credential is ever written out.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn start(&self) -> tracing::subscriber::DefaultGuard {
        let me = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || me.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// No password, and no basic-auth header made of one, in `text`.
fn assert_no_secret(text: &str, registries: &[&Registry]) {
    use base64::Engine;
    for r in registries {
        let header =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", r.user, r.password));
        assert!(
            !text.contains(&r.password) && !text.contains(&header),
            "a credential of {} leaked: {text}",
            r.user
        );
    }
}

/// Two registries, one per account, each with its own user; the simulator's two accounts'
/// ECR logins hand out one each.
fn two_accounts() -> (Registry, Registry, Simulator) {
    let staging = Registry::start_as("staging-reader", STAGING_PASSWORD);
    let production = Registry::start_as("production-pusher", PROD_PASSWORD);
    let sim = Simulator::new(Clock::system(), FaultScript::default());
    sim.use_registry_for(STAGING_ACCOUNT, &staging.sim_registry(STAGING_PASSWORD));
    sim.use_registry_for(PROD_ACCOUNT, &production.sim_registry(PROD_PASSWORD));
    (staging, production, sim)
}

async fn copy(sim: &Simulator, digest: &str) -> Result<CopyReport, PushError> {
    let (source, target) = (sim.cloud_in(STAGING_ACCOUNT), sim.cloud_in(PROD_ACCOUNT));
    copy_by_digest(
        Side {
            cloud: &source,
            repository: "aussie-markets/api",
        },
        Side {
            cloud: &target,
            repository: "aussie-markets/api-production",
        },
        digest,
        &["v1.4.0".to_string()],
    )
    .await
}

/// The request lines of a registry's access log that name `what`.
fn requests_naming(registry: &Registry, what: &str) -> Vec<String> {
    registry
        .log()
        .lines()
        .filter(|l| l.starts_with("127.0.0.1 - ") && l.contains(what))
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn an_image_and_an_index_keep_their_digests_across_two_accounts_registries() {
    let (staging, production, sim) = two_accounts();
    let image = oci_images::push_image(
        &staging,
        "aussie-markets/api",
        "api v1.4.0",
        "amd64",
        Some("v1.4.0"),
    )
    .await;
    let log = Captured::default();
    let guard = log.start();
    let report = copy(&sim, &image.digest).await.unwrap();

    assert_eq!(
        report.image,
        format!(
            "{PROD_ACCOUNT}.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api-production@{}",
            image.digest
        ),
        "named in production's own registry"
    );
    // Across registries every blob is uploaded (config and layer), none mounted.
    assert_eq!(
        (
            report.blobs_uploaded,
            report.blobs_mounted,
            report.blobs_present
        ),
        (2, 0, 0)
    );
    let (status, bytes) =
        oci_images::manifest(&production, "aussie-markets/api-production", "v1.4.0").await;
    assert_eq!(status, 200);
    assert_eq!(bytes, image.bytes, "the very same manifest bytes");
    assert_eq!(oci_images::digest_of(&bytes), image.digest);

    // Each registry heard only of its own repository: staging was read (never written, never
    // told of production's repository), and production was never asked to mount from
    // staging's repository, which is not in it. The users and passwords of the two registries
    // differ, so each side used its own login (the next test refuses a wrong one).
    assert!(!requests_naming(&staging, "GET /v2/aussie-markets/api/manifests/").is_empty());
    assert_eq!(
        requests_naming(&staging, "api-production"),
        Vec::<String>::new()
    );
    assert_eq!(staging.blob_uploads(), 2, "only the test's own pushes");
    assert_eq!(requests_naming(&production, "mount="), Vec::<String>::new());
    assert_eq!(
        requests_naming(&production, "/v2/aussie-markets/api/"),
        Vec::<String>::new()
    );

    // A multi-arch index: each listed manifest by digest, then the index's own bytes.
    let arm = oci_images::push_image(
        &staging,
        "aussie-markets/api",
        "api v1.5.0 arm64",
        "arm64",
        None,
    )
    .await;
    let amd = oci_images::push_image(
        &staging,
        "aussie-markets/api",
        "api v1.5.0 amd64",
        "amd64",
        None,
    )
    .await;
    let index: Pushed = oci_images::push_index(
        &staging,
        "aussie-markets/api",
        &[(&amd, "amd64"), (&arm, "arm64")],
        "v1.5.0",
    )
    .await;
    let report = copy(&sim, &index.digest).await.unwrap();
    assert_eq!(report.manifests_copied, 2);
    assert_eq!(report.blobs_uploaded, 4, "two configs and two layers");
    let (status, bytes) =
        oci_images::manifest(&production, "aussie-markets/api-production", "v1.4.0").await;
    assert_eq!(status, 200);
    assert_eq!(bytes, index.bytes, "the index's very bytes");
    for child in [&amd, &arm] {
        let (status, bytes) =
            oci_images::manifest(&production, "aussie-markets/api-production", &child.digest).await;
        assert_eq!((status, bytes), (200, child.bytes.clone()));
    }
    drop(guard);
    let logged = log.text();
    assert!(logged.contains("copying across registries"), "{logged}");
    assert_no_secret(&logged, &[&staging, &production]);
}

#[tokio::test]
async fn a_source_login_the_source_registry_refuses_fails_clearly_without_the_secret() {
    let (staging, production, sim) = two_accounts();
    let image =
        oci_images::push_image(&staging, "aussie-markets/api", "api v1.4.0", "amd64", None).await;
    // Staging's login hands out production's password: wrong for staging's registry.
    sim.use_registry_for(
        STAGING_ACCOUNT,
        &format!("http://staging-reader:{PROD_PASSWORD}@{}", staging.addr),
    );
    let log = Captured::default();
    let guard = log.start();
    let err = copy(&sim, &image.digest).await.unwrap_err();
    drop(guard);
    let message = err.to_string();
    assert!(
        matches!(&err, PushError::Unauthorized { registry, .. } if *registry == staging.addr),
        "{err:?}"
    );
    assert!(message.contains("refused the credentials"), "{message}");
    assert_no_secret(&(message + &log.text()), &[&staging, &production]);
    let (status, _) =
        oci_images::manifest(&production, "aussie-markets/api-production", "v1.4.0").await;
    assert_eq!(status, 404, "nothing tagged in production");
    assert_eq!(production.blob_uploads(), 0);
}

#[tokio::test]
async fn inside_one_registry_blobs_are_still_mounted() {
    let registry = Registry::start();
    let sim = Simulator::new(Clock::system(), FaultScript::default());
    sim.use_registry(&registry.sim_registry(&registry.password));
    let image =
        oci_images::push_image(&registry, "aussie-markets/api", "api v1.4.0", "amd64", None).await;
    let cloud = sim.cloud_in(STAGING_ACCOUNT);
    let report = copy_by_digest(
        Side {
            cloud: &cloud,
            repository: "aussie-markets/api",
        },
        Side {
            cloud: &cloud,
            repository: "aussie-markets/api-production",
        },
        &image.digest,
        &["v1.4.0".to_string()],
    )
    .await
    .unwrap();
    assert_eq!((report.blobs_mounted, report.blobs_uploaded), (2, 0));
    let (status, bytes) =
        oci_images::manifest(&registry, "aussie-markets/api-production", "v1.4.0").await;
    assert_eq!((status, bytes), (200, image.bytes));
}

#[tokio::test]
async fn a_target_login_the_target_registry_refuses_names_the_target() {
    let (staging, production, sim) = two_accounts();
    let image =
        oci_images::push_image(&staging, "aussie-markets/api", "api v1.4.0", "amd64", None).await;
    // Production's login hands out staging's password: wrong for production's registry.
    sim.use_registry_for(
        PROD_ACCOUNT,
        &format!(
            "http://production-pusher:{STAGING_PASSWORD}@{}",
            production.addr
        ),
    );
    let err = copy(&sim, &image.digest).await.unwrap_err();
    assert!(
        matches!(&err, PushError::Unauthorized { registry, .. } if *registry == production.addr),
        "{err:?}"
    );
    assert_no_secret(&err.to_string(), &[&staging, &production]);
}
