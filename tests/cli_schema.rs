//! The JSON Schema of the configuration files (issue 20, item 5): generated from the model by
//! `amagent schema`, checked in under docs/schema/ (this test fails when they are stale), and
//! named by every example's `# yaml-language-server: $schema=` line.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn generated(kind: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_amagent"))
        .args(["schema", kind])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_checked_in_schemas_are_the_generated_ones() {
    for kind in ["environment", "pipeline"] {
        let path = root().join(format!("docs/schema/{kind}.schema.json"));
        let checked_in: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(
            checked_in == generated(kind),
            "{} is stale: run `amagent schema {kind} > docs/schema/{kind}.schema.json`",
            path.display()
        );
    }
}

#[test]
fn the_schemas_know_the_fields_and_refuse_unknown_ones() {
    let env = generated("environment");
    let properties = env["properties"].as_object().unwrap();
    for field in [
        "apiVersion",
        "kind",
        "aws",
        "ecs",
        "ecr",
        "ssm",
        "promotion",
        "services",
    ] {
        assert!(properties.contains_key(field), "no {field}");
    }
    assert_eq!(env["additionalProperties"], false);
    let service = &env["$defs"]["Service"];
    assert!(
        service["properties"]["desiredCount"].is_object(),
        "{service}"
    );
    assert_eq!(service["additionalProperties"], false);
    // The gates (issue 17): a pre-deploy task and the alarms the rollout watches.
    assert!(service["properties"]["preDeploy"].is_object(), "{service}");
    let pre = &env["$defs"]["PreDeploy"];
    assert_eq!(pre["required"], serde_json::json!(["command"]), "{pre}");
    assert_eq!(pre["additionalProperties"], false);
    let deploy = &env["$defs"]["DeploySettings"]["properties"];
    assert_eq!(deploy["alarms"]["type"], "array", "{deploy}");
    let pipeline = generated("pipeline");
    assert_eq!(
        pipeline["$defs"]["StageKind"]["enum"],
        serde_json::json!(["build", "snapshot", "deploy", "lifecycle"])
    );
}

#[test]
fn every_example_names_its_schema_for_editors() {
    for (dir, kind) in [("environments", "environment"), ("pipelines", "pipeline")] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let line = format!("# yaml-language-server: $schema=../docs/schema/{kind}.schema.json");
            assert_eq!(
                text.lines().next(),
                Some(line.as_str()),
                "{}",
                path.display()
            );
        }
    }
}
