//! The simulator keeps faith with the real parts it runs beside (issue 21): real work takes its
//! real time in virtual time, a seeded image never passes for a pushed one, and every ARN is in
//! the environment's own account. Real buildah and Debian's docker-registry, as in images.rs.

mod support;

use std::path::Path;
use std::process::Command;
use support::registry::Registry;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A source repository with `dockerfile` and one file, tagged v1.4.0; returns the commit SHA.
fn source_repo(dir: &Path, dockerfile: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let repo = git2::Repository::init(dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
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

/// The bundled example with every service built from `source` at `reference`.
fn environments(dir: &Path, source: &Path, reference: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["environments", "pipelines"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path())
                .unwrap()
                .replace(
                    "url: https://github.com/aussie-markets/api.git",
                    &format!("url: {}", source.display()),
                )
                .replace("ref: v1.3.0", &format!("ref: {reference}"));
            std::fs::write(dir.join(sub).join(entry.file_name()), text).unwrap();
        }
    }
}

/// `amagent build --sim` of a spec whose ref is the full commit SHA: the sandbox's running
/// image must not pass for the commit's build, so it builds, and the digest it reports is the
/// one the real registry holds under the SHA.
#[tokio::test(flavor = "multi_thread")]
async fn a_sha_ref_builds_under_sim_and_its_digest_is_in_the_registry() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("api-src");
    let commit = source_repo(
        &source,
        "FROM scratch\nARG NODE_VERSION\nCOPY hello.txt /hello.txt\n",
    );
    let envs = tmp.path().join("envrepo");
    environments(&envs, &source, &commit);
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["--output", "json", "build", "--env", "staging"])
        .args(["--service", "api", "--sim", "healthy", "--dir"])
        .arg(&envs)
        .env(
            "AMAGENT_SIM_REGISTRY",
            registry.sim_registry(&registry.password),
        )
        .env("AMAGENT_CACHE", tmp.path().join("cache"))
        .env("AMAGENT_JOURNAL", tmp.path().join("journal"))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let built: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(built["built"], true, "{built}");
    assert_eq!(built["commit"], commit.as_str());
    let pushed = registry
        .get(
            &format!("/v2/aussie-markets/api/manifests/{commit}"),
            OCI_MANIFEST,
        )
        .await;
    assert!(pushed.status().is_success(), "{}", pushed.status());
    assert_eq!(
        pushed.headers()["docker-content-digest"].to_str().unwrap(),
        built["digest"].as_str().unwrap()
    );
}

/// Staging in one account and production in another, one sandbox: every ARN the simulator
/// makes for an environment's resources — task definitions (set up and registered), tasks,
/// target groups, SSM parameters, the RDS instance and its snapshots — is in its own account.
#[tokio::test(start_paused = true)]
async fn two_environments_in_two_accounts_get_arns_in_their_own() {
    use amagent::cloud::sim::FaultScript;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = amagent::config::load_dir(root).unwrap();
    let staging = model.environments["staging"].clone();
    let mut production = model.environments["production"].clone();
    production.aws.account_id = "210987654321".into();
    // Denied calls name the resource's ARN: the way to see RDS's.
    let faults = FaultScript::new()
        .deny("DescribeDBInstances")
        .deny("DeleteDBSnapshot");
    let sandbox = amagent::sandbox::Sandbox::for_environments(
        &[staging.clone(), production.clone()],
        faults,
        amagent::sandbox::epoch(),
    );
    let cloud = sandbox.sim.cloud();
    for env in [&staging, &production] {
        let in_account = |arn: &str| {
            assert!(
                arn.starts_with("arn:aws:") && arn.split(':').nth(4) == Some(&env.aws.account_id),
                "{}: {arn} is not in account {}",
                env.name,
                env.aws.account_id
            )
        };
        let api = env.service("api").unwrap();
        let td = cloud
            .ecs
            .describe_task_definition(&api.ecs.task_family)
            .await
            .unwrap();
        in_account(&td.arn);
        for secret in &td.container_definitions[0].secrets {
            in_account(&secret.value_from);
        }
        in_account(&cloud.ecs.register_task_definition(&td).await.unwrap().arn);
        let tasks = sandbox.sim.tasks(&env.ecs.cluster, &api.ecs.service);
        assert!(!tasks.is_empty());
        for task in &tasks {
            in_account(&task.task_arn);
        }
        let lb = api.load_balancer.as_ref().unwrap();
        let tgs = cloud
            .elb
            .describe_target_groups(std::slice::from_ref(&lb.target_group))
            .await
            .unwrap();
        in_account(&tgs[0].arn);
        let db = &env.database.as_ref().unwrap().instance_id;
        let denied = |e: amagent::cloud::CloudError| match e {
            amagent::cloud::CloudError::AccessDenied { resource, .. } => resource,
            other => panic!("expected access denied, got {other}"),
        };
        in_account(&denied(
            cloud.rds.describe_db_instance(db).await.unwrap_err(),
        ));
        let snapshot = format!("{}-before-deploy", env.name);
        cloud
            .rds
            .create_db_snapshot(db, &snapshot, &[])
            .await
            .unwrap();
        in_account(&denied(
            cloud.rds.delete_db_snapshot(&snapshot).await.unwrap_err(),
        ));
    }
}
