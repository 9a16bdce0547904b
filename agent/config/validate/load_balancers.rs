//! Rules for a service's target groups: `loadBalancer` (one) or `loadBalancers` (several),
//! never both; each with a port, a health check path and a name; no group twice.

use crate::config::diagnostic::Diagnostic;
use crate::config::model::{LoadBalancer, Service};
use crate::config::position::FieldPath;
use crate::config::units::Located;

/// ECS attaches at most five target groups to a service.
const MAX_TARGET_GROUPS: usize = 5;

/// The largest healthCheckGracePeriodSeconds ECS takes (2^31 − 1).
const MAX_GRACE_SECONDS: u32 = i32::MAX as u32;

/// Each target group of `s` with its field path (`loadBalancer.targetGroup` or
/// `loadBalancers.N.targetGroup`, dot-separated, indices as numbers).
pub(super) fn target_group_paths(s: &Service) -> Vec<(String, &str)> {
    let one = s.load_balancer.iter().map(|lb| {
        (
            "loadBalancer.targetGroup".to_string(),
            lb.target_group.as_str(),
        )
    });
    let several = s.load_balancers.iter().enumerate().map(|(i, lb)| {
        (
            format!("loadBalancers.{i}.targetGroup"),
            lb.target_group.as_str(),
        )
    });
    one.chain(several).collect()
}

pub(super) fn check_load_balancers(
    at: &Located,
    path: &FieldPath,
    s: &Service,
    out: &mut Vec<Diagnostic>,
) {
    if s.load_balancer.is_some() && !s.load_balancers.is_empty() {
        out.push(at.at_key(
            &path.key("loadBalancers"),
            "`loadBalancer` and `loadBalancers` are both set".into(),
            Some("list every target group under `loadBalancers` and remove `loadBalancer`".into()),
        ));
    }
    if let Some(lb) = &s.load_balancer {
        check_load_balancer(at, &path.key("loadBalancer"), lb, out);
    }
    if s.load_balancers.len() > MAX_TARGET_GROUPS {
        out.push(at.at_key(
            &path.key("loadBalancers"),
            format!(
                "{} target groups listed; ECS attaches at most {MAX_TARGET_GROUPS} to a service",
                s.load_balancers.len()
            ),
            Some(format!("list at most {MAX_TARGET_GROUPS} target groups")),
        ));
    }
    for (i, lb) in s.load_balancers.iter().enumerate() {
        let lbp = path.key("loadBalancers").index(i);
        check_load_balancer(at, &lbp, lb, out);
        if let Some(first) = s.load_balancers[..i]
            .iter()
            .position(|other| other.target_group == lb.target_group)
        {
            let line = at
                .index
                .key_position(&path.key("loadBalancers").index(first))
                .line;
            out.push(at.at_value(
                &lbp.key("targetGroup"),
                format!("target group `{}` is listed twice", lb.target_group),
                Some(format!(
                    "it is already listed at line {line}; list each target group once"
                )),
            ));
        }
    }
    if let Some(grace) = s.deploy.health_check_grace_period_seconds
        && grace > MAX_GRACE_SECONDS
    {
        out.push(at.at_value(
            &path.key("deploy").key("healthCheckGracePeriodSeconds"),
            format!("`healthCheckGracePeriodSeconds: {grace}` is more than ECS accepts"),
            Some(format!(
                "write at most {MAX_GRACE_SECONDS}; minutes are usual, e.g. `healthCheckGracePeriodSeconds: 60`"
            )),
        ));
    }
}

fn check_load_balancer(
    at: &Located,
    lbp: &FieldPath,
    lb: &LoadBalancer,
    out: &mut Vec<Diagnostic>,
) {
    if lb.container_port == 0 {
        out.push(at.at_value(
            &lbp.key("containerPort"),
            "`containerPort` must be 1 to 65535".into(),
            Some("write the port the container listens on, e.g. `containerPort: 3000`".into()),
        ));
    }
    if !lb.health_check_path.starts_with('/') {
        out.push(at.at_value(
            &lbp.key("healthCheckPath"),
            "`healthCheckPath` must start with `/`".into(),
            Some(format!(
                "write `healthCheckPath: /{}`",
                lb.health_check_path.trim_start_matches('/')
            )),
        ));
    }
    if lb.target_group.trim().is_empty() {
        out.push(at.at_value(
            &lbp.key("targetGroup"),
            "`targetGroup` is empty".into(),
            Some("write the target group's name or ARN".into()),
        ));
    }
}
