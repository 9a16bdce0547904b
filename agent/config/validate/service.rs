//! Rules for one service: its pipeline, Fargate size, source, ECS and ECR names, deploy
//! settings and load balancer — and names that two services of one environment may not share.

use super::load_balancers::{check_load_balancers, target_group_paths};
use super::shapes::{is_ecr_repository, is_ecs_name, is_tag_name, name_rule, url_has_credentials};
use super::variables::check_variables;
use super::{Header, root};
use crate::config::diagnostic::Diagnostic;
use crate::config::fargate;
use crate::config::model::{Service, is_full_sha};
use crate::config::position::FieldPath;
use crate::config::suggest::{did_you_mean, one_of};
use crate::config::units::{Located, PartialEnvironment};
use std::collections::HashMap;

pub(super) fn check_duplicates(env: &PartialEnvironment, out: &mut Vec<Diagnostic>) {
    let at = &env.at;
    let services = root().key("services");
    // (what, value) → the service that used it first.
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, s) in &env.services {
        let mut keys = vec![
            ("name".to_string(), s.name.as_str(), "service name"),
            (
                "ecs.service".to_string(),
                s.ecs.service.as_str(),
                "ECS service",
            ),
            (
                "ecs.taskFamily".to_string(),
                s.ecs.task_family.as_str(),
                "task definition family",
            ),
        ];
        // Two services behind one target group would gate on each other's tasks.
        for (field, value) in target_group_paths(s) {
            keys.push((field, value, "target group"));
        }
        for (field, value, what) in keys {
            // A group listed twice by one service is `check_load_balancers`' to report.
            if let Some(prev) = first.get(&(what, value)).filter(|prev| **prev != *i) {
                let path =
                    field
                        .split('.')
                        .fold(services.index(*i), |p, k| match k.parse::<usize>() {
                            Ok(n) => p.index(n),
                            Err(_) => p.key(k),
                        });
                let line = at.index.key_position(&services.index(*prev)).line;
                out.push(at.at_value(
                    &path,
                    format!("duplicate {what} `{value}`"),
                    Some(format!("`{value}` is already used by the service at line {line}; each service needs its own")),
                ));
            } else {
                first.entry((what, value)).or_insert(*i);
            }
        }
    }
}

pub(super) fn check_service(
    at: &Located,
    header: Option<&Header>,
    path: &FieldPath,
    s: &Service,
    pipelines: &[&str],
    out: &mut Vec<Diagnostic>,
) {
    check_pipeline_exists(at, path, s, pipelines, out);
    check_fargate_size(at, path, s, out);
    check_source(at, path, s, out);
    check_names(at, path, s, out);
    check_deploy_settings(at, path, s, out);
    super::gates::check_gates(at, path, s, out);
    check_load_balancers(at, path, s, out);
    check_variables(at, header, path, s, out);
}

fn check_pipeline_exists(
    at: &Located,
    path: &FieldPath,
    s: &Service,
    pipelines: &[&str],
    out: &mut Vec<Diagnostic>,
) {
    if !pipelines.contains(&s.pipeline.as_str()) {
        let names = pipelines;
        let hint = match did_you_mean(&s.pipeline, names) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!(
                "create pipelines/{}.yaml, or use one of the existing pipelines{}",
                s.pipeline,
                if names.is_empty() {
                    String::new()
                } else {
                    format!(": {}", one_of(names))
                }
            ),
        };
        out.push(at.at_value(
            &path.key("pipeline"),
            format!("pipeline `{}` does not exist", s.pipeline),
            Some(hint),
        ));
    }
}

fn check_names(at: &Located, path: &FieldPath, s: &Service, out: &mut Vec<Diagnostic>) {
    for (field, value) in [
        ("service", &s.ecs.service),
        ("taskFamily", &s.ecs.task_family),
        ("container", &s.ecs.container),
    ] {
        name_rule(
            at,
            path.key("ecs").key(field),
            value,
            is_ecs_name(value),
            "ECS name",
            "use letters, digits, `-` and `_` (at most 255)",
            out,
        );
    }
    name_rule(
        at,
        path.key("image").key("repository"),
        &s.image.repository,
        is_ecr_repository(&s.image.repository),
        "ECR repository name",
        "use lowercase letters, digits, `.`, `_`, `-` and `/` between path parts, e.g. `aussie-markets/api`",
        out,
    );
}

fn check_fargate_size(at: &Located, path: &FieldPath, s: &Service, out: &mut Vec<Diagnostic>) {
    match fargate::memory_options(s.cpu) {
        None => {
            let units: Vec<String> = fargate::CPU_UNITS.iter().map(u32::to_string).collect();
            out.push(at.at_value(
                &path.key("cpu"),
                format!("`cpu: {}` is not a Fargate CPU size", s.cpu),
                Some(format!(
                    "write one of {} (256 = 0.25 vCPU)",
                    units.join(", ")
                )),
            ));
        }
        Some(options) if !options.contains(&s.memory) => {
            out.push(at.at_value(
                &path.key("memory"),
                format!(
                    "`memory: {}` is not valid with `cpu: {}` on Fargate",
                    s.memory, s.cpu
                ),
                Some(format!(
                    "with cpu {} write memory {}",
                    s.cpu,
                    fargate::describe_memory_options(&options)
                )),
            ));
        }
        Some(_) => {}
    }
}

/// Branch names move: a deploy pinned to one is not reproducible.
const BRANCH_NAMES: [&str; 5] = ["HEAD", "main", "master", "develop", "trunk"];

fn check_source(at: &Located, path: &FieldPath, s: &Service, out: &mut Vec<Diagnostic>) {
    let rp = path.key("source").key("ref");
    let r = s.source.reference.as_str();
    let pin_hint = "pin a tag (e.g. `ref: v1.4.0`) or a full 40-character commit SHA";
    let looks_hex = !r.is_empty()
        && r.bytes().all(|b| b.is_ascii_hexdigit())
        && r.bytes().any(|b| b.is_ascii_digit());
    if r.is_empty() {
        out.push(at.at_value(&rp, "`source.ref` is empty".into(), Some(pin_hint.into())));
    } else if looks_hex && r.len() >= 7 && r.len() < 40 {
        out.push(at.at_value(&rp, format!("`{r}` is an abbreviated commit SHA"), Some("write the full 40-character SHA (`git rev-parse` prints it), so the build is reproducible".into())));
    } else if looks_hex && r.len() > 40 {
        out.push(at.at_value(
            &rp,
            format!("`{r}` is longer than a commit SHA"),
            Some(pin_hint.into()),
        ));
    } else if BRANCH_NAMES.contains(&r) || r.starts_with("refs/heads/") {
        out.push(at.at_value(
            &rp,
            format!("`{r}` is a branch, and branches move"),
            Some(pin_hint.into()),
        ));
    } else if !is_full_sha(r) && !is_tag_name(r) {
        out.push(at.at_value(
            &rp,
            format!("`{r}` is not a valid tag name"),
            Some(pin_hint.into()),
        ));
    }
    let up = path.key("source").key("url");
    let url = s.source.url.as_str();
    if url.trim().is_empty() || url.chars().any(char::is_whitespace) {
        out.push(at.at_value(
            &up,
            "`source.url` must be a git URL without spaces".into(),
            Some("write e.g. `url: https://github.com/org/repo.git`".into()),
        ));
    } else if url_has_credentials(url) {
        // Never echo the URL: it carries a credential.
        out.push(at.at_value(&up, "`source.url` contains credentials".into(), Some("remove the credentials before `@`; amagent reads git credentials from AMAGENT_GIT_TOKEN or an SSH key".into())));
    }
}

fn check_deploy_settings(at: &Located, path: &FieldPath, s: &Service, out: &mut Vec<Diagnostic>) {
    let d = &s.deploy;
    let dp = path.key("deploy");
    if d.minimum_healthy_percent > 100 {
        out.push(at.at_value(
            &dp.key("minimumHealthyPercent"),
            "`minimumHealthyPercent` must be 0 to 100".into(),
            Some("write e.g. `minimumHealthyPercent: 100`".into()),
        ));
    }
    if d.maximum_percent < 100 {
        out.push(at.at_value(
            &dp.key("maximumPercent"),
            "`maximumPercent` must be at least 100".into(),
            Some("write e.g. `maximumPercent: 200`".into()),
        ));
    }
    if let Some(count) = s.desired_count.fixed()
        && d.minimum_healthy_percent <= 100
        && d.maximum_percent >= 100
        && count > 0
    {
        // ECS rounds the lower bound up and the upper bound down (aws-behaviour.md).
        let desired = u64::from(count);
        let min_tasks = (desired * u64::from(d.minimum_healthy_percent)).div_ceil(100);
        let max_tasks = desired * u64::from(d.maximum_percent) / 100;
        if min_tasks >= desired && max_tasks <= desired {
            out.push(at.at_value(
                &dp.key("maximumPercent"),
                format!(
                    "with desiredCount {}, minimumHealthyPercent {} and maximumPercent {} ECS can neither start a new task nor stop an old one, so no deploy would progress",
                    s.desired_count, d.minimum_healthy_percent, d.maximum_percent
                ),
                Some("raise maximumPercent (e.g. 200) or lower minimumHealthyPercent".into()),
            ));
        }
    }
    if d.bake_seconds > 86_400 {
        out.push(at.at_value(
            &dp.key("bakeSeconds"),
            format!("`bakeSeconds: {}` is more than a day", d.bake_seconds),
            Some("bake for minutes, e.g. `bakeSeconds: 120`".into()),
        ));
    } else if d.timeout_seconds == 0 {
        out.push(at.at_value(
            &dp.key("timeoutSeconds"),
            "`timeoutSeconds` must be more than 0".into(),
            Some("write e.g. `timeoutSeconds: 900`".into()),
        ));
    } else if d.timeout_seconds <= d.bake_seconds {
        out.push(at.at_value(
            &dp.key("timeoutSeconds"),
            format!(
                "`timeoutSeconds: {}` leaves no time for the rollout before the {}-second bake",
                d.timeout_seconds, d.bake_seconds
            ),
            Some(format!(
                "make timeoutSeconds longer than bakeSeconds, e.g. `timeoutSeconds: {}`",
                d.bake_seconds.saturating_add(600)
            )),
        ));
    }
}
