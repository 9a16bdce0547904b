//! The task definition carriage, checked against the SDK's own member lists so that an SDK
//! update adding a member anywhere in the shape fails here until it is carried.

use super::*;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types as ecs;
use serde_json::json;
use std::collections::BTreeSet;

const EVERY_MEMBER: &str = include_str!("../../../tests/fixtures/taskdef-every-member.json");

fn every_member() -> Value {
    serde_json::from_str(EVERY_MEMBER).unwrap()
}

/// Member names of an SDK shape, from the Debug output of its builder (derived: it lists every
/// field), normalised so `size_in_gib` and `sizeInGiB` meet.
fn members(debug: &str) -> BTreeSet<String> {
    let inner = &debug[debug.find('{').unwrap() + 1..debug.rfind('}').unwrap()];
    inner
        .split(", ")
        .filter_map(|field| field.trim().split_once(':'))
        .map(|(name, _)| normal(name))
        .collect()
}

fn normal(name: &str) -> String {
    name.trim_start_matches("r#")
        .replace('_', "")
        .to_ascii_lowercase()
}

macro_rules! shape {
    ($ty:ty, $($path:expr),+) => {
        (stringify!($ty), members(&format!("{:?}", <$ty>::builder())), vec![$($path),+])
    };
}

/// Where container and volume shapes sit in a describe response.
macro_rules! c {
    ($path:literal) => {
        concat!("taskDefinition.containerDefinitions.*", $path)
    };
}

macro_rules! v {
    ($path:literal) => {
        concat!("taskDefinition.volumes.*", $path)
    };
}

/// Every input shape of RegisterTaskDefinition, with where it sits in a describe response.
// InferenceAccelerator is deprecated, yet old definitions still carry it.
#[allow(deprecated)]
fn shapes() -> Vec<(&'static str, BTreeSet<String>, Vec<&'static str>)> {
    vec![
        shape!(ecs::TaskDefinition, "taskDefinition"),
        shape!(ecs::Tag, "tags.*"),
        shape!(ecs::ContainerDefinition, c!("")),
        shape!(ecs::RepositoryCredentials, c!(".repositoryCredentials")),
        shape!(ecs::PortMapping, c!(".portMappings.*")),
        shape!(ecs::ContainerRestartPolicy, c!(".restartPolicy")),
        shape!(
            ecs::KeyValuePair,
            c!(".environment.*"),
            "taskDefinition.proxyConfiguration.properties.*"
        ),
        shape!(ecs::EnvironmentFile, c!(".environmentFiles.*")),
        shape!(ecs::MountPoint, c!(".mountPoints.*")),
        shape!(ecs::VolumeFrom, c!(".volumesFrom.*")),
        shape!(ecs::LinuxParameters, c!(".linuxParameters")),
        shape!(ecs::KernelCapabilities, c!(".linuxParameters.capabilities")),
        shape!(ecs::Device, c!(".linuxParameters.devices.*")),
        shape!(ecs::Tmpfs, c!(".linuxParameters.tmpfs.*")),
        shape!(
            ecs::Secret,
            c!(".secrets.*"),
            c!(".logConfiguration.secretOptions.*")
        ),
        shape!(ecs::ContainerDependency, c!(".dependsOn.*")),
        shape!(ecs::HostEntry, c!(".extraHosts.*")),
        shape!(ecs::Ulimit, c!(".ulimits.*")),
        shape!(ecs::LogConfiguration, c!(".logConfiguration")),
        shape!(ecs::HealthCheck, c!(".healthCheck")),
        shape!(ecs::SystemControl, c!(".systemControls.*")),
        shape!(ecs::ResourceRequirement, c!(".resourceRequirements.*")),
        shape!(ecs::FirelensConfiguration, c!(".firelensConfiguration")),
        shape!(ecs::Volume, v!("")),
        shape!(ecs::HostVolumeProperties, v!(".host")),
        shape!(
            ecs::DockerVolumeConfiguration,
            v!(".dockerVolumeConfiguration")
        ),
        shape!(ecs::EfsVolumeConfiguration, v!(".efsVolumeConfiguration")),
        shape!(
            ecs::EfsAuthorizationConfig,
            v!(".efsVolumeConfiguration.authorizationConfig")
        ),
        shape!(
            ecs::S3FilesVolumeConfiguration,
            v!(".s3filesVolumeConfiguration")
        ),
        shape!(
            ecs::FSxWindowsFileServerVolumeConfiguration,
            v!(".fsxWindowsFileServerVolumeConfiguration")
        ),
        shape!(
            ecs::FSxWindowsFileServerAuthorizationConfig,
            v!(".fsxWindowsFileServerVolumeConfiguration.authorizationConfig")
        ),
        shape!(
            ecs::TaskDefinitionPlacementConstraint,
            "taskDefinition.placementConstraints.*"
        ),
        shape!(ecs::RuntimePlatform, "taskDefinition.runtimePlatform"),
        shape!(
            ecs::InferenceAccelerator,
            "taskDefinition.inferenceAccelerators.*"
        ),
        shape!(ecs::ProxyConfiguration, "taskDefinition.proxyConfiguration"),
        shape!(ecs::EphemeralStorage, "taskDefinition.ephemeralStorage"),
    ]
}

/// String maps (not shapes) and the read-only requiresAttributes.
const NOT_SHAPES: [&str; 5] = [
    "options",
    "dockerLabels",
    "driverOpts",
    "labels",
    "requiresAttributes",
];

fn at<'a>(root: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut found = vec![root];
    for segment in path.split('.') {
        found = found
            .into_iter()
            .flat_map(|v| match segment {
                "*" => v.as_array().map(|a| a.iter().collect()).unwrap_or_default(),
                key => v.get(key).into_iter().collect::<Vec<_>>(),
            })
            .collect();
    }
    found
}

#[test]
fn describe_and_register_differ_by_exactly_the_read_only_members() {
    let described = members(&format!("{:?}", ecs::TaskDefinition::builder()));
    let input = members(&format!("{:?}", RegisterTaskDefinitionInput::builder()));
    let only_described: BTreeSet<String> = described.difference(&input).cloned().collect();
    let mut read_only: BTreeSet<String> = TASK_DEFINITION_READ_ONLY
        .iter()
        .map(|f| normal(f))
        .collect();
    read_only.extend(["taskdefinitionarn".to_string(), "revision".to_string()]);
    assert_eq!(
        only_described, read_only,
        "DescribeTaskDefinition returns members RegisterTaskDefinition does not take: they must be exactly TASK_DEFINITION_READ_ONLY (+ ARN, revision)"
    );
    let only_input: Vec<&String> = input.difference(&described).collect();
    assert_eq!(
        only_input,
        ["tags"],
        "a RegisterTaskDefinition member a describe cannot give back would be lost on every deploy"
    );
}

#[test]
fn every_member_fixture_sets_every_member_of_every_sdk_shape() {
    let fixture = every_member();
    let mut missing = Vec::new();
    for (name, sdk, paths) in shapes() {
        let seen: BTreeSet<String> = paths
            .iter()
            .flat_map(|p| at(&fixture, p))
            .filter_map(Value::as_object)
            .flat_map(|o| o.keys().map(|k| normal(k)))
            .collect();
        for member in sdk.difference(&seen) {
            missing.push(format!("{name}.{member}"));
        }
        assert!(!seen.is_empty(), "{name}: no value at {paths:?}");
    }
    assert!(
        missing.is_empty(),
        "tests/fixtures/taskdef-every-member.json lacks SDK member(s) {missing:?}: add them (with a value) so their carriage is tested"
    );
}

/// Every object in the fixture is a shape listed above (or a string map), so a new nested
/// shape cannot hide from the member check.
#[test]
fn every_object_in_the_fixture_is_a_known_shape() {
    fn walk(v: &Value, path: String, known: &BTreeSet<&str>, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if path.split('.').any(|s| NOT_SHAPES.contains(&s)) {
                    return;
                }
                if !path.is_empty() && !known.contains(path.as_str()) {
                    out.push(path.clone());
                }
                for (k, v) in o {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, p, known, out);
                }
            }
            Value::Array(a) => a
                .iter()
                .for_each(|x| walk(x, format!("{path}.*"), known, out)),
            _ => {}
        }
    }
    let shapes = shapes();
    let known: BTreeSet<&str> = shapes
        .iter()
        .flat_map(|(_, _, p)| p.iter().copied())
        .collect();
    let mut unknown = Vec::new();
    walk(&every_member(), String::new(), &known, &mut unknown);
    assert!(
        unknown.is_empty(),
        "objects at {unknown:?} are not in shapes()"
    );
}

/// The fixture's definition as RegisterTaskDefinition should receive it.
fn expected_register_body() -> Value {
    let fixture = every_member();
    let mut td = fixture["taskDefinition"].clone();
    let members = td.as_object_mut().unwrap();
    for field in ["taskDefinitionArn", "revision"]
        .into_iter()
        .chain(TASK_DEFINITION_READ_ONLY)
    {
        members.remove(field);
    }
    members.insert("tags".into(), fixture["tags"].clone());
    td
}

#[test]
fn every_member_is_carried_from_describe_to_register() {
    let td = from_response("DescribeTaskDefinition", EVERY_MEMBER.as_bytes()).unwrap();
    let body: Value = serde_json::from_slice(&register_body(&td).unwrap()).unwrap();
    let mut lost = Vec::new();
    lost_paths(&expected_register_body(), &body, "", &mut lost);
    assert!(lost.is_empty(), "lost or changed: {lost:?}");
    assert_eq!(
        body["enableFaultInjection"], true,
        "a member moto does not store"
    );
    assert!(body.get("registeredAt").is_none() && body.get("status").is_none());
}

/// Through the deploy's render: only what the spec manages differs.
#[test]
fn a_render_changes_only_what_the_spec_manages() {
    let td = from_response("DescribeTaskDefinition", EVERY_MEMBER.as_bytes()).unwrap();
    let mut spec = crate::config::example().environments["staging"].services[0].clone();
    spec.ecs.container = "app".into();
    spec.load_balancer.as_mut().unwrap().container_port = 8080;
    let image = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/every-member/app@sha256:3333333333333333333333333333333333333333333333333333333333333333";
    let next = crate::stages::deploy::render::render(&td, &spec, image, |p| format!("arn:ssm:{p}"))
        .unwrap()
        .expect("a new image renders a new revision");
    let mut body: Value = serde_json::from_slice(&register_body(&next).unwrap()).unwrap();
    let app = &mut body["containerDefinitions"][0];
    assert_eq!(app["image"], image);
    assert_eq!(app["environment"][0]["name"], "API_BASE_URL");
    assert_eq!(
        app["secrets"][0]["valueFrom"],
        "arn:ssm:/aussie-markets/staging/api/database-url"
    );
    assert_eq!(
        (body["cpu"].clone(), body["memory"].clone()),
        (json!("256"), json!("512"))
    );
    let mut expected = expected_register_body();
    for managed in [&mut body, &mut expected] {
        let app = managed["containerDefinitions"][0].as_object_mut().unwrap();
        for field in ["image", "environment", "secrets"] {
            app.remove(field);
        }
        managed
            .as_object_mut()
            .unwrap()
            .retain(|k, _| k != "cpu" && k != "memory");
    }
    let mut lost = Vec::new();
    lost_paths(&expected, &body, "", &mut lost);
    assert!(
        lost.is_empty(),
        "a render changed unmanaged member(s) {lost:?}"
    );
}

#[test]
fn what_cannot_be_carried_is_named_all_at_once() {
    // A later API adding a member to KeyValuePair or Secret (typed without `extra`) must stop
    // a deploy by name, every occurrence at once, rather than register a revision without it.
    let mut fixture = every_member();
    let containers = &mut fixture["taskDefinition"]["containerDefinitions"];
    containers[0]["environment"][0]["type"] = json!("plain");
    containers[0]["secrets"][0]["versionId"] = json!("3");
    containers[1]["environment"] = json!([{ "name": "A", "value": "1", "type": "plain" }]);
    let err = from_response("DescribeTaskDefinition", fixture.to_string().as_bytes()).unwrap_err();
    let message = err.to_string();
    for path in [
        "containerDefinitions[0].environment[0].type",
        "containerDefinitions[0].secrets[0].versionId",
        "containerDefinitions[1].environment[0].type",
    ] {
        assert!(message.contains(path), "{path} not named in: {message}");
    }
    assert!(message.contains("every-member:7"), "{message}");
}

#[test]
fn a_containerportrange_mapping_keeps_its_range_and_gets_no_port() {
    let td = from_response("DescribeTaskDefinition", EVERY_MEMBER.as_bytes()).unwrap();
    let ranged = &td.container("app").unwrap().port_mappings[1];
    assert_eq!(ranged.container_port, None);
    let body: Value = serde_json::from_slice(&register_body(&td).unwrap()).unwrap();
    assert_eq!(
        body["containerDefinitions"][0]["portMappings"][1],
        json!({ "containerPortRange": "9000-9099", "protocol": "udp" })
    );
}
