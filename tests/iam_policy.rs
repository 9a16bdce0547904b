//! docs/iam-policy.json grants exactly the actions the agent uses — the SDK calls the adapters
//! make and the registry requests the image code makes: a missing grant would fail in
//! production, an extra one would break least privilege.

use amagent::cloud::aws::iam::{
    OPERATIONS, PASS_ROLE, PASS_ROLE_TO, REGISTRY_OPERATIONS, all_iam_actions, registry_iam_actions,
};
use amagent::doctor::grants::{registry_grants, source_read_actions};
use std::collections::{BTreeMap, BTreeSet};

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
        include_str!("../agent/stages/image/copy_session.rs"),
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
    // Blob uploads are not oci-client's: `upload.rs` streams them as chunked sessions (POST to
    // open, PATCH per chunk, PUT to finish, GET for where an upload stands) — `push_blob`.
    let mut called = called;
    let upload = include_str!("../agent/stages/image/upload.rs");
    if upload.contains("blobs/uploads/")
        && ["POST", "PATCH", "PUT", "GET"]
            .iter()
            .all(|m| upload.contains(&format!("Method::{m}")))
    {
        called.insert("push_blob");
    }
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
        include_str!("../agent/cloud/aws/codebuild.rs"),
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

/// iam:PassRole is granted only towards the services the agent hands roles to (ECS for task
/// roles, CodeBuild for a created project's service role), never unconditionally.
#[test]
fn pass_role_goes_only_to_the_services_the_agent_hands_roles_to() {
    let mut to = BTreeSet::new();
    for statement in policy()["Statement"].as_array().unwrap() {
        if !strings(&statement["Action"]).contains(&PASS_ROLE.to_string()) {
            continue;
        }
        assert_eq!(
            strings(&statement["Action"]),
            [PASS_ROLE],
            "statement {} grants iam:PassRole alone",
            statement["Sid"]
        );
        let service = &statement["Condition"]["StringEquals"]["iam:PassedToService"];
        to.extend(strings(service));
    }
    let wanted: BTreeSet<String> = PASS_ROLE_TO.iter().map(|s| s.to_string()).collect();
    assert_eq!(to, wanted);
}

/// CodeBuild actions are granted on projects only (each one's resource type is `project`).
#[test]
fn codebuild_actions_are_scoped_to_projects() {
    let mut seen = BTreeSet::new();
    for statement in policy()["Statement"].as_array().unwrap() {
        let actions = strings(&statement["Action"]);
        if !actions.iter().any(|a| a.starts_with("codebuild:")) {
            continue;
        }
        assert_eq!(
            strings(&statement["Resource"]),
            ["arn:aws:codebuild:*:*:project/*"],
            "statement {}",
            statement["Sid"]
        );
        seen.extend(actions);
    }
    let used: BTreeSet<String> = OPERATIONS
        .iter()
        .filter(|(_, a)| a.starts_with("codebuild:"))
        .map(|(_, a)| a.to_string())
        .collect();
    assert_eq!(used.len(), 5, "{used:?}");
    assert_eq!(seen, used);
}

fn example_with(edit: impl Fn(&str) -> String) -> amagent::config::Model {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources: Vec<_> = amagent::config::read_dir_sources(root)
        .unwrap()
        .into_iter()
        .map(|mut f| {
            f.text = edit(&f.text);
            f
        })
        .collect();
    amagent::config::load_sources(&sources).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The example's one account needs exactly what docs/iam-policy.json grants on registries:
/// every registry action on each of its repositories, and the login.
#[test]
fn the_policy_is_the_example_account_s_registry_grants() {
    let grants = registry_grants(&example_with(str::to_string));
    assert_eq!(grants.keys().collect::<Vec<_>>(), ["123456789012"]);
    let registry = registry_iam_actions();
    let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for statement in policy()["Statement"].as_array().unwrap() {
        for action in strings(&statement["Action"]) {
            if registry.contains(action.as_str()) || action == "ecr:GetAuthorizationToken" {
                for resource in strings(&statement["Resource"]) {
                    granted.entry(resource).or_default().insert(action.clone());
                }
            }
        }
    }
    let wanted: BTreeMap<String, BTreeSet<String>> = grants["123456789012"]
        .iter()
        .map(|(r, a)| (r.clone(), a.iter().map(|a| a.to_string()).collect()))
        .collect();
    assert_eq!(granted, wanted);
}

/// Across accounts the source side reads with its own login: the source account grants
/// ecr:GetAuthorizationToken and the read actions (ecr:BatchGetImage,
/// ecr:GetDownloadUrlForLayer) on its repository to its own identity, and the target account
/// is granted nothing on the other account's repositories (no repository policy needed).
#[test]
fn across_accounts_each_account_grants_only_its_own_side() {
    assert_eq!(
        source_read_actions(),
        BTreeSet::from(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"])
    );
    let model = example_with(|t| {
        if !t.contains("name: production") {
            return t.to_string();
        }
        t.replace(
            "accountId: \"123456789012\"",
            "accountId: \"210987654321\"\n  roleArn: arn:aws:iam::210987654321:role/amagent-deployer",
        )
    });
    let grants = registry_grants(&model);
    let staging = &grants["123456789012"];
    let production = &grants["210987654321"];
    let source = "arn:aws:ecr:ap-southeast-2:123456789012:repository/aussie-markets/api";
    assert!(staging["*"].contains("ecr:GetAuthorizationToken"));
    assert!(
        source_read_actions().is_subset(&staging[source]),
        "{staging:?}"
    );
    assert!(production["*"].contains("ecr:GetAuthorizationToken"));
    assert_eq!(
        production.keys().collect::<Vec<_>>(),
        [
            "*",
            "arn:aws:ecr:ap-southeast-2:210987654321:repository/aussie-markets/api-production"
        ],
        "production's account is granted nothing in staging's"
    );
    // The copy's requests on the source side are exactly the read actions.
    let source_side: BTreeSet<&str> = REGISTRY_OPERATIONS
        .iter()
        .filter(|(m, _, scope, _)| {
            *scope == amagent::cloud::aws::iam::RegistryScope::Source && *m != "mount_blob"
        })
        .flat_map(|(_, _, _, actions)| actions.iter().copied())
        .collect();
    assert_eq!(source_side, source_read_actions());
}
