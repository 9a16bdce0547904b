//! Live services → the environment spec that describes them as they run. Pure: everything it
//! needs was read by the shell (`read.rs`).

use super::image::{account_of, ecr_host, release_tag, running_digest};
use super::naming::{Naming, names};
use super::{Adopted, InitError, LiveService, Request, ServiceNote};
use crate::config::secret_ref;
use crate::config::validate::{looks_secret_name, url_has_password};
use crate::config::{
    API_VERSION, Aws, Build, DeploySettings, Ecr, Ecs, Environment, Image, Lifecycle, LoadBalancer,
    Pipeline, Service, ServiceEcs, Source, Ssm, StageKind,
};
use std::collections::BTreeMap;

/// Written where init cannot know the value: the header says to replace it.
pub const PLACEHOLDER: &str = "REPLACE-ME";

/// The environment (and pipeline stubs) for `live`, in the order of `request.services`.
pub fn adopt(request: &Request, live: &[LiveService]) -> Result<Adopted, InitError> {
    let account = live
        .iter()
        .find_map(|l| account_of(&l.task_definition.arn))
        .ok_or_else(|| InitError::Unreadable {
            detail: "no task definition ARN names an account".into(),
        })?;
    let host = ecr_host(&account, &request.region);
    let parameters: Vec<Vec<String>> = live
        .iter()
        .map(|l| ssm_parameters(l, &request.region, &account))
        .collect::<Result<_, _>>()?;
    let namings: Vec<Naming<'_>> = live
        .iter()
        .zip(&parameters)
        .map(|(l, p)| Naming {
            ecs_service: &l.service.service_name,
            candidates: vec![
                l.container.clone(),
                l.image
                    .repository
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_string(),
                l.service.service_name.clone(),
            ],
            parameters: p.iter().map(String::as_str).collect(),
        })
        .collect();
    let (service_names, ssm_naming) = names(&request.env, &namings)?;
    let mut services = Vec::new();
    let mut pipelines = Vec::new();
    let mut notes = Vec::new();
    for ((l, name), secrets) in live.iter().zip(service_names).zip(parameters) {
        let pipeline = if request.pipelines.contains(&name) {
            name.clone()
        } else {
            pipelines.push(pipeline_stub(&name, l));
            name.clone()
        };
        let (service, note) = service(l, name, pipeline, secrets, &host)?;
        services.push(service);
        notes.push(note);
    }
    let environment = Environment {
        api_version: API_VERSION.into(),
        kind: "Environment".into(),
        name: request.env.clone(),
        aws: Aws {
            region: request.region.clone(),
            account_id: account,
            role_arn: None,
            external_id: None,
        },
        ecs: Ecs {
            cluster: request.cluster.clone(),
        },
        database: None,
        ecr: Ecr {
            // Generous until someone decides: the agent deletes images by these rules.
            lifecycle: Lifecycle {
                keep_last_tagged: 30,
                expire_untagged_after_days: 14,
            },
        },
        ssm: Ssm { naming: ssm_naming },
        promotion: None,
        self_heal: false,
        github: None,
        notify: Vec::new(),
        services,
    };
    Ok(Adopted {
        environment,
        pipelines,
        notes,
    })
}

fn service(
    l: &LiveService,
    name: String,
    pipeline: String,
    parameters: Vec<String>,
    host: &str,
) -> Result<(Service, ServiceNote), InitError> {
    let td = &l.task_definition;
    let container = td
        .container(&l.container)
        .expect("chosen from this definition");
    let size = |v: &Option<String>| v.as_deref().and_then(|v| v.trim().parse::<u32>().ok());
    let (Some(cpu), Some(memory)) = (size(&td.cpu), size(&td.memory)) else {
        return Err(InitError::NoTaskSize {
            service: l.service.service_name.clone(),
            task_definition: td.family_revision(),
        });
    };
    let env = plain_environment(l)?;
    let secrets = secrets(l, parameters);
    let tag = release_tag(&l.image, &l.images);
    let service = Service {
        name,
        pipeline,
        migrations: false,
        ecs: ServiceEcs {
            service: l.service.service_name.clone(),
            task_family: td.family.clone(),
            container: container.name.clone(),
        },
        image: Image {
            repository: l.image.repository.clone(),
        },
        source: Source {
            url: format!(
                "https://git.example.invalid/{PLACEHOLDER}/{}.git",
                l.image.repository.rsplit('/').next().unwrap_or("app")
            ),
            reference: tag.clone().unwrap_or_else(|| PLACEHOLDER.into()),
        },
        cpu,
        memory,
        desired_count: crate::config::desired_count::DesiredCount::Tasks(l.service.desired_count),
        env,
        secrets,
        load_balancer: None,
        load_balancers: Vec::new(),
        deploy: DeploySettings {
            minimum_healthy_percent: l.service.deployment_configuration.minimum_healthy_percent,
            maximum_percent: l.service.deployment_configuration.maximum_percent,
            health_check_grace_period_seconds: l.grace_period,
            ..DeploySettings::default()
        },
        pre_deploy: None,
    };
    let mut service = service;
    // One group is written as `loadBalancer`; several as `loadBalancers`, every one gated.
    match load_balancers(l) {
        groups if groups.len() == 1 => service.load_balancer = groups.into_iter().next(),
        groups => service.load_balancers = groups,
    }
    let note = note(l, host, tag);
    Ok((service, note))
}

/// The container's plain variables; one that looks like a credential is refused (never
/// written into a file bound for git, never echoed).
fn plain_environment(l: &LiveService) -> Result<BTreeMap<String, String>, InitError> {
    let container = l.task_definition.container(&l.container).expect("chosen");
    let mut env = BTreeMap::new();
    for kv in &container.environment {
        if url_has_password(&kv.value) || (looks_secret_name(&kv.name) && !kv.value.is_empty()) {
            return Err(InitError::CredentialInEnvironment {
                service: l.service.service_name.clone(),
                container: container.name.clone(),
                variable: kv.name.clone(),
            });
        }
        env.insert(kv.name.clone(), kv.value.clone());
    }
    Ok(env)
}

/// Variable → reference: Secrets Manager ARNs as they are, SSM ones as the names
/// `ssm_parameters` found (in the same order).
fn secrets(l: &LiveService, parameters: Vec<String>) -> BTreeMap<String, String> {
    let container = l.task_definition.container(&l.container).expect("chosen");
    let mut parameters = parameters.into_iter();
    container
        .secrets
        .iter()
        .map(|s| {
            let value = if secret_ref::is_secrets_manager(&s.value_from) {
                s.value_from.clone()
            } else {
                parameters.next().expect("one name per SSM secret")
            };
            (s.name.clone(), value)
        })
        .collect()
}

/// What the header says about the service: the running image (by digest when known), its
/// tag, and what the spec does not hold.
fn note(l: &LiveService, host: &str, tag: Option<String>) -> ServiceNote {
    let pinned = running_digest(&l.image, &l.images)
        .map(|d| format!("@{d}"))
        .or_else(|| l.image.tag.as_ref().map(|t| format!(":{t}")))
        .unwrap_or_default();
    ServiceNote {
        service: l.service.service_name.clone(),
        image: format!("{host}/{}{pinned}", l.image.repository),
        tag,
    }
}

/// Every target group the container is registered in, in the service's order, with its
/// container port and the group's own health check path.
fn load_balancers(l: &LiveService) -> Vec<LoadBalancer> {
    l.target_groups
        .iter()
        .filter_map(|group| {
            let port = l
                .service
                .load_balancers
                .iter()
                .find(|lb| lb.target_group_arn == group.arn && lb.container_name == l.container)
                .map(|lb| lb.container_port)?;
            Some(LoadBalancer {
                target_group: group.name.clone(),
                container_port: port,
                health_check_path: group.health_check_path.clone(),
            })
        })
        .collect()
}

/// The SSM parameter names the container's secrets use (Secrets Manager ARNs are kept as
/// they are, elsewhere). An ARN in another account or region cannot be written as a name.
fn ssm_parameters(l: &LiveService, region: &str, account: &str) -> Result<Vec<String>, InitError> {
    let container = l.task_definition.container(&l.container).expect("chosen");
    let mut names = Vec::new();
    for s in &container.secrets {
        if secret_ref::is_secrets_manager(&s.value_from) {
            continue;
        }
        let own = format!("arn:aws:ssm:{region}:{account}:parameter");
        let name = match s.value_from.strip_prefix(&own) {
            Some(name) => name.to_string(),
            None if !secret_ref::is_arn(&s.value_from) => s.value_from.clone(),
            None => {
                return Err(InitError::ForeignSecret {
                    service: l.service.service_name.clone(),
                    variable: s.name.clone(),
                    reference: s.value_from.clone(),
                });
            }
        };
        names.push(name);
    }
    Ok(names)
}

/// A pipeline for a service none fits: the defaults, on the task's CPU architecture. Build and
/// deploy only: snapshot needs a `database`, and lifecycle deletes images — both are for a
/// person to turn on.
fn pipeline_stub(name: &str, l: &LiveService) -> Pipeline {
    let arm = l
        .task_definition
        .runtime_platform
        .as_ref()
        .and_then(|p| p.cpu_architecture.as_deref())
        == Some("ARM64");
    Pipeline {
        api_version: API_VERSION.into(),
        kind: "Pipeline".into(),
        name: name.to_string(),
        build: Build {
            platform: if arm { "linux/arm64" } else { "linux/amd64" }.into(),
            ..Build::default()
        },
        stages: vec![StageKind::Build, StageKind::Deploy],
    }
}
