//! Semantic rules: what serde cannot see. Each rule pins its diagnostic to the field it is
//! about and says what to write instead. Rules never echo values that could be secrets.

use super::diagnostic::Diagnostic;
use super::fargate;
use super::load::{Located, PartialEnvironment, PartialPipeline};
use super::model::{API_VERSION, EnvironmentSpec, Service, StageKind, is_full_sha};
use super::names::{check_name, is_amagent_name};
use super::position::FieldPath;
use super::printable::short_name;
use super::secret_ref;
use super::suggest::{did_you_mean, one_of};
use serde_yaml::Value;
use std::collections::HashMap;

type Header = EnvironmentSpec<Value>;

/// `env_names` and `pipeline_names` are the stems of every such file, readable or not: a file
/// that exists counts as existing even when it has errors of its own (those are reported there,
/// not again as "unknown pipeline" on every service).
pub fn check(
    envs: &[PartialEnvironment],
    pipelines: &[PartialPipeline],
    env_names: &[&str],
    pipeline_names: &[&str],
    out: &mut Vec<Diagnostic>,
) {
    for p in pipelines {
        if let Some(pipeline) = &p.pipeline {
            check_name(
                &p.at,
                &root().key("name"),
                &pipeline.name,
                "pipeline name",
                out,
            );
            check_pipeline(&p.at, pipeline, out);
        }
    }
    for env in envs {
        if let Some(header) = &env.header {
            check_name(
                &env.at,
                &root().key("name"),
                &header.name,
                "environment name",
                out,
            );
            check_environment_header(&env.at, header, env_names, out);
        }
        check_duplicates(env, out);
        // With a name that disagrees with the file, per-environment names (SSM) are ambiguous:
        // report the name alone.
        let header = env.header.as_ref().filter(|h| h.name == env.at.stem());
        for (i, service) in &env.services {
            let path = FieldPath::root().key("services").index(*i);
            check_name(
                &env.at,
                &path.key("name"),
                &service.name,
                "service name",
                out,
            );
            // An invalid service name would only be echoed into suggested SSM names.
            let header = header.filter(|_| is_amagent_name(&service.name));
            check_service(&env.at, header, &path, service, pipeline_names, out);
        }
    }
    super::shared::check_shared_resources(envs, out);
    check_promotion_cycles(envs, out);
}

/// `staging` from `production` and `production` from `staging`: nothing would ever be built.
fn check_promotion_cycles(envs: &[PartialEnvironment], out: &mut Vec<Diagnostic>) {
    let from: HashMap<&str, &str> = envs
        .iter()
        .filter_map(|e| e.header.as_ref())
        .filter_map(|h| {
            h.promotion
                .as_ref()
                .map(|p| (h.name.as_str(), p.from.as_str()))
        })
        .collect();
    for env in envs {
        let Some(h) = &env.header else { continue };
        if h.promotion.as_ref().is_none_or(|p| p.from == h.name) {
            continue; // promoting from itself is reported on its own
        }
        let mut chain = vec![h.name.as_str()];
        let mut current = h.name.as_str();
        while let Some(next) = from.get(current).copied() {
            chain.push(next);
            if next == h.name {
                out.push(env.at.at_value(
                    &root().key("promotion").key("from"),
                    format!("promotion cycle: {}", chain.join(" → ")),
                    Some(
                        "one environment must build from source: remove `promotion` from it".into(),
                    ),
                ));
                break;
            }
            if chain.len() > from.len() + 1 {
                break; // a cycle that does not pass through this environment
            }
            current = next;
        }
    }
}

fn root() -> FieldPath {
    FieldPath::root()
}

fn check_header_common(
    at: &Located,
    api_version: &str,
    kind: &str,
    name: &str,
    expected_kind: &str,
    dir: &str,
    out: &mut Vec<Diagnostic>,
) {
    if api_version != API_VERSION {
        out.push(at.at_value(
            &root().key("apiVersion"),
            format!("unsupported apiVersion `{api_version}`"),
            Some(format!("write `apiVersion: {API_VERSION}`")),
        ));
    }
    if kind != expected_kind {
        out.push(at.at_value(
            &root().key("kind"),
            format!("`kind` is `{kind}` but this file is in {dir}/"),
            Some(format!("write `kind: {expected_kind}`, or move the file")),
        ));
    }
    let stem = at.stem();
    if name != stem {
        let file_name = at.file.rsplit('/').next().unwrap_or(&at.file);
        out.push(at.at_value(
            &root().key("name"),
            format!(
                "name `{}` does not match the file name `{}`",
                short_name(name),
                short_name(file_name)
            ),
            Some(format!(
                "write `name: {stem}`, or rename the file to `{name}.yaml`"
            )),
        ));
    }
}

fn check_pipeline(at: &Located, p: &super::model::Pipeline, out: &mut Vec<Diagnostic>) {
    check_header_common(
        at,
        &p.api_version,
        &p.kind,
        &p.name,
        "Pipeline",
        "pipelines",
        out,
    );
    const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];
    if !PLATFORMS.contains(&p.build.platform.as_str()) {
        let hint = match did_you_mean(&p.build.platform, &PLATFORMS) {
            Some(s) => format!("did you mean `{s}`? Fargate runs {}", one_of(&PLATFORMS)),
            None => format!("Fargate runs {}", one_of(&PLATFORMS)),
        };
        out.push(at.at_value(
            &root().key("build").key("platform"),
            format!("unsupported build platform `{}`", p.build.platform),
            Some(hint),
        ));
    }
    if p.build.dockerfile.trim().is_empty() {
        out.push(at.at_value(
            &root().key("build").key("dockerfile"),
            "`build.dockerfile` is empty".into(),
            Some("write the Dockerfile's path relative to the context, e.g. `dockerfile: Dockerfile`".into()),
        ));
    }
    if p.build.context.starts_with('/') || p.build.context.split('/').any(|c| c == "..") {
        out.push(at.at_value(
            &root().key("build").key("context"),
            "`build.context` must stay inside the source repository".into(),
            Some("write a path relative to the repository root, e.g. `context: .`".into()),
        ));
    }
    if p.stages.is_empty() {
        out.push(at.at_value(
            &root().key("stages"),
            "`stages` is empty: this pipeline would do nothing".into(),
            Some(format!(
                "list the stages to run, from {}",
                one_of(&StageKind::NAMES)
            )),
        ));
    }
    let mut seen = Vec::new();
    for (i, stage) in p.stages.iter().enumerate() {
        if seen.contains(stage) {
            out.push(at.at_value(
                &root().key("stages").index(i),
                format!("stage `{stage}` is listed twice"),
                Some("list each stage once".into()),
            ));
        }
        seen.push(*stage);
    }
}

fn is_region(s: &str) -> bool {
    // e.g. ap-southeast-2, us-gov-west-1, eu-central-1
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// ECS cluster, service, task family and container names: letters, digits, `-`, `_`.
fn is_ecs_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RDS DB instance identifier rules.
fn is_rds_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// ECR repository names: lowercase path components separated by `/`.
fn is_ecr_repository(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 256
        && s.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
}

fn name_rule(
    at: &Located,
    path: FieldPath,
    value: &str,
    ok: bool,
    what: &str,
    rule: &str,
    out: &mut Vec<Diagnostic>,
) {
    if !ok {
        out.push(at.at_value(
            &path,
            format!("`{}` is not a valid {what}", short_name(value)),
            Some(rule.to_string()),
        ));
    }
}

fn check_environment_header(
    at: &Located,
    h: &Header,
    env_names: &[&str],
    out: &mut Vec<Diagnostic>,
) {
    check_header_common(
        at,
        &h.api_version,
        &h.kind,
        &h.name,
        "Environment",
        "environments",
        out,
    );
    if !is_region(&h.aws.region) {
        out.push(at.at_value(
            &root().key("aws").key("region"),
            format!("`{}` is not an AWS region name", h.aws.region),
            Some("write a region code such as `ap-southeast-2`".into()),
        ));
    }
    if h.aws.account_id.len() != 12 || !h.aws.account_id.bytes().all(|b| b.is_ascii_digit()) {
        out.push(at.at_value(
            &root().key("aws").key("accountId"),
            "`aws.accountId` must be exactly 12 digits".into(),
            Some("write the account id in quotes, e.g. `accountId: \"123456789012\"`".into()),
        ));
    }
    name_rule(
        at,
        root().key("ecs").key("cluster"),
        &h.ecs.cluster,
        is_ecs_name(&h.ecs.cluster),
        "ECS cluster name",
        "use letters, digits, `-` and `_` (at most 255)",
        out,
    );
    if let Some(db) = &h.database {
        let path = root().key("database");
        name_rule(
            at,
            path.key("instanceId"),
            &db.instance_id,
            is_rds_identifier(&db.instance_id),
            "RDS instance identifier",
            "start with a letter; use letters, digits and single hyphens; no trailing hyphen",
            out,
        );
        if db.snapshots.policy != super::model::SnapshotPolicy::Never && db.snapshots.retain == 0 {
            out.push(at.at_value(
                &path.key("snapshots").key("retain"),
                "`retain: 0` would delete each snapshot as soon as it is taken".into(),
                Some("keep at least 1 (RDS allows 100 manual snapshots per region), or set `policy: never`".into()),
            ));
        }
        if db.snapshots.retain > 100 {
            out.push(at.at_value(
                &path.key("snapshots").key("retain"),
                format!("`retain: {}` is more than RDS's default quota of 100 manual snapshots per region", db.snapshots.retain),
                Some("keep at most 100".into()),
            ));
        }
    }
    let lifecycle = root().key("ecr").key("lifecycle");
    if h.ecr.lifecycle.keep_last_tagged == 0 {
        out.push(at.at_value(
            &lifecycle.key("keepLastTagged"),
            "`keepLastTagged: 0` would leave no image to roll back to".into(),
            Some(
                "keep at least 1 (images in use are always kept), e.g. `keepLastTagged: 10`".into(),
            ),
        ));
    }
    if h.ecr.lifecycle.expire_untagged_after_days == 0 {
        out.push(at.at_value(
            &lifecycle.key("expireUntaggedAfterDays"),
            "`expireUntaggedAfterDays` must be at least 1".into(),
            Some("ECR counts whole days since push: write `expireUntaggedAfterDays: 1`".into()),
        ));
    }
    check_ssm_naming(at, &h.ssm.naming, out);
    if let Some(p) = &h.promotion {
        let path = root().key("promotion");
        if p.from == h.name {
            out.push(at.at_value(
                &path.key("from"),
                format!("environment `{}` cannot promote from itself", h.name),
                Some("name the environment whose verified images this one receives, e.g. `from: staging`".into()),
            ));
        } else if !env_names.contains(&p.from.as_str()) {
            let others: Vec<&str> = env_names.iter().copied().filter(|n| *n != h.name).collect();
            let hint = match did_you_mean(&p.from, &others) {
                Some(s) => format!("did you mean `{s}`?"),
                None if others.is_empty() => {
                    "add environments/<name>.yaml for the source environment".into()
                }
                None => format!("environments here: {}", one_of(&others)),
            };
            out.push(at.at_value(
                &path.key("from"),
                format!("promotion source `{}` is not an environment", p.from),
                Some(hint),
            ));
        }
        check_tag_pattern(
            at,
            &path,
            &p.tag_pattern,
            p.version_requirement.as_deref(),
            out,
        );
    }
}

fn check_ssm_naming(at: &Located, naming: &str, out: &mut Vec<Diagnostic>) {
    let path = root().key("ssm").key("naming");
    let hint = Some(
        "write a parameter path template such as `/my-app/{env}/{service}/{secret}`".to_string(),
    );
    let problem = if !naming.starts_with('/') {
        Some("`ssm.naming` must start with `/`".to_string())
    } else if !naming.contains("{service}") || naming.matches("{secret}").count() != 1 {
        Some("`ssm.naming` must contain `{service}` and `{secret}` once".to_string())
    } else {
        let stripped = naming
            .replace("{env}", "")
            .replace("{service}", "")
            .replace("{secret}", "");
        if stripped.contains('{') || stripped.contains('}') {
            Some(
                "`ssm.naming` may only use the placeholders `{env}`, `{service}` and `{secret}`"
                    .to_string(),
            )
        } else {
            None
        }
    };
    if let Some(message) = problem {
        out.push(at.at_value(&path, message, hint));
    }
}

fn check_tag_pattern(
    at: &Located,
    path: &FieldPath,
    pattern: &str,
    requirement: Option<&str>,
    out: &mut Vec<Diagnostic>,
) {
    let valid = pattern.strip_suffix('*').is_some_and(|prefix| {
        prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
    });
    if !valid {
        out.push(at.at_value(
            &path.key("tagPattern"),
            format!("`{pattern}` is not a semver tag pattern"),
            Some("write a literal prefix followed by `*`, where `*` stands for a whole semver version: `v*` matches v1.4.0".into()),
        ));
    }
    if let Some(req) = requirement
        && let Err(e) = semver::VersionReq::parse(req)
    {
        out.push(at.at_value(
            &path.key("versionRequirement"),
            format!("`{req}` is not a semver requirement: {e}"),
            Some("write a requirement such as `>=1.0.0` or `^2`".into()),
        ));
    }
}

fn check_duplicates(env: &PartialEnvironment, out: &mut Vec<Diagnostic>) {
    let at = &env.at;
    let services = root().key("services");
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, s) in &env.services {
        let mut keys = vec![
            ("name", s.name.as_str(), "service name"),
            ("ecs.service", s.ecs.service.as_str(), "ECS service"),
            (
                "ecs.taskFamily",
                s.ecs.task_family.as_str(),
                "task definition family",
            ),
        ];
        // Two services behind one target group would gate on each other's tasks.
        if let Some(lb) = &s.load_balancer {
            keys.push((
                "loadBalancer.targetGroup",
                lb.target_group.as_str(),
                "target group",
            ));
        }
        for (field, value, what) in keys {
            if let Some(prev) = first.get(&(field, value)) {
                let path = field.split('.').fold(services.index(*i), |p, k| p.key(k));
                let line = at.index.key_position(&services.index(*prev)).line;
                out.push(at.at_value(
                    &path,
                    format!("duplicate {what} `{value}`"),
                    Some(format!("`{value}` is already used by the service at line {line}; each service needs its own")),
                ));
            } else {
                first.insert((field, value), *i);
            }
        }
    }
}

fn check_service(
    at: &Located,
    header: Option<&Header>,
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
    check_fargate_size(at, path, s, out);
    check_source(at, path, s, out);
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
    check_deploy_settings(at, path, s, out);
    if let Some(lb) = &s.load_balancer {
        let lbp = path.key("loadBalancer");
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
    check_variables(at, header, path, s, out);
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

/// git's rules for a tag name, as far as they matter here.
fn is_tag_name(r: &str) -> bool {
    !r.starts_with('-')
        && !r.starts_with('/')
        && !r.ends_with('/')
        && !r.ends_with('.')
        && !r.ends_with(".lock")
        && !r.contains("..")
        && !r.contains("@{")
        && !r.contains("//")
        && r.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"~^:?*[\\".contains(c))
}

/// A git URL over http(s) that names a user (a token is often passed as the user name) or
/// any URL with a password. `ssh://git@host` is fine: that user is not a secret.
fn url_has_credentials(url: &str) -> bool {
    let http = url.starts_with("https://") || url.starts_with("http://");
    url_has_password(url)
        || (http
            && url
                .split_once("://")
                .and_then(|(_, rest)| rest.split('/').next())
                .is_some_and(|authority| authority.contains('@')))
}

/// `scheme://user:password@host` — the password part is what must not be in config.
pub(crate) fn url_has_password(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo.contains(':'),
        None => false,
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
    if d.minimum_healthy_percent <= 100 && d.maximum_percent >= 100 && s.desired_count > 0 {
        // ECS rounds the lower bound up and the upper bound down (aws-behaviour.md).
        let desired = u64::from(s.desired_count);
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

fn is_env_var_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(crate) fn looks_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "PRIVATE_KEY"]
        .iter()
        .any(|w| upper.ends_with(w))
}

/// The SSM parameter name the convention gives for `variable` of `service`.
fn conventional_ssm_name(naming: &str, env: &str, service: &str, variable: &str) -> String {
    let secret = variable.to_ascii_lowercase().replace('_', "-");
    naming
        .replace("{env}", env)
        .replace("{service}", service)
        .replace("{secret}", &secret)
}

fn follows_convention(naming: &str, env: &str, service: &str, parameter: &str) -> bool {
    let Some((before, after)) = naming.split_once("{secret}") else {
        return false;
    };
    let fill = |t: &str| t.replace("{env}", env).replace("{service}", service);
    let (prefix, suffix) = (fill(before), fill(after));
    parameter
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(&suffix))
        .is_some_and(|middle| !middle.is_empty() && !middle.contains('/'))
}

fn check_variables(
    at: &Located,
    header: Option<&Header>,
    path: &FieldPath,
    s: &Service,
    out: &mut Vec<Diagnostic>,
) {
    let naming = header.map(|h| (h.ssm.naming.as_str(), h.name.as_str()));
    let suggest = |var: &str| match naming {
        Some((n, env)) => format!("`{var}: {}`", conventional_ssm_name(n, env, &s.name, var)),
        None => format!("`{var}: <SSM parameter name>`"),
    };
    for (name, value) in &s.env {
        let p = path.key("env").key(name);
        if !is_env_var_name(name) {
            out.push(at.at_key(
                &p,
                format!("`{name}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit".into()),
            ));
        }
        if s.secrets.contains_key(name) {
            out.push(at.at_key(
                &p,
                format!("`{name}` is set both in `env` and in `secrets`"),
                Some("keep it in `secrets` only".into()),
            ));
        } else if url_has_password(value) || (looks_secret_name(name) && !value.is_empty()) {
            // The value is never printed: it is (or may be) a credential.
            out.push(at.at_key(
                &p,
                format!("`env.{name}` holds a credential in plain text"),
                Some(format!(
                    "store it in SSM Parameter Store and reference it under `secrets:`, e.g. {}",
                    suggest(name)
                )),
            ));
        }
    }
    for (name, parameter) in &s.secrets {
        let p = path.key("secrets").key(name);
        if !is_env_var_name(name) {
            out.push(at.at_key(
                &p,
                format!("`{name}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit".into()),
            ));
        }
        if secret_ref::is_arn(parameter) {
            // A Secrets Manager ARN: its shape is checked; SSM's naming convention does not apply.
            if let Err(e) = secret_ref::parse(parameter) {
                let hint = match &e {
                    secret_ref::SecretArnError::SsmArn(n) => format!("write `{name}: {n}`"),
                    _ => format!("write `{name}: {}`", secret_ref::SECRETS_MANAGER_SHAPE),
                };
                out.push(at.at_value(&p, format!("`secrets.{name}` {e}"), Some(hint)));
            }
        } else if let Some((n, env)) = naming
            && !follows_convention(n, env, &s.name, parameter)
        {
            out.push(at.at_value(
                    &p,
                    format!("SSM parameter `{parameter}` does not follow this environment's naming convention `{n}`"),
                    Some(format!("write {}", suggest(name))),
                ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        assert!(is_region("ap-southeast-2"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("ap-southeast"));
        assert!(!is_region("Sydney"));
    }

    #[test]
    fn rds_identifiers() {
        assert!(is_rds_identifier("aussie-markets-staging-db"));
        assert!(!is_rds_identifier("1db"));
        assert!(!is_rds_identifier("db--x"));
        assert!(!is_rds_identifier("db-"));
    }

    #[test]
    fn ecr_names() {
        assert!(is_ecr_repository("aussie-markets/api"));
        assert!(!is_ecr_repository("Aussie/api"));
        assert!(!is_ecr_repository("a//b"));
    }

    #[test]
    fn ssm_convention() {
        let n = "/aussie-markets/{env}/{service}/{secret}";
        assert!(follows_convention(
            n,
            "staging",
            "api",
            "/aussie-markets/staging/api/database-url"
        ));
        assert!(!follows_convention(
            n,
            "staging",
            "api",
            "/aussie-markets/production/api/database-url"
        ));
        assert!(!follows_convention(
            n,
            "staging",
            "api",
            "/aussie-markets/staging/api/"
        ));
        assert!(!follows_convention(
            n,
            "staging",
            "api",
            "/aussie-markets/staging/api/a/b"
        ));
        assert_eq!(
            conventional_ssm_name(n, "staging", "api", "DATABASE_URL"),
            "/aussie-markets/staging/api/database-url"
        );
    }

    #[test]
    fn credentials_in_urls() {
        assert!(url_has_password("postgresql://admin:pw@host:5432/db"));
        assert!(!url_has_password("redis://host:6379"));
        assert!(!url_has_password("https://git@github.com/x.git"));
    }

    #[test]
    fn tag_names() {
        assert!(is_tag_name("v1.4.0"));
        assert!(is_tag_name("release/2026-11"));
        assert!(!is_tag_name("v1..0"));
        assert!(!is_tag_name("has space"));
    }
}
