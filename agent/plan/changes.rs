//! What changed in a service's spec, with values: `cpu 256 → 512`, `env.LOG_LEVEL "info" →
//! "debug"`, `secrets.DATABASE_URL /old → /new`. Secrets are shown by parameter name — the
//! values live in SSM and are never read. Long or odd values are cut and escaped.

use crate::config::printable::short_name;
use crate::config::{DeploySettings, Service};
use std::collections::BTreeMap;
use std::fmt::Display;

/// Each field the task definition or the service is rendered from that differs, in spec order.
pub fn deploy_changes(prev: &Service, s: &Service) -> Vec<String> {
    let mut out = Vec::new();
    value(&mut out, "cpu", prev.cpu, s.cpu);
    value(&mut out, "memory", prev.memory, s.memory);
    value(
        &mut out,
        "desired count",
        prev.desired_count,
        s.desired_count,
    );
    keyed(&mut out, "env", &prev.env, &s.env, |v| {
        format!("\"{}\"", short_name(v))
    });
    keyed(&mut out, "secrets", &prev.secrets, &s.secrets, |p| {
        short_name(p)
    });
    value(&mut out, "ecs.service", &prev.ecs.service, &s.ecs.service);
    value(
        &mut out,
        "ecs.taskFamily",
        &prev.ecs.task_family,
        &s.ecs.task_family,
    );
    value(
        &mut out,
        "ecs.container",
        &prev.ecs.container,
        &s.ecs.container,
    );
    value(
        &mut out,
        "image repository",
        &prev.image.repository,
        &s.image.repository,
    );
    value(
        &mut out,
        "load balancer",
        load_balancers(prev),
        load_balancers(s),
    );
    deploy_settings(&mut out, &prev.deploy, &s.deploy);
    out
}

/// Every target group as `name:port path`, comma-separated (`none` without one).
fn load_balancers(s: &Service) -> String {
    let groups: Vec<String> = s
        .target_groups()
        .iter()
        .map(|lb| {
            format!(
                "{}:{} {}",
                lb.target_group, lb.container_port, lb.health_check_path
            )
        })
        .collect();
    match groups.is_empty() {
        true => "none".to_string(),
        false => groups.join(", "),
    }
}

fn deploy_settings(out: &mut Vec<String>, a: &DeploySettings, b: &DeploySettings) {
    value(
        out,
        "deploy.minimumHealthyPercent",
        a.minimum_healthy_percent,
        b.minimum_healthy_percent,
    );
    value(
        out,
        "deploy.maximumPercent",
        a.maximum_percent,
        b.maximum_percent,
    );
    value(out, "deploy.bakeSeconds", a.bake_seconds, b.bake_seconds);
    value(
        out,
        "deploy.timeoutSeconds",
        a.timeout_seconds,
        b.timeout_seconds,
    );
    value(out, "deploy.autoRollback", a.auto_rollback, b.auto_rollback);
    let alarms = |d: &crate::config::DeploySettings| match d.alarms.is_empty() {
        true => "none".to_string(),
        false => d.alarms.join(", "),
    };
    value(out, "deploy.alarms", alarms(a), alarms(b));
    let grace = |g: Option<u32>| g.map_or_else(|| "unset".to_string(), |g| g.to_string());
    value(
        out,
        "deploy.healthCheckGracePeriodSeconds",
        grace(a.health_check_grace_period_seconds),
        grace(b.health_check_grace_period_seconds),
    );
}

fn value<T: PartialEq + Display>(out: &mut Vec<String>, what: &str, a: T, b: T) {
    if a != b {
        out.push(format!(
            "{what} {} → {}",
            short_name(&a.to_string()),
            short_name(&b.to_string())
        ));
    }
}

/// Per key of a map: added (`what.K = v`), removed (`what.K removed`) or changed (`a → b`).
fn keyed(
    out: &mut Vec<String>,
    what: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    show: impl Fn(&str) -> String,
) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let key = short_name(k);
        match (a.get(k), b.get(k)) {
            (None, Some(v)) => out.push(format!("{what}.{key} = {}", show(v))),
            (Some(_), None) => out.push(format!("{what}.{key} removed")),
            (Some(x), Some(y)) if x != y => {
                out.push(format!("{what}.{key} {} → {}", show(x), show(y)))
            }
            _ => {}
        }
    }
}
