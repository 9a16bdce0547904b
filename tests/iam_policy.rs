//! docs/iam-policy.json grants exactly the actions the adapters call: a missing grant would
//! fail in production, an extra one would break least privilege.

use amagent::cloud::aws::iam::{OPERATIONS, PASS_ROLE};
use std::collections::BTreeSet;

#[test]
fn the_policy_grants_exactly_what_the_adapters_call() {
    let policy: serde_json::Value =
        serde_json::from_str(include_str!("../docs/iam-policy.json")).unwrap();
    let mut granted = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        for action in statement["Action"].as_array().unwrap() {
            let action = action.as_str().unwrap();
            assert!(!action.contains('*'), "no wildcard actions: {action}");
            granted.insert(action.to_string());
        }
    }
    let mut used: BTreeSet<String> = OPERATIONS.iter().map(|(_, a)| a.to_string()).collect();
    used.insert(PASS_ROLE.to_string());
    let missing: Vec<_> = used.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(missing.is_empty(), "the policy misses {missing:?}");
    assert!(
        unused.is_empty(),
        "the policy grants actions no adapter calls: {unused:?}"
    );
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
