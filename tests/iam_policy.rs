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
    assert!(unused.is_empty(), "the policy grants actions no adapter calls: {unused:?}");
}

#[test]
fn every_operation_is_listed_once() {
    let ops: BTreeSet<&str> = OPERATIONS.iter().map(|(op, _)| *op).collect();
    assert_eq!(ops.len(), OPERATIONS.len());
}
