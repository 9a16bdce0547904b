//! The real-world task definition corpus (tests/fixtures/taskdefs, sources in SOURCES.md): each
//! is registered in moto as its authors wrote it, a service is put on it, `amagent deploy` runs
//! with a new image, and the new revision is compared with the original member by member —
//! nothing may differ beyond what the spec manages (the managed container's image, environment
//! and secrets; task cpu and memory).
//!
//! Registration and describes here go to moto as raw ECS JSON, not through amagent, so the
//! original and the new revision are seen as ECS (moto) holds them.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const CLUSTER: &str = "corpus";
const IMAGE: &str = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/corpus/app@sha256:4444444444444444444444444444444444444444444444444444444444444444";
const READ_ONLY: [&str; 9] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "requiresAttributes",
    "deleteRequestedAt",
];

/// RegisterTaskDefinition members moto 5.2.5 does not store (its `register_task_definition`
/// reads a fixed list of parameters): their carriage is proved by the unit tests in
/// agent/cloud/aws/taskdef_tests.rs instead.
const MOTO_DROPS: [&str; 1] = ["enableFaultInjection"];

struct Case {
    name: String,
    definition: Value,
    /// The container the spec manages: the first that is not a FireLens log router.
    container: String,
}

fn corpus() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/taskdefs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    // Not from a project: every member of every shape, as a describe returns it.
    files.push(dir.join("../taskdef-every-member.json"));
    files
        .into_iter()
        .map(|path| {
            let mut definition: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            if let Some(td) = definition.get("taskDefinition") {
                let mut td = td.clone();
                let members = td.as_object_mut().unwrap();
                for field in READ_ONLY {
                    members.remove(field);
                }
                members.insert("tags".into(), definition["tags"].clone());
                definition = td;
            }
            let container = definition["containerDefinitions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c.get("firelensConfiguration").is_none())
                .unwrap_or_else(|| panic!("{}: no application container", path.display()))["name"]
                .as_str()
                .unwrap()
                .to_string();
            Case {
                name: path.file_stem().unwrap().to_string_lossy().into_owned(),
                definition,
                container,
            }
        })
        .collect()
}

/// One ECS JSON call to moto (which routes by the credential scope and does not check the
/// signature).
async fn ecs(endpoint: &str, operation: &str, body: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "X-Amz-Target",
            format!("AmazonEC2ContainerServiceV20141113.{operation}"),
        )
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261125/ap-southeast-2/ecs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("moto answers");
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{operation}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// A described revision with its tags, as RegisterTaskDefinition would take it.
async fn described(endpoint: &str, reference: &str) -> Value {
    let out = ecs(
        endpoint,
        "DescribeTaskDefinition",
        &json!({ "taskDefinition": reference, "include": ["TAGS"] }),
    )
    .await;
    let mut td = out["taskDefinition"].clone();
    let members = td.as_object_mut().unwrap();
    for field in READ_ONLY {
        members.remove(field);
    }
    members.insert("tags".into(), out["tags"].clone());
    td
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Paths where `b` differs from `a` (absent ≡ empty); with `subset`, members only `b` has
/// are not differences.
fn diff(a: &Value, b: &Value, path: &str, subset: bool, out: &mut Vec<String>) {
    let at = |k: &str| format!("{path}.{k}");
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => diff(v, w, &at(k), subset, out),
                    None if is_empty(v) => {}
                    None => out.push(at(k)),
                }
            }
            if !subset {
                for (k, w) in y {
                    if !x.contains_key(k) && !is_empty(w) {
                        out.push(at(k));
                    }
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff(v, w, &format!("{path}[{i}]"), subset, out);
            }
        }
        (x, y) if x == y || (is_empty(x) && is_empty(y)) => {}
        _ => out.push(path.to_string()),
    }
}

fn spec_dir(cases: &[Case]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("environments")).unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    std::fs::write(
        dir.path().join("pipelines/corpus.yaml"),
        "apiVersion: amagent/v1\nkind: Pipeline\nname: corpus\nstages: [deploy]\n",
    )
    .unwrap();
    let mut yaml = format!(
        "apiVersion: amagent/v1\nkind: Environment\nname: corpus\naws:\n  region: ap-southeast-2\n  accountId: \"123456789012\"\necs:\n  cluster: {CLUSTER}\necr:\n  lifecycle:\n    keepLastTagged: 10\n    expireUntaggedAfterDays: 1\nssm:\n  naming: \"/corpus/{{env}}/{{service}}/{{secret}}\"\nservices:\n"
    );
    for case in cases {
        yaml.push_str(&format!(
            "  - name: {name}\n    pipeline: corpus\n    ecs:\n      service: svc-{name}\n      taskFamily: {family}\n      container: {container}\n    image:\n      repository: corpus/app\n    source:\n      url: https://github.com/example/corpus.git\n      ref: v1.0.0\n    cpu: 1024\n    memory: 2048\n    env:\n      DEPLOYED_BY: amagent\n    deploy:\n      bakeSeconds: 0\n      timeoutSeconds: 1\n",
            name = case.name,
            family = case.definition["family"].as_str().unwrap(),
            container = case.container,
        ));
    }
    std::fs::write(dir.path().join("environments/corpus.yaml"), yaml).unwrap();
    dir
}

/// `amagent deploy` against moto; the new revision's ARN.
fn deploy(dir: &Path, journal: &Path, endpoint: &str, service: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["--output", "json", "deploy", "--env", "corpus", "--service"])
        .arg(service)
        .args(["--image", IMAGE, "--dir"])
        .arg(dir)
        .env("AMAGENT_JOURNAL", journal)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{service}: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report["deploy"]["new_task_definition"]
        .as_str()
        .unwrap_or_else(|| panic!("{service}: no new revision registered: {report}"))
        .to_string()
}

/// The managed members of `td`, removed (and returned for checking).
fn take_managed(td: &mut Value, container: &str) -> Value {
    let members = td.as_object_mut().unwrap();
    let cpu_memory = json!([members.remove("cpu"), members.remove("memory")]);
    let c = members["containerDefinitions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == container)
        .unwrap()
        .as_object_mut()
        .unwrap();
    json!({
        "image": c.remove("image"),
        "environment": c.remove("environment"),
        "secrets": c.remove("secrets"),
        "cpuMemory": cpu_memory,
    })
}

#[tokio::test]
async fn every_corpus_task_definition_deploys_with_nothing_lost() {
    let cases = corpus();
    assert!(
        cases.len() > 20,
        "corpus has {} definitions",
        cases.len() - 1
    );
    let (_moto, endpoint) = support::moto::fresh().await;
    let aws = support::connect(&endpoint).await;
    ecs(
        &endpoint,
        "CreateCluster",
        &json!({ "clusterName": CLUSTER }),
    )
    .await;
    let dir = spec_dir(&cases);
    let journal = tempfile::tempdir().unwrap();
    let (mut moto_dropped, mut lost) = (Vec::new(), Vec::new());
    for case in &cases {
        eprintln!("corpus: {}", case.name);
        let registered = ecs(&endpoint, "RegisterTaskDefinition", &case.definition).await;
        let arn = registered["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap();
        let mut before = described(&endpoint, arn).await;
        // What moto itself did not keep of the published definition.
        let mut kept = Vec::new();
        diff(&case.definition, &before, "", true, &mut kept);
        moto_dropped.extend(kept.into_iter().map(|p| format!("{}{p}", case.name)));

        support::fargate_service(&aws, &endpoint, CLUSTER, &format!("svc-{}", case.name), arn)
            .await;
        let new_arn = deploy(dir.path(), journal.path(), &endpoint, &case.name);
        assert_ne!(new_arn, arn, "{}: a new revision", case.name);
        let mut after = described(&endpoint, &new_arn).await;

        let managed = take_managed(&mut after, &case.container);
        assert_eq!(
            managed,
            json!({
                "image": IMAGE,
                "environment": [{ "name": "DEPLOYED_BY", "value": "amagent" }],
                "secrets": null,
                "cpuMemory": ["1024", "2048"],
            }),
            "{}: the managed members are the spec's",
            case.name
        );
        take_managed(&mut before, &case.container);
        let mut changed = Vec::new();
        diff(&before, &after, "", false, &mut changed);
        lost.extend(changed.into_iter().map(|p| format!("{}{p}", case.name)));
    }
    assert!(
        lost.is_empty(),
        "members lost or changed by a deploy: {lost:#?}"
    );
    let unexpected: Vec<&String> = moto_dropped
        .iter()
        .filter(|p| !MOTO_DROPS.iter().any(|m| p.ends_with(&format!(".{m}"))))
        .collect();
    assert!(
        moto_dropped.contains(&"taskdef-every-member.enableFaultInjection".to_string()),
        "moto now keeps enableFaultInjection: drop it from MOTO_DROPS ({moto_dropped:?})"
    );
    assert!(
        unexpected.is_empty(),
        "moto did not keep {unexpected:#?} of the published definitions; the comparison would not see them"
    );
}
