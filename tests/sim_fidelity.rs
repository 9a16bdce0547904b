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
    if dockerfile.contains("/bin/sleep") {
        copy_sleep_into(dir);
    }
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

/// The host's `sleep` and the libraries it loads, at their paths under `dir`: a base for a
/// `FROM scratch` image whose exec-form RUN sleeps (no shell, no network needed).
fn copy_sleep_into(dir: &Path) {
    let ldd = Command::new("ldd").arg("/bin/sleep").output().unwrap();
    assert!(ldd.status.success(), "ldd /bin/sleep failed");
    let libraries: Vec<String> = String::from_utf8(ldd.stdout)
        .unwrap()
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(String::from)
        .collect();
    assert!(!libraries.is_empty(), "ldd named no library of /bin/sleep");
    for file in libraries.iter().map(String::as_str).chain(["/bin/sleep"]) {
        let to = dir.join(&file[1..]);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(file, &to).unwrap();
    }
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

/// A build that sleeps 2 s in a RUN step.
const SLOW_DOCKERFILE: &str = "FROM scratch\nCOPY . /\nRUN [\"/bin/sleep\", \"2\"]\n";

/// Service `svc1`'s rollout of a new image on `sandbox`, with a 10-minute timeout and a 30 s
/// bake: its result and virtual duration.
async fn roll_out(
    sandbox: &amagent::sandbox::Sandbox,
    env: &amagent::config::Environment,
    journal: &Path,
) -> (amagent::stages::deploy::DeployResult, std::time::Duration) {
    use amagent::stages::deploy::{Rollout, Silent, Target};
    let mut spec = env.service("svc1").unwrap().clone();
    spec.deploy.timeout_seconds = 600;
    spec.deploy.bake_seconds = 30;
    let image = sandbox.resolve_image(&spec, "v9.9.9").unwrap();
    let cloud = sandbox.sim.cloud();
    let journal = amagent::state::journal::LocalJournal::new(journal);
    let rollout = Rollout {
        cloud: &cloud,
        clock: &sandbox.clock,
        journal: &journal,
        progress: &Silent,
        run_id: "two-services",
        retry: Default::default(),
        concurrency: 1,
        pacer: Default::default(),
    };
    let target = Target {
        env: env.name.clone(),
        cluster: env.ecs.cluster.clone(),
        spec,
        image,
        revision: None,
    };
    let started = sandbox.clock.elapsed();
    let mut results = rollout.run(vec![target]).await;
    (results.remove(0), sandbox.clock.elapsed() - started)
}

/// Two services on one simulator: svc0 builds for real (a RUN step sleeps 2 s) while svc1 rolls
/// out. The build takes its real time in virtual time (within a second), and svc1's rollout
/// comes out as it does with no build beside it, in the same virtual time.
#[tokio::test(start_paused = true)]
async fn a_real_build_beside_a_rollout_takes_its_real_time_in_virtual_time() {
    use amagent::stages::image::{ImageRequest, build_and_push};
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("api-src");
    source_repo(&source, SLOW_DOCKERFILE);
    environments(&tmp.path().join("envrepo"), &source, "v1.4.0");
    let model = amagent::config::load_dir(&tmp.path().join("envrepo")).unwrap();
    let env = amagent::sandbox::fleet(&model.environments["staging"], 2);
    let sandbox_for = || {
        let faults = amagent::cloud::sim::FaultScript::builtin("healthy").unwrap();
        let sandbox = amagent::sandbox::Sandbox::for_environment(&env, faults);
        sandbox
            .sim
            .use_registry(&registry.sim_registry(&registry.password));
        sandbox
    };

    let alone = sandbox_for();
    let (expected, expected_took) = roll_out(&alone, &env, &tmp.path().join("journal-a")).await;
    assert_eq!(
        expected.outcome,
        amagent::stages::deploy::Outcome::Succeeded,
        "{expected:?}"
    );

    let sandbox = sandbox_for();
    let cloud = sandbox.sim.cloud();
    let credentials = amagent::repo::GitCredentials::default();
    let builder = env.service("svc0").unwrap();
    let request = ImageRequest {
        service: builder,
        pipeline: &model.pipelines[&builder.pipeline],
        cache: &tmp.path().join("cache"),
        credentials: &credentials,
        builder: None,
        now: sandbox.clock.now(),
        ledger: &amagent::stages::image::codebuild::ledger::NoLedger,
        clock: &sandbox.clock,
    };
    let build = async {
        let (real, virtual_start) = (std::time::Instant::now(), sandbox.clock.elapsed());
        let built = build_and_push(&cloud, &request).await.unwrap();
        (
            built,
            real.elapsed(),
            sandbox.clock.elapsed() - virtual_start,
        )
    };
    let journal = tmp.path().join("journal-b");
    let ((built, real, virtual_took), (result, took)) =
        tokio::join!(build, roll_out(&sandbox, &env, &journal));
    assert!(built.built, "svc0 was built");
    assert!(
        real >= std::time::Duration::from_secs(2),
        "the build sleeps 2 s"
    );
    let gap = virtual_took.as_secs_f64() - real.as_secs_f64();
    assert!(
        gap.abs() < 1.0,
        "the build took {real:?} but {virtual_took:?} of virtual time"
    );
    assert_eq!(result.outcome, expected.outcome, "{result:?}");
    assert_eq!(result.reason, expected.reason);
    let drift = took.as_secs_f64() - expected_took.as_secs_f64();
    assert!(
        drift.abs() <= 2.0,
        "svc1's rollout took {took:?} beside the build, {expected_took:?} alone"
    );
}
