//! The in-process cloud simulator: every port over one simulated AWS account, on tokio time.
//!
//! - `world`: the state and virtual time (run forward lazily, event by event, on each call);
//! - `ecs`: task definitions, services, rolling deployments, circuit breaker, tasks, targets;
//! - `elb`, `rds`, `ecr`, `s3`, `ssm`: the other ports;
//! - `faults`: fault scripts (slow, crashing or unhealthy images, throttling, access denied,
//!   failing snapshots).
//!
//! On a runtime with paused time (`#[tokio::test(start_paused = true)]`) the agent's sleeps
//! auto-advance the clock, so a 15-minute rollout runs in milliseconds and the same script and
//! calls always give the same world. Behaviour follows `shared/aws-behaviour.md`.

mod codebuild;
mod codebuild_spec;
mod codebuild_world;
mod ecr;
mod ecs;
mod elb;
pub mod faults;
mod gates;
mod rate_limits;
mod rds;
mod registration;
mod s3;
mod secrets;
mod shapes;
mod ssm;
mod world;

#[cfg(test)]
mod tests;

pub use codebuild::{BuildRecord, BuildRule, SimBuilds, build_digest};
pub use ecr::{REGISTRY_ENV, SimEcr, registry_auth};
pub use ecs::SimEcs;
pub use elb::SimElb;
pub use faults::{AccessDeniedRule, FaultScript, ImageRule, ThrottleRule};
pub use gates::{AlarmRule, OneOffRule, SimAlarms, SimLogs};
pub use rate_limits::{RateLimit, aws_read_limits};
pub use rds::{MANUAL_SNAPSHOT_QUOTA, SimRds, validate_snapshot_id};
pub use s3::{SimS3, etag_of};
pub use ssm::SimSsm;

use crate::cloud::Cloud;
use crate::cloud::ports::CloudResult;
use crate::cloud::types::*;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use world::{Owned, Service, SimDeployment, SimTargetGroup, World};

/// A simulated AWS account. Cheap to clone: clones share one world.
#[derive(Clone)]
pub struct Simulator {
    world: Arc<Mutex<World>>,
}

/// An ALB target group to set up (`ip` targets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroupSpec {
    pub name: String,
    pub port: u16,
    pub health_check_path: String,
    pub interval_seconds: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub deregistration_delay_seconds: u32,
}

impl TargetGroupSpec {
    /// With AWS defaults: interval 30 s, healthy 5, unhealthy 2, deregistration delay 300 s.
    pub fn new(name: &str, port: u16, health_check_path: &str) -> Self {
        TargetGroupSpec {
            name: name.into(),
            port,
            health_check_path: health_check_path.into(),
            interval_seconds: 30,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            deregistration_delay_seconds: 300,
        }
    }
}

/// An ECS service to set up, running steadily.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    pub cluster: String,
    pub name: String,
    pub task_definition: TaskDefinition,
    pub desired_count: u32,
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Target group *name* (set up first with [`Simulator::add_target_group`]).
    pub target_group: Option<String>,
    pub container_name: String,
    pub container_port: u16,
}

impl Simulator {
    /// An empty account; the fault script's seed drives every random choice.
    pub fn new(clock: crate::clock::Clock, faults: FaultScript) -> Self {
        Simulator {
            world: Arc::new(Mutex::new(World::new(&clock, faults))),
        }
    }

    /// Every port, over this simulator's world.
    pub fn cloud(&self) -> Cloud {
        Cloud {
            ecs: Arc::new(SimEcs(self.clone())),
            elb: Arc::new(SimElb(self.clone())),
            rds: Arc::new(SimRds(self.clone())),
            ecr: Arc::new(SimEcr(self.clone(), None)),
            s3: Arc::new(SimS3(self.clone())),
            ssm: Arc::new(SimSsm(self.clone())),
            logs: Arc::new(SimLogs(self.clone())),
            alarms: Arc::new(SimAlarms(self.clone())),
            builds: Arc::new(SimBuilds(self.clone())),
        }
    }

    /// Every port as `account` sees them: the same world, but ECR is that account's own
    /// registry (its host, its login, only its repositories) — what an environment in that
    /// account reaches with its own credentials.
    pub fn cloud_in(&self, account: &str) -> Cloud {
        Cloud {
            ecr: Arc::new(SimEcr(self.clone(), Some(account.to_string()))),
            ..self.cloud()
        }
    }

    /// The ECR host of the account that holds `repository` (set up in it, else the
    /// simulator's own).
    pub fn registry_host_of_repository(&self, repository: &str) -> String {
        let w = self.lock();
        w.registry_host_of(w.account_of(Owned::Repository, repository))
    }

    /// AWS operation name → calls made through the ports since the last reset, including
    /// throttled and failed ones.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.lock().calls.clone()
    }

    pub fn reset_calls(&self) {
        let mut w = self.lock();
        w.calls.clear();
        w.throttled.clear();
    }

    /// Calls answered ThrottlingException, per operation, since the last reset.
    pub fn throttled(&self) -> BTreeMap<String, u64> {
        self.lock().throttled.clone()
    }

    /// Account and region used in ARNs (default 123456789012, ap-southeast-2). Set before
    /// setting anything up.
    pub fn set_account_region(&self, account: &str, region: &str) {
        let mut w = self.lock();
        w.account = account.into();
        w.region = region.into();
    }

    /// Resources set up from now on (services and their clusters and task definition
    /// families, RDS instances, repositories, parameters, target groups) belong to `account`,
    /// and so do their ARNs and those of what is made from them; None: the simulator's own.
    /// The sandbox sets up each environment in its `aws.accountId`.
    pub fn set_up_in_account(&self, account: Option<&str>) {
        self.lock().setting_up_for = account.map(String::from);
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The world, run forward to now (set-up and inspection: not counted as calls).
    fn world(&self) -> MutexGuard<'_, World> {
        let mut w = self.lock();
        w.advance();
        w
    }

    /// One API call: run the world to now, count it, apply faults, then `body`.
    fn call<T>(
        &self,
        operation: &str,
        resource: impl FnOnce(&World) -> String,
        body: impl FnOnce(&mut World) -> CloudResult<T>,
    ) -> CloudResult<T> {
        let mut w = self.lock();
        let resource = resource(&w);
        let answer = w
            .begin_call(operation, &resource)
            .and_then(|()| body(&mut w));
        w.call_at = None;
        answer
    }

    // ------------------------------------------------------------------ set-up

    /// Returns the target group's ARN.
    pub fn add_target_group(&self, spec: TargetGroupSpec) -> String {
        let mut w = self.world();
        let arn = w.target_group_arn(&spec.name);
        w.target_groups.insert(
            arn.clone(),
            SimTargetGroup {
                arn: arn.clone(),
                name: spec.name,
                port: spec.port,
                health_check_path: spec.health_check_path,
                interval: spec.interval_seconds.max(1),
                healthy_threshold: spec.healthy_threshold.max(1),
                unhealthy_threshold: spec.unhealthy_threshold.max(1),
                deregistration_delay: spec.deregistration_delay_seconds,
            },
        );
        arn
    }

    /// A service running steadily: its task definition registered, `desired_count` tasks
    /// RUNNING with healthy targets, one PRIMARY deployment COMPLETED. Creates the cluster.
    ///
    /// Panics if `spec.target_group` names no target group (a test set-up mistake).
    pub fn add_service(&self, spec: ServiceSpec) {
        let mut w = self.world();
        let load_balancers = spec
            .target_group
            .iter()
            .map(|name| ServiceLoadBalancer {
                target_group_arn: w.target_group_named(name),
                container_name: spec.container_name.clone(),
                container_port: spec.container_port,
            })
            .collect();
        w.own(Owned::Cluster, &spec.cluster);
        w.own(Owned::Family, &spec.task_definition.family);
        let td = w.store_task_definition(&spec.task_definition, spec.task_definition.revision);
        for c in &td.container_definitions {
            w.setup_images.insert(c.image.clone());
        }
        let id = w.deployment_id();
        let t = w.t;
        w.tasks
            .retain(|(c, s, _), _| !(*c == spec.cluster && *s == spec.name));
        let service = Service {
            name: spec.name.clone(),
            cluster: spec.cluster.clone(),
            desired: spec.desired_count,
            min_pct: spec.minimum_healthy_percent,
            max_pct: spec.maximum_percent,
            circuit_breaker: spec.circuit_breaker,
            load_balancers,
            deployment_controller: "ECS".into(),
            grace: None,
            capacity_provider_strategy: Vec::new(),
            deployments: vec![SimDeployment {
                id,
                task_definition: td.arn.clone(),
                failed_tasks: 0,
                rollout: RolloutState::Completed,
                reason: Some("ECS deployment completed.".into()),
                created: t,
                updated: t,
                is_rollback: false,
                stalled_reported: false,
            }],
            events: Vec::new(),
            last_completed: Some(td.arn),
            alarms: None,
        };
        w.clusters
            .entry(spec.cluster.clone())
            .or_default()
            .insert(spec.name.clone(), service);
        for _ in 0..spec.desired_count {
            w.start_task(&spec.cluster, &spec.name, true);
        }
        let message = format!("(service {}) has reached a steady state.", spec.name);
        w.push_event(&spec.cluster, &spec.name, message);
    }

    /// An RDS instance, `available`.
    pub fn add_db_instance(&self, id: &str) {
        let mut w = self.world();
        w.own(Owned::Db, id);
        w.db_instances.insert(
            id.into(),
            DbInstance {
                id: id.into(),
                status: "available".into(),
            },
        );
    }

    pub fn add_repository(&self, name: &str) {
        let mut w = self.world();
        w.own(Owned::Repository, name);
        w.repositories.entry(name.into()).or_default();
    }

    /// An image pushed to `repository` (created if missing). Tags move to it from other
    /// images, as in ECR; pushing a known digest adds tags.
    pub fn push_image(
        &self,
        repository: &str,
        digest: &str,
        tags: &[&str],
        pushed_at: DateTime<Utc>,
    ) {
        self.world().put_image(repository, digest, tags, pushed_at);
    }

    /// An SSM parameter name (values do not exist in the simulator).
    pub fn add_parameter(&self, name: &str) {
        let mut w = self.world();
        // ARNs name parameters with a leading slash, whichever way they are written.
        let path = match name.starts_with('/') {
            true => name.to_string(),
            false => format!("/{name}"),
        };
        w.own(Owned::Parameter, &path);
        w.parameters.insert(name.into());
    }

    /// A SecureString parameter the agent itself reads (a `notify:` secret).
    pub fn put_secure_parameter(&self, name: &str, value: &str) {
        self.add_parameter(name);
        let mut w = self.world();
        w.secure_values.insert(name.into(), value.into());
    }

    /// Hand out this real registry (`http://user:password@127.0.0.1:PORT`) at ECR login, so
    /// builds push real images (what `AMAGENT_SIM_REGISTRY` does, per simulator).
    pub fn use_registry(&self, url: &str) {
        self.world().registry_override = Some(url.to_string());
    }

    /// Hand out this real registry at `account`'s ECR login only: each account its own
    /// registry (what `AMAGENT_SIM_REGISTRY_<account>` does, per simulator).
    pub fn use_registry_for(&self, account: &str, url: &str) {
        self.world()
            .registry_overrides
            .insert(account.to_string(), url.to_string());
    }

    pub fn add_bucket(&self, name: &str) {
        self.world().buckets.entry(name.into()).or_default();
    }

    // ------------------------------------------------------------------ inspection

    /// ARN of the task definition of the service's PRIMARY deployment.
    pub fn running_task_definition(&self, cluster: &str, service: &str) -> Option<String> {
        let w = self.world();
        let svc = w.clusters.get(cluster)?.get(service)?;
        Some(svc.primary().task_definition.clone())
    }

    pub fn task_definition_revisions(&self, family: &str) -> Vec<u32> {
        let w = self.world();
        w.task_defs
            .get(family)
            .map(|revs| revs.keys().copied().collect())
            .unwrap_or_default()
    }

    pub fn images(&self, repository: &str) -> Vec<ImageDetail> {
        let w = self.world();
        w.repositories
            .get(repository)
            .map(|r| r.images.clone())
            .unwrap_or_default()
    }

    pub fn snapshots(&self, instance: &str) -> Vec<DbSnapshot> {
        let w = self.world();
        w.snapshots
            .values()
            .filter(|s| s.snapshot.instance_id == instance)
            .map(|s| s.snapshot.clone())
            .collect()
    }

    /// The service as DescribeServices would return it (not counted).
    pub fn service(&self, cluster: &str, service: &str) -> Option<EcsService> {
        let w = self.world();
        let svc = w.clusters.get(cluster)?.get(service)?;
        Some(w.service_view(svc))
    }

    /// Every visible task of a service, running or stopped (not counted).
    pub fn tasks(&self, cluster: &str, service: &str) -> Vec<Task> {
        let w = self.world();
        w.service_tasks(cluster, service)
            .map(|(_, x)| w.task_view(x))
            .collect()
    }

    /// Target health of every registered target of a group, by ARN (not counted).
    pub fn target_health(&self, target_group_arn: &str) -> Vec<TargetHealth> {
        self.world().target_health(target_group_arn)
    }

    /// Seconds of simulated time since the simulator was created.
    pub fn elapsed_seconds(&self) -> u64 {
        self.world().t
    }
}
