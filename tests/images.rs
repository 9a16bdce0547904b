//! Build and push with real parts: a git source repository made here, buildah (vfs storage,
//! chroot isolation), and Debian's docker-registry with htpasswd auth — through `amagent build`
//! and `amagent deploy` on the simulator, whose ECR hands out the real registry
//! (AMAGENT_SIM_REGISTRY).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::registry::Registry;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A service source repository: a tiny Dockerfile and one file, tagged v1.4.0.
fn source_repo(dir: &Path) -> String {
    let repo = git2::Repository::init(dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nARG NODE_VERSION\nCOPY hello.txt /hello.txt\n",
    )
    .unwrap();
    std::fs::write(dir.join("hello.txt"), "hello from the api\n").unwrap();
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig =
        git2::Signature::new("Ada", "ada@example.com", &git2::Time::new(1_764_000_000, 0)).unwrap();
    let commit = repo
        .commit(Some("HEAD"), &sig, &sig, "api v1.4.0", &tree, &[])
        .unwrap();
    repo.tag_lightweight("v1.4.0", &repo.find_object(commit, None).unwrap(), false)
        .unwrap();
    commit.to_string()
}

/// The worked example with staging's api built from `source` at v1.4.0.
fn environments(dir: &Path, source: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["environments", "pipelines"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let text = text
                .replace(
                    "url: https://github.com/aussie-markets/api.git",
                    &format!("url: {}", source.display()),
                )
                .replace("ref: v1.3.0", "ref: v1.4.0");
            std::fs::write(dir.join(sub).join(entry.file_name()), text).unwrap();
        }
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    envs: PathBuf,
    cache: PathBuf,
    journal: PathBuf,
    commit: String,
    source: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("api-src");
    std::fs::create_dir_all(&source).unwrap();
    let commit = source_repo(&source);
    let envs = tmp.path().join("envrepo");
    environments(&envs, &source);
    Fixture {
        envs,
        cache: tmp.path().join("cache"),
        journal: tmp.path().join("journal"),
        commit,
        source,
        _tmp: tmp,
    }
}

fn amagent(f: &Fixture, registry: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(args)
        .arg("--dir")
        .arg(&f.envs)
        .env("AMAGENT_SIM_REGISTRY", registry)
        .env("AMAGENT_CACHE", &f.cache)
        .env("AMAGENT_JOURNAL", &f.journal)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const BUILD: [&str; 9] = [
    "--output",
    "json",
    "build",
    "--env",
    "staging",
    "--service",
    "api",
    "--sim",
    "healthy",
];

#[tokio::test(flavor = "multi_thread")]
async fn builds_pushes_reads_back_and_skips_existing_blobs() {
    let registry = Registry::start();
    let f = fixture();
    let (code, stdout, stderr) = amagent(&f, &registry.sim_registry(&registry.password), &BUILD);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let first: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(first["built"], true);
    assert_eq!(first["commit"], f.commit.as_str());
    assert_eq!(first["blobs_pushed"], 2, "one layer and the config");
    let digest = first["digest"].as_str().unwrap().to_string();
    assert!(
        first["image"]
            .as_str()
            .unwrap()
            .ends_with(&format!("aussie-markets/api@{digest}"))
    );

    // Read it back from the registry: same digest under both tags, labels in the config.
    for tag in [f.commit.as_str(), "v1.4.0"] {
        let response = registry
            .get(
                &format!("/v2/aussie-markets/api/manifests/{tag}"),
                OCI_MANIFEST,
            )
            .await;
        assert!(
            response.status().is_success(),
            "{tag}: {}",
            response.status()
        );
        assert_eq!(
            response.headers()["docker-content-digest"]
                .to_str()
                .unwrap(),
            digest
        );
        let body = response.bytes().await.unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let config_digest = manifest["config"]["digest"].as_str().unwrap();
        let config_bytes = registry
            .get(
                &format!("/v2/aussie-markets/api/blobs/{config_digest}"),
                "*/*",
            )
            .await
            .bytes()
            .await
            .unwrap();
        let config: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap();
        let labels = &config["config"]["Labels"];
        assert_eq!(
            labels["org.opencontainers.image.revision"],
            f.commit.as_str()
        );
        assert_eq!(
            labels["org.opencontainers.image.source"],
            f.source.display().to_string()
        );
        assert_eq!(
            labels["org.opencontainers.image.created"],
            "2025-11-24T16:00:00+00:00"
        );
        assert_eq!(config["architecture"], "amd64");
    }

    // The same stage again: the same digest (reproducible), and not one blob uploaded.
    let uploads = registry.blob_uploads();
    assert_eq!(uploads, 2);
    let (code, stdout, stderr) = amagent(&f, &registry.sim_registry(&registry.password), &BUILD);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let second: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(second["digest"], digest.as_str());
    assert_eq!(second["blobs_pushed"], 0);
    assert_eq!(second["blobs_skipped"], 2);
    assert_eq!(
        registry.blob_uploads(),
        uploads,
        "the registry saw no new upload"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_fail_clearly_and_tag_nothing() {
    let registry = Registry::start();
    let f = fixture();
    let (code, stdout, stderr) = amagent(&f, &registry.sim_registry("not-the-password"), &BUILD);
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("refused the credentials"), "{all}");
    assert!(
        !all.contains("not-the-password") && !all.contains(&registry.password),
        "no password in output"
    );
    let tags = registry
        .get("/v2/aussie-markets/api/tags/list", "application/json")
        .await;
    assert_eq!(tags.status().as_u16(), 404, "nothing was tagged");
    assert_eq!(registry.blob_uploads(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simulated_pipeline_builds_pushes_and_deploys_the_registry_digest() {
    let registry = Registry::start();
    let f = fixture();
    let (code, stdout, stderr) = amagent(
        &f,
        &registry.sim_registry(&registry.password),
        &[
            "--output",
            "json",
            "deploy",
            "--env",
            "staging",
            "--service",
            "api",
            "--sim",
            "healthy",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}\n{stdout}");
    let deploy: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let pushed = registry
        .get("/v2/aussie-markets/api/manifests/v1.4.0", OCI_MANIFEST)
        .await;
    let digest = pushed.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        deploy["image"]
            .as_str()
            .unwrap()
            .ends_with(&format!("@{digest}")),
        "{deploy}"
    );
    assert_eq!(deploy["outcome"], "succeeded");
    assert!(
        deploy["task_definition"]
            .as_str()
            .unwrap()
            .ends_with("aussie-markets-api-task:43")
    );
}

/// The simulated ECR, but handing out the test registry (as AMAGENT_SIM_REGISTRY would, without
/// touching this process's environment).
struct TestEcr {
    inner: std::sync::Arc<dyn amagent::cloud::Registry>,
    endpoint: String,
    user: String,
    password: String,
}

#[async_trait::async_trait]
impl amagent::cloud::Registry for TestEcr {
    async fn describe_images(
        &self,
        r: &str,
    ) -> amagent::cloud::CloudResult<Vec<amagent::cloud::types::ImageDetail>> {
        self.inner.describe_images(r).await
    }
    async fn batch_delete_image(
        &self,
        r: &str,
        d: &[String],
    ) -> amagent::cloud::CloudResult<amagent::cloud::types::BatchDeleteResult> {
        self.inner.batch_delete_image(r, d).await
    }
    async fn get_lifecycle_policy(&self, r: &str) -> amagent::cloud::CloudResult<Option<String>> {
        self.inner.get_lifecycle_policy(r).await
    }
    async fn put_lifecycle_policy(&self, r: &str, p: &str) -> amagent::cloud::CloudResult<()> {
        self.inner.put_lifecycle_policy(r, p).await
    }
    async fn get_authorization_token(
        &self,
    ) -> amagent::cloud::CloudResult<amagent::cloud::types::RegistryAuth> {
        Ok(amagent::cloud::types::RegistryAuth {
            endpoint: self.endpoint.clone(),
            username: self.user.clone(),
            password: amagent::secret::Secret::new(self.password.clone()),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(12),
        })
    }
    fn registry_host(&self) -> String {
        self.inner.registry_host()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_already_in_ecr_for_the_commit_is_not_rebuilt() {
    use amagent::stages::image::{ImageRequest, build_and_push};
    let registry = Registry::start();
    let f = fixture();
    let model = amagent::config::load_dir(&f.envs).unwrap();
    let env = model.environments["staging"].clone();
    let spec = env.services[0].clone();
    let sandbox =
        amagent::sandbox::Sandbox::for_environment(&env, amagent::cloud::sim::FaultScript::new());
    let mut cloud = sandbox.sim.cloud();
    cloud.ecr = std::sync::Arc::new(TestEcr {
        inner: cloud.ecr.clone(),
        endpoint: format!("http://{}", registry.addr),
        user: registry.user.clone(),
        password: registry.password.clone(),
    });
    let request = ImageRequest {
        service: &spec,
        pipeline: &model.pipelines["api"],
        cache: &f.cache,
        credentials: &amagent::repo::GitCredentials::default(),
        builder: None,
        now: chrono::Utc::now(),
        ledger: &amagent::stages::image::codebuild::ledger::NoLedger,
        clock: &amagent::clock::Clock::system(),
    };
    let first = build_and_push(&cloud, &request).await.unwrap();
    assert!(first.built);
    // What a push to ECR does: the repository now lists the image under its tags.
    let tags: Vec<&str> = first.tags.iter().map(String::as_str).collect();
    sandbox.sim.push_image(
        &spec.image.repository,
        &first.digest,
        &tags,
        chrono::Utc::now(),
    );
    let uploads = registry.blob_uploads();
    let second = build_and_push(&cloud, &request).await.unwrap();
    assert!(!second.built, "the commit's image is reused");
    assert_eq!(second.digest, first.digest);
    assert_eq!(second.commit, f.commit);
    assert_eq!(registry.blob_uploads(), uploads);
}

#[tokio::test(flavor = "multi_thread")]
async fn promotion_mounts_blobs_across_repositories_instead_of_uploading() {
    use amagent::stages::image::builder::{BuildRequest, Builder};
    use amagent::stages::image::layout::Layout;
    use amagent::stages::image::push::{Destination, push};
    let registry = Registry::start();
    let f = fixture();
    std::fs::create_dir_all(&f.cache).unwrap();
    let layout_dir = f.cache.join("layout");
    Builder::detect(None)
        .unwrap()
        .build(&BuildRequest {
            context: &f.source,
            dockerfile: "Dockerfile",
            args: &Default::default(),
            platform: "linux/amd64",
            labels: Default::default(),
            timestamp: 1_764_000_000,
            tag: "amagent-test/mount:latest",
            layout: &layout_dir,
        })
        .await
        .unwrap();
    let layout = Layout::read(&layout_dir).unwrap();
    let password = amagent::secret::Secret::new(registry.password.clone());
    let to = |repository: &str, mount_from: Option<&str>| Destination {
        registry: registry.addr.clone(),
        repository: repository.into(),
        insecure: true,
        mount_from: mount_from.map(String::from),
    };
    let staging = push(
        &layout,
        &to("aussie-markets/api", None),
        &["v1.4.0".into()],
        &registry.user,
        &password,
    )
    .await
    .unwrap();
    assert_eq!(staging.blobs_pushed, 2);
    let uploads = registry.blob_uploads();
    let production = push(
        &layout,
        &to("aussie-markets/api-production", Some("aussie-markets/api")),
        &["v1.4.0".into()],
        &registry.user,
        &password,
    )
    .await
    .unwrap();
    assert_eq!((production.blobs_mounted, production.blobs_pushed), (2, 0));
    assert_eq!(
        production.digest, staging.digest,
        "production gets exactly staging's digest"
    );
    assert_eq!(
        registry.blob_uploads(),
        uploads,
        "no blob data was uploaded again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_built_under_its_sha_gets_its_version_tag_without_a_rebuild() {
    use amagent::stages::image::{ImageRequest, build_and_push};
    let registry = Registry::start();
    let f = fixture();
    let model = amagent::config::load_dir(&f.envs).unwrap();
    let env = model.environments["staging"].clone();
    let sandbox =
        amagent::sandbox::Sandbox::for_environment(&env, amagent::cloud::sim::FaultScript::new());
    let mut cloud = sandbox.sim.cloud();
    cloud.ecr = std::sync::Arc::new(TestEcr {
        inner: cloud.ecr.clone(),
        endpoint: format!("http://{}", registry.addr),
        user: registry.user.clone(),
        password: registry.password.clone(),
    });
    // First the spec pins the commit SHA: only the SHA tag is pushed.
    let mut by_sha = env.services[0].clone();
    by_sha.source.reference = f.commit.clone();
    let credentials = amagent::repo::GitCredentials::default();
    let clock = amagent::clock::Clock::system();
    let request = |spec| ImageRequest {
        service: spec,
        pipeline: &model.pipelines["api"],
        cache: &f.cache,
        credentials: &credentials,
        builder: None,
        now: chrono::Utc::now(),
        ledger: &amagent::stages::image::codebuild::ledger::NoLedger,
        clock: &clock,
    };
    let first = build_and_push(&cloud, &request(&by_sha)).await.unwrap();
    assert_eq!(first.tags, std::slice::from_ref(&f.commit));
    sandbox.sim.push_image(
        "aussie-markets/api",
        &first.digest,
        &[&f.commit],
        chrono::Utc::now(),
    );
    let missing = registry
        .get("/v2/aussie-markets/api/manifests/v1.4.0", OCI_MANIFEST)
        .await;
    assert_eq!(missing.status().as_u16(), 404);
    // Then the spec moves to the tag on that same commit: no build, but the tag appears.
    let by_tag = env.services[0].clone();
    let second = build_and_push(&cloud, &request(&by_tag)).await.unwrap();
    assert!(!second.built);
    let tagged = registry
        .get("/v2/aussie-markets/api/manifests/v1.4.0", OCI_MANIFEST)
        .await;
    assert!(tagged.status().is_success(), "{}", tagged.status());
    assert_eq!(
        tagged.headers()["docker-content-digest"].to_str().unwrap(),
        first.digest
    );
}
