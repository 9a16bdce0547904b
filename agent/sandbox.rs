//! A simulated AWS account shaped like an environment spec: the cluster, services running a
//! current revision, target groups, the RDS instance, ECR repositories with a history of
//! images, and the SSM parameter names. `--sim` commands and the demo run against it.
//! Knows config (to shape the world) and the simulator; nothing else depends on it.

use crate::clock::Clock;
use crate::cloud::sim::{FaultScript, ServiceSpec, Simulator, TargetGroupSpec};
use crate::cloud::types::{
    CircuitBreaker, ContainerDefinition, KeyValue, PortMapping, RuntimePlatform, SecretRef,
    TaskDefinition,
};
use crate::config::secret_ref::{self, SecretSource};
use crate::config::{Environment, Pipeline, Service};
use chrono::{DateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Calendar time the simulated world starts at (fixed: runs are reproducible).
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

/// `base` with its first service copied `n` times as `svc0`…, each with its own ECS, ECR,
/// target group and SSM names — for fleet tests and benchmarks.
pub fn fleet(base: &Environment, n: usize) -> Environment {
    let mut env = base.clone();
    let template = base.services[0].clone();
    let env_name = base.name.clone();
    env.services = (0..n)
        .map(|i| {
            let mut s = template.clone();
            s.name = format!("svc{i}");
            s.ecs.service = format!("aussie-markets-svc{i}-{env_name}");
            s.ecs.task_family = format!("aussie-markets-svc{i}-task");
            s.image.repository = format!("aussie-markets/svc{i}");
            if let Some(lb) = s.load_balancer.as_mut() {
                lb.target_group = format!("aussie-markets-svc{i}-{env_name}");
            }
            let from = format!("/{}/", template.name);
            s.secrets = s
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), v.replace(&from, &format!("/svc{i}/"))))
                .collect();
            s
        })
        .collect();
    env
}

pub struct Sandbox {
    pub sim: Simulator,
    pub clock: Clock,
}

/// `sha256:<hex>` derived from a name, so the same tag always has the same digest.
pub fn fake_digest(seed: &str) -> String {
    let hash = Sha256::digest(seed.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Older releases in each repository, newest last, with their age in days.
const HISTORY: [(&str, i64); 12] = [
    ("v1.0.0", 60),
    ("v1.0.1", 55),
    ("v1.1.0", 50),
    ("v1.1.1", 45),
    ("v1.2.0", 40),
    ("v1.2.1", 35),
    ("v1.2.2", 30),
    ("v1.2.3", 25),
    ("v1.2.4", 20),
    ("v1.2.5", 15),
    ("v1.2.6", 10),
    ("v1.2.7", 5),
];

impl Sandbox {
    /// Must be called inside a tokio runtime (the clock reads tokio time). The world's calendar
    /// starts at [`epoch`], so runs are reproducible.
    pub fn for_environment(env: &Environment, faults: FaultScript) -> Sandbox {
        Self::for_environment_at(env, faults, epoch())
    }

    /// The same, with the calendar starting at `start` (the CLI uses the real time, so that
    /// journal entries of successive runs are in order).
    pub fn for_environment_at(
        env: &Environment,
        faults: FaultScript,
        start: DateTime<Utc>,
    ) -> Sandbox {
        Self::for_environments(std::slice::from_ref(env), faults, start)
    }

    /// One simulated account holding every environment given (the agent watches them all).
    pub fn for_environments(
        envs: &[Environment],
        faults: FaultScript,
        start: DateTime<Utc>,
    ) -> Sandbox {
        let clock = Clock::starting_at(start);
        let sim = Simulator::new(clock.clone(), faults);
        let sandbox = Sandbox { sim, clock };
        for env in envs {
            sandbox.populate(env);
        }
        sandbox
    }

    /// What the pipelines' CodeBuild builders need in the account: the source buckets, and
    /// the projects (unless the pipeline has the agent create its project).
    pub fn add_build_projects<'a>(&self, pipelines: impl IntoIterator<Item = &'a Pipeline>) {
        for p in pipelines {
            if let Some(cb) = &p.build.codebuild {
                self.sim.add_bucket(&cb.source_bucket);
                if cb.create.is_none() {
                    self.sim.add_build_project(&cb.project);
                }
            }
        }
    }

    fn populate(&self, env: &Environment) {
        // Each environment's resources in its own account (and ARNs): multi-account set-ups.
        self.sim.set_up_in_account(Some(&env.aws.account_id));
        if let Some(db) = &env.database {
            self.sim.add_db_instance(&db.instance_id);
        }
        let mut repositories = BTreeMap::new();
        for s in &env.services {
            repositories.entry(s.image.repository.clone()).or_insert(s);
        }
        for repository in repositories.keys() {
            self.seed_history(repository);
        }
        for s in &env.services {
            self.add_service(env, s);
        }
        self.sim.set_up_in_account(None);
    }

    /// A repository with its older releases and two untagged leftovers.
    fn seed_history(&self, repository: &str) {
        let now = self.clock.now();
        self.sim.add_repository(repository);
        for (tag, days) in HISTORY {
            self.sim.push_image(
                repository,
                &fake_digest(&format!("{repository}:{tag}")),
                &[tag],
                now - chrono::Duration::days(days),
            );
        }
        // Untagged leftovers of re-tagged builds.
        for (n, days) in [(1, 3), (2, 2)] {
            self.sim.push_image(
                repository,
                &fake_digest(&format!("{repository}:untagged-{n}")),
                &[],
                now - chrono::Duration::days(days),
            );
        }
    }

    /// The service running its current release, with its parameters and target group.
    fn add_service(&self, env: &Environment, s: &Service) {
        let now = self.clock.now();
        let tag = &seeded_tag(s);
        let digest = fake_digest(&format!("{}:{}", s.image.repository, s.source.reference));
        if !self
            .sim
            .images(&s.image.repository)
            .iter()
            .any(|i| i.digest == digest)
        {
            // The running release: pushed three weeks ago, older than the keep-last window.
            self.sim.push_image(
                &s.image.repository,
                &digest,
                &[tag],
                now - chrono::Duration::days(21),
            );
        }
        for reference in s.secrets.values() {
            match secret_ref::parse(reference) {
                Ok(SecretSource::SecretsManager(r)) => self.sim.add_secret_arn(
                    &r.secret_arn,
                    &[(
                        r.version_id.as_deref().unwrap_or(""),
                        r.version_stage.as_deref().unwrap_or(""),
                    )],
                ),
                _ => self.sim.add_parameter(reference),
            }
        }
        // The alarms the gate watches exist (OK) in the account.
        for alarm in &s.deploy.alarms {
            self.sim.add_alarm(alarm);
        }
        for lb in s.target_groups() {
            self.sim.add_target_group(TargetGroupSpec::new(
                &lb.target_group,
                lb.container_port,
                &lb.health_check_path,
            ));
        }
        self.sim.add_service(ServiceSpec {
            cluster: env.ecs.cluster.clone(),
            name: s.ecs.service.clone(),
            task_definition: self.initial_task_definition(
                env,
                s,
                &self.image_ref(&s.image.repository, &digest),
            ),
            // An autoscaled service: the sandbox starts it at one task.
            desired_count: s.desired_count.fixed().unwrap_or(1),
            minimum_healthy_percent: s.deploy.minimum_healthy_percent,
            maximum_percent: s.deploy.maximum_percent,
            circuit_breaker: Some(CircuitBreaker {
                enable: true,
                rollback: false,
            }),
            target_group: s.target_groups().first().map(|lb| lb.target_group.clone()),
            container_name: s.ecs.container.clone(),
            container_port: container_port(s),
        });
        for lb in s.target_groups().iter().skip(1) {
            self.sim.add_service_target_group(
                &env.ecs.cluster,
                &s.ecs.service,
                &lb.target_group,
                &s.ecs.container,
                lb.container_port,
            );
        }
    }

    /// `host/repository@digest`, the host of the registry of the account holding the
    /// repository.
    pub fn image_ref(&self, repository: &str, digest: &str) -> String {
        let host = self.sim.registry_host_of_repository(repository);
        format!("{host}/{repository}@{digest}")
    }

    /// The full reference for what a user passed to `--image`: a digest in the repository, a
    /// full reference, or a tag. A tag the repository does not have is taken as a freshly
    /// pushed build (the simulator stands in for the build stage).
    pub fn resolve_image(&self, service: &Service, image: &str) -> Result<String, String> {
        let repository = &service.image.repository;
        if image.contains('/') {
            return Ok(image.to_string());
        }
        let images = self.sim.images(repository);
        if image.starts_with("sha256:") {
            return images
                .iter()
                .find(|i| i.digest == image)
                .map(|i| self.image_ref(repository, &i.digest))
                .ok_or_else(|| format!("ECR repository {repository} has no image {image}"));
        }
        if let Some(found) = images.iter().find(|i| i.tags.iter().any(|t| t == image)) {
            return Ok(self.image_ref(repository, &found.digest));
        }
        let digest = fake_digest(&format!("{repository}:{image}"));
        self.sim
            .push_image(repository, &digest, &[image], self.clock.now());
        Ok(self.image_ref(repository, &digest))
    }

    /// A task definition like the customer's (fixture): awsvpc/Fargate, roles, awslogs, SSM
    /// secrets, a container health check — so that renders keep something real.
    fn initial_task_definition(
        &self,
        env: &Environment,
        s: &Service,
        image: &str,
    ) -> TaskDefinition {
        let account = &env.aws.account_id;
        TaskDefinition {
            arn: String::new(),
            family: s.ecs.task_family.clone(),
            revision: 42,
            task_role_arn: Some(format!(
                "arn:aws:iam::{account}:role/{}-task",
                s.ecs.service
            )),
            execution_role_arn: Some(format!(
                "arn:aws:iam::{account}:role/{}-execution",
                s.ecs.service
            )),
            network_mode: Some("awsvpc".into()),
            requires_compatibilities: vec!["FARGATE".into()],
            cpu: Some(s.cpu.to_string()),
            memory: Some(s.memory.to_string()),
            runtime_platform: Some(RuntimePlatform {
                cpu_architecture: Some("X86_64".into()),
                operating_system_family: Some("LINUX".into()),
                extra: BTreeMap::new(),
            }),
            container_definitions: vec![self.container_definition(env, s, image)],
            extra: BTreeMap::new(),
        }
    }

    /// The service's one container: its environment, SSM secrets, port, logs and health check.
    fn container_definition(
        &self,
        env: &Environment,
        s: &Service,
        image: &str,
    ) -> ContainerDefinition {
        let mut port_extra = BTreeMap::new();
        port_extra.insert("protocol".into(), serde_json::json!("tcp"));
        ContainerDefinition {
            name: s.ecs.container.clone(),
            image: image.to_string(),
            environment: s
                .env
                .iter()
                .map(|(k, v)| KeyValue {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            secrets: s
                .secrets
                .iter()
                .map(|(k, p)| SecretRef {
                    name: k.clone(),
                    value_from: if secret_ref::is_secrets_manager(p) {
                        p.clone()
                    } else {
                        self.sim.cloud().ssm.arn(p)
                    },
                })
                .collect(),
            port_mappings: vec![PortMapping {
                container_port: Some(container_port(s)),
                extra: port_extra,
            }],
            extra: container_extra(&env.aws.region, s),
        }
    }
}

/// The tag the running release is seeded under: its ref, unless the ref is a commit SHA. A
/// build takes an image listed under its commit's SHA as already pushed, and a seeded image is
/// in no registry; so a SHA ref is seeded under a name no build can produce (git names cannot
/// hold `..`).
fn seeded_tag(s: &Service) -> String {
    let reference = &s.source.reference;
    if s.source.is_commit() {
        format!("running..{}", &reference[..12])
    } else {
        reference.clone()
    }
}

/// The container port the service's target group sends to (3000 without a load balancer).
fn container_port(s: &Service) -> u16 {
    s.target_groups()
        .first()
        .map(|lb| lb.container_port)
        .unwrap_or(3000)
}

/// `essential`, awslogs and (behind a load balancer) the container health check.
fn container_extra(region: &str, s: &Service) -> BTreeMap<String, serde_json::Value> {
    let mut extra = BTreeMap::new();
    extra.insert("essential".into(), serde_json::json!(true));
    extra.insert(
        "logConfiguration".into(),
        serde_json::json!({
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": format!("/aws/ecs/{}", s.ecs.service),
                "awslogs-region": region,
                "awslogs-stream-prefix": s.ecs.container,
            }
        }),
    );
    if let Some(lb) = s.target_groups().first() {
        extra.insert(
            "healthCheck".into(),
            serde_json::json!({
                "command": ["CMD-SHELL", format!("wget -qO- http://localhost:{}{} || exit 1", lb.container_port, lb.health_check_path)],
                "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 10
            }),
        );
    }
    extra
}
