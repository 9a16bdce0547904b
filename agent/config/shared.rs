//! Two environments in one account and region must not share resources: a deploy or an ECR
//! lifecycle run in one would change the other (e.g. staging expiring production's images).
//!
//! Claims are grouped by (account, region, kind, name) in one pass, and each shared name is
//! reported once with every place that uses it: comparing environments pairwise made 2,000
//! environments sharing names produce four million problems.

use super::diagnostic::Diagnostic;
use super::model::EnvironmentSpec;
use super::position::FieldPath;
use super::printable::short_name;
use super::units::PartialEnvironment;
use serde_yaml::Value;
use std::collections::BTreeMap;

type Header = EnvironmentSpec<Value>;

/// A named AWS resource an environment claims.
struct Claim<'a> {
    what: &'static str,
    name: &'a str,
    path: FieldPath,
}

fn claims(env: &PartialEnvironment) -> Vec<Claim<'_>> {
    let root = FieldPath::root();
    let mut out = Vec::new();
    if let Some(h) = &env.header {
        out.push(Claim {
            what: "ECS cluster",
            name: &h.ecs.cluster,
            path: root.key("ecs").key("cluster"),
        });
        if let Some(db) = &h.database {
            out.push(Claim {
                what: "RDS instance",
                name: &db.instance_id,
                path: root.key("database").key("instanceId"),
            });
        }
    }
    for (i, s) in &env.services {
        let p = root.key("services").index(*i);
        // ECS service names are scoped by cluster, and a shared cluster is reported already.
        out.push(Claim {
            what: "task definition family",
            name: &s.ecs.task_family,
            path: p.key("ecs").key("taskFamily"),
        });
        out.push(Claim {
            what: "ECR repository",
            name: &s.image.repository,
            path: p.key("image").key("repository"),
        });
        if let Some(lb) = &s.load_balancer {
            out.push(Claim {
                what: "target group",
                name: &lb.target_group,
                path: p.key("loadBalancer").key("targetGroup"),
            });
        }
        for (n, lb) in s.load_balancers.iter().enumerate() {
            out.push(Claim {
                what: "target group",
                name: &lb.target_group,
                path: p.key("loadBalancers").index(n).key("targetGroup"),
            });
        }
        for (var, parameter) in &s.secrets {
            out.push(Claim {
                what: "SSM parameter",
                name: parameter,
                path: p.key("secrets").key(var),
            });
        }
    }
    out
}

/// One use of a shared name: which environment, and where.
struct Place<'a> {
    env: &'a PartialEnvironment,
    header: &'a Header,
    path: FieldPath,
}

/// Places named in one message; the count says how many more there are.
const MAX_PLACES_LISTED: usize = 20;

type Key<'a> = (&'a str, &'a str, &'static str, &'a str);

pub fn check_shared_resources(envs: &[PartialEnvironment], out: &mut Vec<Diagnostic>) {
    let mut groups: BTreeMap<Key<'_>, Vec<Place<'_>>> = BTreeMap::new();
    for env in envs {
        let Some(h) = &env.header else { continue };
        for claim in claims(env) {
            let key = (
                h.aws.account_id.as_str(),
                h.aws.region.as_str(),
                claim.what,
                claim.name,
            );
            let places = groups.entry(key).or_default();
            // One environment using a name twice is not sharing (duplicates are checked per file).
            if places.iter().all(|p| p.header.name != h.name) {
                places.push(Place {
                    env,
                    header: h,
                    path: claim.path,
                });
            }
        }
    }
    for ((account, region, what, name), places) in groups {
        if places.len() > 1 {
            out.push(report(account, region, what, name, &places));
        }
    }
}

/// Report in the environment that promotes from another one of the group (it came second);
/// otherwise in the last by name.
fn reporter(places: &[Place<'_>]) -> usize {
    let promotes_from_member = |p: &Place<'_>| {
        p.header
            .promotion
            .as_ref()
            .is_some_and(|promotion| places.iter().any(|q| q.header.name == promotion.from))
    };
    let key = |i: &usize| {
        let p = &places[*i];
        (promotes_from_member(p), p.header.name.as_str())
    };
    (0..places.len()).max_by_key(key).unwrap_or(0)
}

fn report(account: &str, region: &str, what: &str, name: &str, places: &[Place<'_>]) -> Diagnostic {
    let ours = reporter(places);
    let here = &places[ours];
    let others: Vec<&Place<'_>> = places
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != ours)
        .map(|(_, p)| p)
        .collect();
    let users = match others.as_slice() {
        [one] => format!("which {} uses too", one.header.name),
        many => {
            let listed: Vec<String> = many
                .iter()
                .take(MAX_PLACES_LISTED)
                .map(|p| {
                    let line = p.env.at.index.value_position(&p.path).line;
                    format!("{} ({}:{line})", p.header.name, p.env.at.file)
                })
                .collect();
            let rest = match many.len().saturating_sub(MAX_PLACES_LISTED) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            format!(
                "which {} other environments use too: {}{rest}",
                many.len(),
                listed.join(", ")
            )
        }
    };
    let ha = here.header;
    here.env.at.at_value(
        &here.path,
        format!(
            "{} uses the {what} `{}`, {users} (same account {account}, {region})",
            ha.name,
            short_name(name),
        ),
        Some(format!(
            "give {} its own {what}, e.g. `{}`",
            ha.name,
            short_name(&own_name(name, &others[0].header.name, &ha.name))
        )),
    )
}

fn own_name(shared: &str, theirs: &str, ours: &str) -> String {
    if shared.contains(theirs) {
        shared.replace(theirs, ours)
    } else {
        format!("{shared}-{ours}")
    }
}
