//! Task definitions between amagent's JSON-shaped type and the SDK's types. Every field a
//! render must keep is mapped; a field the adapter cannot map makes registration fail with its
//! name, rather than registering a revision that silently lost it.

use crate::cloud::CloudError;
use crate::cloud::types::TASK_DEFINITION_READ_ONLY;
use crate::cloud::types::{
    ContainerDefinition, KeyValue, PortMapping, RuntimePlatform, SecretRef, TaskDefinition,
};
use aws_sdk_ecs::types as ecs;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const TASK_EXTRAS: [&str; 5] = [
    "volumes",
    "placementConstraints",
    "ephemeralStorage",
    "pidMode",
    "ipcMode",
];
const CONTAINER_EXTRAS: [&str; 14] = [
    "essential",
    "logConfiguration",
    "healthCheck",
    "ulimits",
    "stopTimeout",
    "startTimeout",
    "cpu",
    "memory",
    "memoryReservation",
    "command",
    "entryPoint",
    "workingDirectory",
    "user",
    "readonlyRootFilesystem",
];
const PORT_EXTRAS: [&str; 4] = ["hostPort", "protocol", "name", "appProtocol"];

fn invalid(message: String) -> CloudError {
    CloudError::invalid("RegisterTaskDefinition", message)
}

fn unsupported(
    extra: &BTreeMap<String, Value>,
    known: &[&str],
    what: &str,
) -> Result<(), CloudError> {
    let unknown: Vec<&str> = extra
        .iter()
        .filter(|(k, v)| !known.contains(&k.as_str()) && !is_empty(v))
        .map(|(k, _)| k.as_str())
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} field(s) {} are not supported by amagent's AWS adapter yet; registering would drop them",
            unknown.join(", ")
        )))
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn int(v: Option<&Value>) -> Option<i32> {
    v.and_then(Value::as_i64).map(|n| n as i32)
}

/// Our task definition → the RegisterTaskDefinition request.
pub fn to_register(
    client: &aws_sdk_ecs::Client,
    td: &TaskDefinition,
) -> Result<
    aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder,
    CloudError,
> {
    // Read-only fields (from a describe) are not sent; anything else unknown is refused.
    let mut extra = td.extra.clone();
    for field in TASK_DEFINITION_READ_ONLY {
        extra.remove(field);
    }
    unsupported(&extra, &TASK_EXTRAS, "task definition")?;
    for field in ["volumes", "placementConstraints"] {
        if td.extra.get(field).is_some_and(|v| !is_empty(v)) {
            return Err(invalid(format!(
                "task definition field {field} is not supported by amagent's AWS adapter yet"
            )));
        }
    }
    let mut req = client.register_task_definition().family(&td.family);
    if let Some(r) = &td.task_role_arn {
        req = req.task_role_arn(r);
    }
    if let Some(r) = &td.execution_role_arn {
        req = req.execution_role_arn(r);
    }
    if let Some(m) = &td.network_mode {
        req = req.network_mode(ecs::NetworkMode::from(m.as_str()));
    }
    for c in &td.requires_compatibilities {
        req = req.requires_compatibilities(ecs::Compatibility::from(c.as_str()));
    }
    if let Some(cpu) = &td.cpu {
        req = req.cpu(cpu);
    }
    if let Some(mem) = &td.memory {
        req = req.memory(mem);
    }
    if let Some(p) = &td.runtime_platform {
        req = req.runtime_platform(
            ecs::RuntimePlatform::builder()
                .set_cpu_architecture(
                    p.cpu_architecture
                        .as_deref()
                        .map(ecs::CpuArchitecture::from),
                )
                .set_operating_system_family(
                    p.operating_system_family
                        .as_deref()
                        .map(ecs::OsFamily::from),
                )
                .build(),
        );
    }
    if let Some(size) = td
        .extra
        .get("ephemeralStorage")
        .and_then(|v| int(v.get("sizeInGiB")))
    {
        req = req.ephemeral_storage(ecs::EphemeralStorage::builder().size_in_gib(size).build());
    }
    if let Some(m) = td.extra.get("pidMode").and_then(Value::as_str) {
        req = req.pid_mode(ecs::PidMode::from(m));
    }
    if let Some(m) = td.extra.get("ipcMode").and_then(Value::as_str) {
        req = req.ipc_mode(ecs::IpcMode::from(m));
    }
    for c in &td.container_definitions {
        req = req.container_definitions(container_to_sdk(c)?);
    }
    Ok(req)
}

fn container_to_sdk(c: &ContainerDefinition) -> Result<ecs::ContainerDefinition, CloudError> {
    unsupported(
        &c.extra,
        &CONTAINER_EXTRAS,
        &format!("container `{}`", c.name),
    )?;
    let x = &c.extra;
    let mut b = ecs::ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image);
    for kv in &c.environment {
        b = b.environment(
            ecs::KeyValuePair::builder()
                .name(&kv.name)
                .value(&kv.value)
                .build(),
        );
    }
    for s in &c.secrets {
        b = b.secrets(
            ecs::Secret::builder()
                .name(&s.name)
                .value_from(&s.value_from)
                .build()
                .map_err(|e| invalid(e.to_string()))?,
        );
    }
    for p in &c.port_mappings {
        unsupported(&p.extra, &PORT_EXTRAS, "portMappings")?;
        b = b.port_mappings(
            ecs::PortMapping::builder()
                .container_port(p.container_port.into())
                .set_host_port(int(p.extra.get("hostPort")))
                .set_protocol(
                    p.extra
                        .get("protocol")
                        .and_then(Value::as_str)
                        .map(ecs::TransportProtocol::from),
                )
                .set_name(
                    p.extra
                        .get("name")
                        .and_then(Value::as_str)
                        .map(String::from),
                )
                .set_app_protocol(
                    p.extra
                        .get("appProtocol")
                        .and_then(Value::as_str)
                        .map(ecs::ApplicationProtocol::from),
                )
                .build(),
        );
    }
    if let Some(e) = x.get("essential").and_then(Value::as_bool) {
        b = b.essential(e);
    }
    if let Some(log) = x.get("logConfiguration") {
        let mut lb = ecs::LogConfiguration::builder().log_driver(ecs::LogDriver::from(
            log["logDriver"].as_str().unwrap_or("awslogs"),
        ));
        if let Some(opts) = log.get("options").and_then(Value::as_object) {
            for (k, v) in opts {
                lb = lb.options(k, v.as_str().unwrap_or_default());
            }
        }
        b = b.log_configuration(lb.build().map_err(|e| invalid(e.to_string()))?);
    }
    if let Some(hc) = x.get("healthCheck") {
        b = b.health_check(
            ecs::HealthCheck::builder()
                .set_command(Some(str_list(hc.get("command"))))
                .set_interval(int(hc.get("interval")))
                .set_timeout(int(hc.get("timeout")))
                .set_retries(int(hc.get("retries")))
                .set_start_period(int(hc.get("startPeriod")))
                .build()
                .map_err(|e| invalid(e.to_string()))?,
        );
    }
    for u in x
        .get("ulimits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        b = b.ulimits(
            ecs::Ulimit::builder()
                .name(ecs::UlimitName::from(
                    u["name"].as_str().unwrap_or_default(),
                ))
                .soft_limit(int(u.get("softLimit")).unwrap_or_default())
                .hard_limit(int(u.get("hardLimit")).unwrap_or_default())
                .build()
                .map_err(|e| invalid(e.to_string()))?,
        );
    }
    b = b
        .set_stop_timeout(int(x.get("stopTimeout")))
        .set_start_timeout(int(x.get("startTimeout")))
        .set_memory(int(x.get("memory")))
        .set_memory_reservation(int(x.get("memoryReservation")))
        .set_working_directory(
            x.get("workingDirectory")
                .and_then(Value::as_str)
                .map(String::from),
        )
        .set_user(x.get("user").and_then(Value::as_str).map(String::from))
        .set_readonly_root_filesystem(x.get("readonlyRootFilesystem").and_then(Value::as_bool));
    if let Some(cpu) = int(x.get("cpu")) {
        b = b.cpu(cpu);
    }
    if x.contains_key("command") {
        b = b.set_command(Some(str_list(x.get("command"))));
    }
    if x.contains_key("entryPoint") {
        b = b.set_entry_point(Some(str_list(x.get("entryPoint"))));
    }
    Ok(b.build())
}

/// The SDK's task definition → ours.
pub fn from_sdk(td: &ecs::TaskDefinition) -> TaskDefinition {
    let mut extra = BTreeMap::new();
    if let Some(status) = td.status() {
        extra.insert("status".to_string(), json!(status.as_str()));
    }
    if let Some(e) = td.ephemeral_storage() {
        extra.insert(
            "ephemeralStorage".into(),
            json!({ "sizeInGiB": e.size_in_gib() }),
        );
    }
    if let Some(m) = td.pid_mode() {
        extra.insert("pidMode".into(), json!(m.as_str()));
    }
    if let Some(m) = td.ipc_mode() {
        extra.insert("ipcMode".into(), json!(m.as_str()));
    }
    // Fields this adapter does not map yet: marked present, so that registering a render of
    // this definition fails by name instead of silently dropping them.
    let present = |extra: &mut BTreeMap<String, Value>, field: &str, here: bool| {
        if here {
            extra.insert(field.to_string(), json!("<present: not mapped by amagent>"));
        }
    };
    present(&mut extra, "volumes", !td.volumes().is_empty());
    present(
        &mut extra,
        "placementConstraints",
        !td.placement_constraints().is_empty(),
    );
    present(
        &mut extra,
        "proxyConfiguration",
        td.proxy_configuration().is_some(),
    );
    present(
        &mut extra,
        "inferenceAccelerators",
        !td.inference_accelerators().is_empty(),
    );
    TaskDefinition {
        arn: td.task_definition_arn().unwrap_or_default().to_string(),
        family: td.family().unwrap_or_default().to_string(),
        revision: td.revision() as u32,
        task_role_arn: td.task_role_arn().map(String::from),
        execution_role_arn: td.execution_role_arn().map(String::from),
        network_mode: td.network_mode().map(|m| m.as_str().to_string()),
        requires_compatibilities: td
            .requires_compatibilities()
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        cpu: td.cpu().map(String::from),
        memory: td.memory().map(String::from),
        runtime_platform: td.runtime_platform().map(|p| RuntimePlatform {
            cpu_architecture: p.cpu_architecture().map(|a| a.as_str().to_string()),
            operating_system_family: p.operating_system_family().map(|o| o.as_str().to_string()),
        }),
        container_definitions: td
            .container_definitions()
            .iter()
            .map(container_from_sdk)
            .collect(),
        extra,
    }
}

fn container_from_sdk(c: &ecs::ContainerDefinition) -> ContainerDefinition {
    let mut x = BTreeMap::new();
    if let Some(e) = c.essential() {
        x.insert("essential".to_string(), json!(e));
    }
    if let Some(log) = c.log_configuration() {
        x.insert(
            "logConfiguration".into(),
            json!({ "logDriver": log.log_driver().as_str(), "options": log.options() }),
        );
    }
    if let Some(hc) = c.health_check() {
        x.insert(
            "healthCheck".into(),
            json!({ "command": hc.command(), "interval": hc.interval(), "timeout": hc.timeout(),
                    "retries": hc.retries(), "startPeriod": hc.start_period() }),
        );
    }
    if !c.ulimits().is_empty() {
        x.insert(
            "ulimits".into(),
            Value::Array(
                c.ulimits()
                    .iter()
                    .map(|u| json!({ "name": u.name().as_str(), "softLimit": u.soft_limit(), "hardLimit": u.hard_limit() }))
                    .collect(),
            ),
        );
    }
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            x.insert(k.to_string(), v);
        }
    };
    put("stopTimeout", json!(c.stop_timeout()));
    put("startTimeout", json!(c.start_timeout()));
    put("memory", json!(c.memory()));
    put("memoryReservation", json!(c.memory_reservation()));
    put("workingDirectory", json!(c.working_directory()));
    put("user", json!(c.user()));
    put(
        "readonlyRootFilesystem",
        json!(c.readonly_root_filesystem()),
    );
    if c.cpu() != 0 {
        put("cpu", json!(c.cpu()));
    }
    if !c.command().is_empty() {
        put("command", json!(c.command()));
    }
    if !c.entry_point().is_empty() {
        put("entryPoint", json!(c.entry_point()));
    }
    // Not mapped yet: marked present so that registration refuses instead of dropping them.
    let unmapped = [
        ("mountPoints", !c.mount_points().is_empty()),
        ("volumesFrom", !c.volumes_from().is_empty()),
        ("dependsOn", !c.depends_on().is_empty()),
        (
            "dockerLabels",
            c.docker_labels().is_some_and(|l| !l.is_empty()),
        ),
        ("environmentFiles", !c.environment_files().is_empty()),
        ("linuxParameters", c.linux_parameters().is_some()),
        (
            "repositoryCredentials",
            c.repository_credentials().is_some(),
        ),
        (
            "firelensConfiguration",
            c.firelens_configuration().is_some(),
        ),
        ("systemControls", !c.system_controls().is_empty()),
        (
            "resourceRequirements",
            !c.resource_requirements().is_empty(),
        ),
        ("privileged", c.privileged() == Some(true)),
        ("links", !c.links().is_empty()),
        ("hostname", c.hostname().is_some()),
        ("dnsServers", !c.dns_servers().is_empty()),
        ("extraHosts", !c.extra_hosts().is_empty()),
        ("restartPolicy", c.restart_policy().is_some()),
        (
            "logConfiguration.secretOptions",
            c.log_configuration()
                .is_some_and(|l| !l.secret_options().is_empty()),
        ),
    ];
    for (field, here) in unmapped {
        if here {
            put(field, json!("<present: not mapped by amagent>"));
        }
    }
    ContainerDefinition {
        name: c.name().unwrap_or_default().to_string(),
        image: c.image().unwrap_or_default().to_string(),
        environment: c
            .environment()
            .iter()
            .map(|kv| KeyValue {
                name: kv.name().unwrap_or_default().into(),
                value: kv.value().unwrap_or_default().into(),
            })
            .collect(),
        secrets: c
            .secrets()
            .iter()
            .map(|s| SecretRef {
                name: s.name().into(),
                value_from: s.value_from().into(),
            })
            .collect(),
        port_mappings: c
            .port_mappings()
            .iter()
            .map(|p| {
                let mut extra = BTreeMap::new();
                if let Some(h) = p.host_port() {
                    extra.insert("hostPort".to_string(), json!(h));
                }
                if let Some(pr) = p.protocol() {
                    extra.insert("protocol".into(), json!(pr.as_str()));
                }
                if let Some(n) = p.name() {
                    extra.insert("name".into(), json!(n));
                }
                if let Some(a) = p.app_protocol() {
                    extra.insert("appProtocol".into(), json!(a.as_str()));
                }
                PortMapping {
                    container_port: p.container_port().unwrap_or_default() as u16,
                    extra,
                }
            })
            .collect(),
        extra: x,
    }
}

/// SDK time → chrono.
pub fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}
