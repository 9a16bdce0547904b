//! docs/iam-policy.json grants exactly the actions the agent uses — the SDK calls the adapters
//! make and the registry requests the image code makes: a missing grant would fail in
//! production, an extra one would break least privilege.

use amagent::cloud::aws::iam::{
    OPERATIONS, PASS_ROLE, REGISTRY_OPERATIONS, all_iam_actions, registry_iam_actions,
};
use std::collections::BTreeSet;

fn policy() -> serde_json::Value {
    serde_json::from_str(include_str!("../docs/iam-policy.json")).unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
        other => panic!("expected a string or a list: {other}"),
    }
}

#[test]
fn the_policy_grants_exactly_what_the_agent_uses() {
    let mut granted = BTreeSet::new();
    for statement in policy()["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        for action in strings(&statement["Action"]) {
            assert!(!action.contains('*'), "no wildcard actions: {action}");
            granted.insert(action);
        }
    }
    let mut used: BTreeSet<String> = all_iam_actions().iter().map(|a| a.to_string()).collect();
    used.insert(PASS_ROLE.to_string());
    for push in [
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ] {
        assert!(used.contains(push), "the agent's list lacks {push}");
    }
    let missing: Vec<_> = used.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(missing.is_empty(), "the policy misses {missing:?}");
    assert!(
        unused.is_empty(),
        "the policy grants actions the agent does not use: {unused:?}"
    );
}

/// Registry actions are granted on the spec's repositories only — every repository any
/// environment names (each is pushed to, and a promotion's source is read from) — never on `*`.
#[test]
fn registry_actions_are_scoped_to_the_specs_repositories() {
    let model = amagent::config::load_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let repositories: BTreeSet<String> = model
        .environments
        .values()
        .flat_map(|env| {
            env.services.iter().map(move |s| {
                format!(
                    "arn:aws:ecr:{}:{}:repository/{}",
                    env.aws.region, env.aws.account_id, s.image.repository
                )
            })
        })
        .collect();
    assert!(!repositories.is_empty());
    let registry = registry_iam_actions();
    let mut scoped = BTreeSet::new();
    for statement in policy()["Statement"].as_array().unwrap() {
        let actions = strings(&statement["Action"]);
        if !actions.iter().any(|a| registry.contains(a.as_str())) {
            continue;
        }
        let resources: BTreeSet<String> = strings(&statement["Resource"]).into_iter().collect();
        assert_eq!(
            resources, repositories,
            "statement {} must name exactly the spec's repositories",
            statement["Sid"]
        );
        scoped.extend(actions);
    }
    for action in registry {
        assert!(
            scoped.contains(action),
            "{action} is not granted on the repositories"
        );
    }
}

/// Every registry request the image code sends is in `REGISTRY_OPERATIONS`, and every entry is
/// sent. `auth`/`store_auth_if_needed` only present the ECR token (ecr:GetAuthorizationToken,
/// an SDK operation in the list); `clone` is the client handle's.
#[test]
fn the_registry_list_matches_the_image_code() {
    let sources: String = [
        include_str!("../agent/stages/image/push.rs"),
        include_str!("../agent/stages/image/copy.rs"),
        include_str!("../agent/stages/image/mod.rs"),
    ]
    .concat()
    .split_whitespace()
    .collect();
    let called: BTreeSet<&str> = sources
        .match_indices("client.")
        .filter_map(|(i, _)| {
            let rest = &sources[i + "client.".len()..];
            let name = &rest[..rest.find(|c: char| !c.is_alphanumeric() && c != '_')?];
            rest[name.len()..].starts_with('(').then_some(name)
        })
        .filter(|m| !["auth", "store_auth_if_needed", "clone"].contains(m))
        .collect();
    let listed: BTreeSet<&str> = REGISTRY_OPERATIONS.iter().map(|(m, ..)| *m).collect();
    assert!(called.contains("push_blob"), "scan found {called:?}");
    assert_eq!(called, listed, "registry requests sent vs listed");
}

#[test]
fn every_operation_is_listed_once() {
    let ops: BTreeSet<&str> = OPERATIONS.iter().map(|(op, _)| *op).collect();
    assert_eq!(ops.len(), OPERATIONS.len());
}

/// The list is the adapters' own: every operation they map errors for is in it, and every
/// entry is called (AddTagsToResource is implied by tagging in CreateDBSnapshot, TagResource
/// by registering a task definition with its tags).
#[test]
fn the_list_matches_the_adapter_code() {
    let sources = [
        include_str!("../agent/cloud/aws/ecs.rs"),
        include_str!("../agent/cloud/aws/ecs_run.rs"),
        include_str!("../agent/cloud/aws/cloudwatch.rs"),
        include_str!("../agent/cloud/aws/elb.rs"),
        include_str!("../agent/cloud/aws/rds.rs"),
        include_str!("../agent/cloud/aws/ecr.rs"),
        include_str!("../agent/cloud/aws/s3.rs"),
        include_str!("../agent/cloud/aws/ssm.rs"),
        include_str!("../agent/cloud/aws/mod.rs"),
    ]
    .join("\n");
    // `map("Operation", …)`, however rustfmt wrapped it.
    let called: BTreeSet<&str> = sources
        .match_indices("map(")
        .filter_map(|(i, _)| {
            let rest = sources[i + 4..].trim_start().strip_prefix('"')?;
            Some(&rest[..rest.find('"')?])
        })
        .collect();
    let listed: BTreeSet<&str> = OPERATIONS.iter().map(|(op, _)| *op).collect();
    for op in &called {
        assert!(
            listed.contains(op),
            "{op} is called but not in iam::OPERATIONS"
        );
    }
    for op in &listed {
        assert!(
            called.contains(op) || ["AddTagsToResource", "TagResource"].contains(op),
            "{op} is listed but no adapter calls it"
        );
    }
}
