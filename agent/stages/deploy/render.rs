//! Task definition render: the service's current task definition with only what the
//! environment spec manages changed — image (pinned by digest), plain env vars, secrets (SSM
//! ARNs), cpu and memory. Everything else (roles, log configuration, ports, health check,
//! runtime platform, ulimits, …) is kept as it is. Pure.

use crate::cloud::types::{KeyValue, SecretRef, TASK_DEFINITION_READ_ONLY, TaskDefinition};
use crate::config::{Service, secret_ref};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error(
        "task definition {task_definition} has no container `{container}` (it has: {available}); set `ecs.container` to one of them"
    )]
    NoSuchContainer {
        task_definition: String,
        container: String,
        available: String,
    },
    #[error(
        "container `{container}` in {task_definition} does not map port {port} (the load balancer's containerPort); fix `loadBalancer.containerPort` or the task definition's portMappings"
    )]
    PortNotMapped {
        task_definition: String,
        container: String,
        port: u16,
    },
}

/// What to register, or None when `current` already is what the spec asks for.
///
/// `image` is the full reference to run (`host/repo@sha256:…`); `ssm_arn` turns an SSM
/// parameter name into the ARN ECS resolves at task start (Secrets Manager ARNs pass as they are).
pub fn render(
    current: &TaskDefinition,
    service: &Service,
    image: &str,
    ssm_arn: impl Fn(&str) -> String,
) -> Result<Option<TaskDefinition>, RenderError> {
    let mut next = registrable(current);
    let available = || {
        current
            .container_definitions
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let container = next
        .container_definitions
        .iter_mut()
        .find(|c| c.name == service.ecs.container)
        .ok_or_else(|| RenderError::NoSuchContainer {
            task_definition: current.family_revision(),
            container: service.ecs.container.clone(),
            available: available(),
        })?;
    if let Some(lb) = &service.load_balancer
        && !container
            .port_mappings
            .iter()
            .any(|p| p.container_port == Some(lb.container_port))
    {
        return Err(RenderError::PortNotMapped {
            task_definition: current.family_revision(),
            container: container.name.clone(),
            port: lb.container_port,
        });
    }
    container.image = image.to_string();
    // BTreeMaps: sorted by name, so the rendered list is stable and comparable.
    container.environment = service
        .env
        .iter()
        .map(|(name, value)| KeyValue {
            name: name.clone(),
            value: value.clone(),
        })
        .collect();
    container.secrets = service
        .secrets
        .iter()
        .map(|(name, reference)| SecretRef {
            name: name.clone(),
            // A Secrets Manager ARN is what ECS takes as it is (JSON key and version included).
            value_from: if secret_ref::is_secrets_manager(reference) {
                reference.clone()
            } else {
                ssm_arn(reference)
            },
        })
        .collect();
    next.cpu = Some(service.cpu.to_string());
    next.memory = Some(service.memory.to_string());

    if normalized(&next) == normalized(&registrable(current)) {
        return Ok(None);
    }
    Ok(Some(next))
}

/// Whether two task definitions would run the same thing (ARN, revision and read-only fields
/// aside): a resumed deploy reuses a revision its interrupted run already registered.
pub fn same_definition(a: &TaskDefinition, b: &TaskDefinition) -> bool {
    normalized(&registrable(a)) == normalized(&registrable(b))
}

/// `td` as RegisterTaskDefinition takes it: no ARN, revision or read-only fields.
fn registrable(td: &TaskDefinition) -> TaskDefinition {
    let mut next = td.clone();
    next.arn.clear();
    next.revision = 0;
    for field in TASK_DEFINITION_READ_ONLY {
        next.extra.remove(field);
    }
    next
}

/// Order-insensitive form for comparing env vars and secrets.
fn normalized(td: &TaskDefinition) -> TaskDefinition {
    let mut td = td.clone();
    for c in &mut td.container_definitions {
        c.environment.sort_by(|a, b| a.name.cmp(&b.name));
        c.secrets.sort_by(|a, b| a.name.cmp(&b.name));
    }
    td
}

/// The image a task definition runs in `container`.
pub fn image_of(td: &TaskDefinition, container: &str) -> Option<String> {
    td.container(container).map(|c| c.image.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str =
        include_str!("../../../tests/fixtures/ecs-describe-task-definition-staging.json");

    fn current() -> TaskDefinition {
        let v: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        serde_json::from_value(v["taskDefinition"].clone()).unwrap()
    }

    fn staging_api() -> Service {
        crate::config::example().environments["staging"].services[0].clone()
    }

    fn arn(name: &str) -> String {
        format!("arn:aws:ssm:ap-southeast-2:123456789012:parameter{name}")
    }

    const NEW_IMAGE: &str = "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/aussie-markets/api@sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn changes_only_managed_fields() {
        let before = current();
        let after = render(&before, &staging_api(), NEW_IMAGE, arn)
            .unwrap()
            .expect("new image → new revision");
        let c = after.container("api").unwrap();
        assert_eq!(c.image, NEW_IMAGE);
        // Kept: roles, network mode, runtime platform, log configuration, health check, ports.
        assert_eq!(after.task_role_arn, before.task_role_arn);
        assert_eq!(after.execution_role_arn, before.execution_role_arn);
        assert_eq!(after.runtime_platform, before.runtime_platform);
        assert_eq!(after.network_mode.as_deref(), Some("awsvpc"));
        let old = before.container("api").unwrap();
        for key in [
            "logConfiguration",
            "healthCheck",
            "ulimits",
            "essential",
            "stopTimeout",
        ] {
            assert_eq!(c.extra.get(key), old.extra.get(key), "{key}");
        }
        assert_eq!(c.port_mappings, old.port_mappings);
        // Read-only fields are gone, unmanaged extras stay.
        assert!(!after.extra.contains_key("registeredAt"));
        assert!(!after.extra.contains_key("status"));
        assert!(after.extra.contains_key("volumes"));
        assert_eq!(after.revision, 0);
        assert!(after.arn.is_empty());
    }

    #[test]
    fn same_spec_same_image_registers_nothing() {
        let before = current();
        let image = before.container("api").unwrap().image.clone();
        assert_eq!(render(&before, &staging_api(), &image, arn).unwrap(), None);
    }

    #[test]
    fn env_secrets_cpu_memory_come_from_the_spec() {
        let mut spec = staging_api();
        spec.env.insert("FEATURE_X".into(), "on".into());
        spec.secrets.insert(
            "STRIPE_KEY".into(),
            "/aussie-markets/staging/api/stripe-key".into(),
        );
        spec.cpu = 512;
        spec.memory = 1024;
        let before = current();
        let image = before.container("api").unwrap().image.clone();
        let after = render(&before, &spec, &image, arn).unwrap().unwrap();
        let c = after.container("api").unwrap();
        assert!(
            c.environment
                .iter()
                .any(|kv| kv.name == "FEATURE_X" && kv.value == "on")
        );
        assert!(c.secrets.iter().any(|s| s.name == "STRIPE_KEY"
            && s.value_from == "arn:aws:ssm:ap-southeast-2:123456789012:parameter/aussie-markets/staging/api/stripe-key"));
        assert_eq!(after.cpu.as_deref(), Some("512"));
        assert_eq!(after.memory.as_deref(), Some("1024"));
    }

    #[test]
    fn secrets_manager_arns_pass_to_value_from_unchanged() {
        let mut spec = staging_api();
        let reference = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:api/stripe-AbCdEf:key:AWSPREVIOUS:";
        spec.secrets.insert("STRIPE_KEY".into(), reference.into());
        let before = current();
        let image = before.container("api").unwrap().image.clone();
        let after = render(&before, &spec, &image, arn).unwrap().unwrap();
        let c = after.container("api").unwrap();
        let stripe = c.secrets.iter().find(|s| s.name == "STRIPE_KEY").unwrap();
        assert_eq!(stripe.value_from, reference);
        // Rendering the result again changes nothing: no new revision on the next deploy.
        assert_eq!(render(&after, &spec, &image, arn).unwrap(), None);
    }

    #[test]
    fn missing_container_or_port_is_a_clear_error() {
        let mut spec = staging_api();
        spec.ecs.container = "web".into();
        let err = render(&current(), &spec, NEW_IMAGE, arn).unwrap_err();
        assert_eq!(
            err.to_string(),
            "task definition aussie-markets-api-task:42 has no container `web` (it has: api); set `ecs.container` to one of them"
        );
        let mut spec = staging_api();
        spec.load_balancer.as_mut().unwrap().container_port = 8080;
        assert!(matches!(
            render(&current(), &spec, NEW_IMAGE, arn),
            Err(RenderError::PortNotMapped { port: 8080, .. })
        ));
    }
}
