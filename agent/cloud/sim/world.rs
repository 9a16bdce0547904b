//! The simulated world: every resource of one account and region, and virtual time.
//!
//! Time is tokio time. The world is at a whole number of seconds `t` since it was created and
//! moves only when someone looks at it: every call first runs the world forward, event by
//! event, up to `floor(now)`. Nothing sleeps and nothing runs in the background, so on a
//! paused tokio clock a long rollout takes as long as the calls the agent makes.

use super::faults::{FaultScript, iam_action};
use crate::cloud::CloudError;
use crate::cloud::types::*;
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use tokio::time::Instant;

/// How long stopped tasks stay visible to ListTasks/DescribeTasks.
pub(super) const STOPPED_TASK_RETENTION: u64 = 3600;
/// Events kept per service (ECS keeps the latest 100).
pub(super) const SERVICE_EVENTS_KEPT: usize = 100;

pub(super) struct World {
    /// The account of resources no environment claimed (see [`Owned`]).
    pub account: String,
    pub region: String,
    /// Resources set up for an environment in another account: their ARNs name it.
    pub owners: BTreeMap<(Owned, String), String>,
    /// The account resources set up now belong to (None: `account`).
    pub setting_up_for: Option<String>,
    /// Since `origin`, the instant of the call being answered (None between calls).
    pub call_at: Option<std::time::Duration>,
    origin: Instant,
    epoch: DateTime<Utc>,
    /// Seconds since `origin` the world has been run up to.
    pub t: u64,
    pub faults: FaultScript,
    pub rng: StdRng,
    /// Calls per operation since the last reset (reported).
    pub calls: BTreeMap<String, u64>,
    /// Calls per operation since creation (drives throttling; never reset).
    op_seen: BTreeMap<String, u64>,
    /// Calls throttled per operation since the last reset (reported).
    pub throttled: BTreeMap<String, u64>,
    rate_buckets: super::rate_limits::Buckets,
    /// cluster → service name → service.
    pub clusters: BTreeMap<String, BTreeMap<String, Service>>,
    /// family → revision → task definition.
    pub task_defs: BTreeMap<String, BTreeMap<u32, TaskDefinition>>,
    /// By service, then creation order.
    pub tasks: BTreeMap<TaskKey, SimTask>,
    /// By ARN.
    pub target_groups: BTreeMap<String, SimTargetGroup>,
    /// Images of the services set up with `add_service`: everything else is "new".
    pub setup_images: BTreeSet<String>,
    pub next_seq: u64,
    pub db_instances: BTreeMap<String, DbInstance>,
    pub snapshots: BTreeMap<String, SimSnapshot>,
    pub repositories: BTreeMap<String, SimRepository>,
    /// The real registry the simulated ECR login hands out (else `AMAGENT_SIM_REGISTRY`).
    pub registry_override: Option<String>,
    /// Per account: the real registry its ECR login hands out (else
    /// `AMAGENT_SIM_REGISTRY_<account>`, else the one above): each account its own registry.
    pub registry_overrides: BTreeMap<String, String>,
    pub buckets: BTreeMap<String, BTreeMap<String, StoredObject>>,
    pub parameters: BTreeSet<String>,
    /// SecureString values of the agent's own secrets (`notify:`), by parameter name.
    pub secure_values: BTreeMap<String, String>,
    /// Secrets Manager: ARN → version id → staging labels (no values, ever).
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// One-off tasks and CloudWatch alarms.
    pub gates: super::gates::GateWorld,
    /// CodeBuild projects and builds.
    pub codebuild: super::codebuild_world::BuildWorld,
}

/// The kinds of resource whose ARN carries an account: what the resources made from them
/// (services, tasks, revisions, snapshots) inherit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Owned {
    Cluster,
    Family,
    Db,
    Repository,
    Parameter,
}

/// (cluster, service, creation sequence number): a service's tasks are one range.
pub(super) type TaskKey = (String, String, u64);

pub(super) struct Service {
    pub name: String,
    pub cluster: String,
    pub desired: u32,
    pub min_pct: u32,
    pub max_pct: u32,
    pub circuit_breaker: Option<CircuitBreaker>,
    /// The target groups its tasks register in (ECS `loadBalancers`).
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// `ECS`, `CODE_DEPLOY` or `EXTERNAL` (only `ECS` is rolled by the simulator).
    pub deployment_controller: String,
    /// healthCheckGracePeriodSeconds (None: unset, i.e. 0).
    pub grace: Option<u32>,
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// PRIMARY first, then ACTIVE ones newest first.
    pub deployments: Vec<SimDeployment>,
    /// Newest first.
    pub events: Vec<ServiceEvent>,
    /// Task definition of the most recent COMPLETED deployment (the rollback target).
    pub last_completed: Option<String>,
    /// `deploymentConfiguration.alarms`, as last set.
    pub alarms: Option<DeploymentAlarms>,
}

impl Service {
    pub fn primary(&self) -> &SimDeployment {
        &self.deployments[0]
    }
    pub fn primary_mut(&mut self) -> &mut SimDeployment {
        &mut self.deployments[0]
    }
    pub fn deployment_mut(&mut self, id: &str) -> Option<&mut SimDeployment> {
        self.deployments.iter_mut().find(|d| d.id == id)
    }
}

pub(super) struct SimDeployment {
    pub id: String,
    pub task_definition: String,
    pub failed_tasks: u32,
    pub rollout: RolloutState,
    pub reason: Option<String>,
    pub created: u64,
    pub updated: u64,
    /// Started by a circuit-breaker rollback (never rolled back again).
    pub is_rollback: bool,
    /// The "unable to stop or start tasks" event was already added.
    pub stalled_reported: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TaskStatus {
    Pending,
    Running,
    Deactivating,
    Stopped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopped => "STOPPED",
        }
    }
}

/// How a task's image behaves, decided when the task starts.
#[derive(Clone, Debug, Default)]
pub(super) struct Behaviour {
    pub crash_after: Option<u64>,
    pub healthy: bool,
    pub unhealthy_after: Option<u64>,
    pub stopped_reason: Option<String>,
    /// Health checks fail until this long after RUNNING.
    pub healthy_after: Option<u64>,
    /// Target group names whose health checks always fail (others follow `healthy`).
    pub failing_target_groups: Vec<String>,
    /// Whether the container's own health check passes at all.
    pub container_healthy: bool,
    /// The container's own health check fails from this long after RUNNING on.
    pub container_unhealthy_after: Option<u64>,
}

impl Behaviour {
    /// Whether a load balancer health check of `group` passes `since_running` seconds after
    /// RUNNING.
    pub fn passes(&self, since_running: u64, group: &str) -> bool {
        self.healthy
            && self.unhealthy_after.is_none_or(|n| since_running < n)
            && self.healthy_after.is_none_or(|n| since_running >= n)
            && !self.failing_target_groups.iter().any(|g| g == group)
    }

    /// Whether the container health check passes `since_running` seconds after RUNNING.
    pub fn container_passes(&self, since_running: u64) -> bool {
        self.container_healthy
            && self
                .container_unhealthy_after
                .is_none_or(|n| since_running < n)
    }
}

pub(super) struct SimTask {
    pub arn: String,
    pub cluster: String,
    pub service: String,
    pub deployment: String,
    pub task_definition: String,
    pub status: TaskStatus,
    /// Desired status RUNNING (false once ECS decided to stop it).
    pub live: bool,
    pub created: u64,
    /// When it becomes RUNNING (scheduled while PENDING).
    pub running_at: u64,
    pub started: Option<u64>,
    pub stopped: Option<u64>,
    pub stopped_reason: Option<String>,
    pub ip: String,
    pub behaviour: Behaviour,
    /// One per target group of its service, in the service's order.
    pub targets: Vec<SimTaskTarget>,
    /// The essential container's health check (None: its task definition defines none).
    pub container_health: Option<ContainerHealth>,
    /// The service's grace period when the task started: failing checks are ignored until
    /// `started + grace`.
    pub grace: u64,
}

/// A task's place in one target group.
pub(super) struct SimTaskTarget {
    pub group: String,
    pub port: u16,
    /// None until the task registers (RUNNING) and again once its draining ends.
    pub target: Option<SimTarget>,
}

/// The essential container's health check (Docker's: every `interval`, `retries` failures in
/// a row make it UNHEALTHY, one pass HEALTHY).
pub(super) struct ContainerHealth {
    pub container: String,
    /// HEALTHY, UNHEALTHY or UNKNOWN.
    pub status: &'static str,
    pub interval: u64,
    pub retries: u32,
    pub failures: u32,
    pub next_check: u64,
}

impl SimTask {
    /// RUNNING, healthy in every target group and, with a container health check, HEALTHY:
    /// what ECS counts as healthy.
    pub fn healthy(&self) -> bool {
        self.live
            && self.status == TaskStatus::Running
            && self.targets.iter().all(|x| {
                x.target
                    .as_ref()
                    .is_some_and(|t| t.state == TargetState::Healthy)
            })
            && self
                .container_health
                .as_ref()
                .is_none_or(|h| h.status == "HEALTHY")
    }

    /// Whether ECS still ignores failing health checks (inside the grace period).
    pub fn in_grace(&self, t: u64) -> bool {
        self.started.is_some_and(|s| t < s + self.grace)
    }

    pub fn crash_at(&self) -> Option<u64> {
        match (self.status, self.started, self.behaviour.crash_after) {
            (TaskStatus::Running, Some(s), Some(c)) if self.live => Some(s + c),
            _ => None,
        }
    }

    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }
}

#[derive(Clone)]
pub(super) struct SimTarget {
    pub state: TargetState,
    pub reason: Option<String>,
    pub description: Option<String>,
    pub next_check: u64,
    pub passes: u32,
    pub failures: u32,
    pub drain_end: Option<u64>,
}

pub(super) struct SimTargetGroup {
    pub arn: String,
    pub name: String,
    pub port: u16,
    pub health_check_path: String,
    pub interval: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub deregistration_delay: u32,
}

pub(super) struct SimSnapshot {
    pub snapshot: DbSnapshot,
    pub done_at: u64,
    pub fails: bool,
}

#[derive(Default)]
pub(super) struct SimRepository {
    pub images: Vec<ImageDetail>,
    pub lifecycle_policy: Option<String>,
}

impl World {
    pub fn new(clock: &crate::clock::Clock, faults: FaultScript) -> Self {
        World {
            account: "123456789012".into(),
            region: "ap-southeast-2".into(),
            owners: BTreeMap::new(),
            setting_up_for: None,
            call_at: None,
            origin: Instant::now(),
            epoch: clock.now(),
            t: 0,
            rng: StdRng::seed_from_u64(faults.seed),
            faults,
            calls: BTreeMap::new(),
            op_seen: BTreeMap::new(),
            throttled: BTreeMap::new(),
            rate_buckets: Default::default(),
            clusters: BTreeMap::new(),
            task_defs: BTreeMap::new(),
            tasks: BTreeMap::new(),
            target_groups: BTreeMap::new(),
            setup_images: BTreeSet::new(),
            next_seq: 0,
            db_instances: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            repositories: BTreeMap::new(),
            registry_override: None,
            registry_overrides: BTreeMap::new(),
            buckets: BTreeMap::new(),
            parameters: BTreeSet::new(),
            secure_values: BTreeMap::new(),
            secrets: BTreeMap::new(),
            gates: Default::default(),
            codebuild: Default::default(),
        }
    }

    /// Calendar time at world second `t`.
    pub fn time(&self, t: u64) -> DateTime<Utc> {
        self.epoch + chrono::Duration::seconds(t as i64)
    }

    /// The time to stamp what happens now: during a call, the call's own instant (real work
    /// under the simulator leaves virtual time between whole seconds, and what a call makes
    /// must not predate the call); else the second the world is at.
    pub fn now(&self) -> DateTime<Utc> {
        match self.call_at {
            Some(at) if at.as_secs() == self.t => {
                self.epoch + chrono::Duration::from_std(at).unwrap_or(chrono::TimeDelta::MAX)
            }
            _ => self.time(self.t),
        }
    }

    pub fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Run the world up to the current tokio time.
    pub fn advance(&mut self) {
        let target = Instant::now()
            .saturating_duration_since(self.origin)
            .as_secs();
        self.run_until(target);
    }

    /// Process every event due at or before `target`, in time order.
    pub fn run_until(&mut self, target: u64) {
        let mut at_same_time = 0u32;
        while let Some(next) = self.next_event() {
            if next > target {
                break;
            }
            let next = next.max(self.t);
            if next == self.t {
                at_same_time += 1;
                if at_same_time > 10_000 {
                    debug_assert!(false, "simulator event at t={next} is never consumed");
                    break;
                }
            } else {
                at_same_time = 0;
            }
            self.t = next;
            self.step();
        }
        self.t = self.t.max(target);
    }

    /// The earliest time something is due to happen by itself.
    fn next_event(&self) -> Option<u64> {
        let tasks = self.tasks.values().flat_map(|task| {
            let mut due = Vec::new();
            let targets = task.targets.iter().filter_map(|x| x.target.as_ref());
            match task.status {
                TaskStatus::Pending => due.push(Some(task.running_at)),
                TaskStatus::Running => {
                    due.push(task.crash_at());
                    due.extend(
                        targets
                            .filter(|x| x.drain_end.is_none())
                            .map(|x| Some(x.next_check)),
                    );
                    due.push(task.container_health.as_ref().map(|h| h.next_check));
                }
                TaskStatus::Deactivating => due.extend(targets.map(|x| x.drain_end)),
                TaskStatus::Stopped => {
                    due.push(task.stopped.map(|s| s + STOPPED_TASK_RETENTION));
                }
            }
            due.into_iter().flatten()
        });
        let snapshots = self
            .snapshots
            .values()
            .filter(|s| s.snapshot.status == "creating")
            .map(|s| s.done_at);
        let builds = self.codebuild.next_due();
        tasks.chain(snapshots).chain(builds).min()
    }

    /// One moment of the world at `self.t`: tasks and targets move, then ECS schedules the
    /// services where something changed (scheduling an unchanged service does nothing).
    fn step(&mut self) {
        for (cluster, service) in self.step_tasks() {
            self.schedule(&cluster, &service);
        }
        let t = self.t;
        for snap in self.snapshots.values_mut() {
            if snap.snapshot.status == "creating" && snap.done_at <= t {
                snap.snapshot.status = if snap.fails { "failed" } else { "available" }.into();
            }
        }
        self.step_builds();
    }

    /// Count a call, then apply the fault script: throttling, then access denied.
    pub fn begin_call(&mut self, operation: &str, resource: &str) -> Result<(), CloudError> {
        self.advance();
        self.call_at = Some(Instant::now().saturating_duration_since(self.origin));
        *self.calls.entry(operation.to_string()).or_default() += 1;
        let n = {
            let seen = self.op_seen.entry(operation.to_string()).or_default();
            *seen += 1;
            *seen
        };
        let now = self.call_at.unwrap_or_default().as_secs_f64();
        let limited = !self
            .rate_buckets
            .take(&self.faults.rate_limits, operation, now);
        if limited || self.faults.throttles(operation, n) {
            *self.throttled.entry(operation.to_string()).or_default() += 1;
            return Err(CloudError::Throttled {
                operation: operation.to_string(),
            });
        }
        if self.faults.denies(operation, resource) {
            return Err(CloudError::AccessDenied {
                action: iam_action(operation),
                resource: resource.to_string(),
            });
        }
        Ok(())
    }

    // ------------------------------------------------------------------ ARNs

    /// Record `name` as set up in the account being set up for (if another).
    pub fn own(&mut self, kind: Owned, name: &str) {
        if let Some(account) = self.setting_up_for.clone() {
            self.owners.insert((kind, name.to_string()), account);
        }
    }

    /// The account `name`'s ARN names: the one it was set up in, else the simulator's.
    pub fn account_of(&self, kind: Owned, name: &str) -> &str {
        self.owners
            .get(&(kind, name.to_string()))
            .unwrap_or(&self.account)
    }

    fn arn(&self, service: &str, account: &str, resource: &str) -> String {
        format!("arn:aws:{service}:{}:{account}:{resource}", self.region)
    }

    pub fn cluster_arn(&self, cluster: &str) -> String {
        let account = self.account_of(Owned::Cluster, cluster);
        self.arn("ecs", account, &format!("cluster/{cluster}"))
    }
    pub fn service_arn(&self, cluster: &str, service: &str) -> String {
        let account = self.account_of(Owned::Cluster, cluster);
        self.arn("ecs", account, &format!("service/{cluster}/{service}"))
    }
    pub fn task_arn(&self, cluster: &str, id: &str) -> String {
        let account = self.account_of(Owned::Cluster, cluster);
        self.arn("ecs", account, &format!("task/{cluster}/{id}"))
    }
    pub fn task_definition_arn(&self, family: &str, revision: u32) -> String {
        let account = self.account_of(Owned::Family, family);
        self.arn(
            "ecs",
            account,
            &format!("task-definition/{family}:{revision}"),
        )
    }
    /// A target group is named by its ARN from the start: it takes the account set up for.
    pub fn target_group_arn(&self, name: &str) -> String {
        let hash = sha2::Sha256::digest(name.as_bytes());
        let suffix: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let account = self.setting_up_for.as_deref().unwrap_or(&self.account);
        self.arn(
            "elasticloadbalancing",
            account,
            &format!("targetgroup/{name}/{suffix}"),
        )
    }
    pub fn db_arn(&self, id: &str) -> String {
        self.arn("rds", self.account_of(Owned::Db, id), &format!("db:{id}"))
    }
    /// In the account of the instance it was taken of.
    pub fn snapshot_arn(&self, id: &str) -> String {
        let account = match self.snapshots.get(id) {
            Some(s) => self.account_of(Owned::Db, &s.snapshot.instance_id),
            None => &self.account,
        };
        self.arn("rds", account, &format!("snapshot:{id}"))
    }
    pub fn repository_arn(&self, name: &str) -> String {
        let account = self.account_of(Owned::Repository, name);
        self.arn("ecr", account, &format!("repository/{name}"))
    }
    pub fn parameter_arn(&self, name: &str) -> String {
        let name = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/{name}")
        };
        let account = self.account_of(Owned::Parameter, &name);
        self.arn("ssm", account, &format!("parameter{name}"))
    }
    /// Each account's ECR registry has its own host.
    pub fn registry_host_of(&self, account: &str) -> String {
        format!("{account}.dkr.ecr.{}.amazonaws.com", self.region)
    }

    /// The tasks of one service, oldest first.
    pub fn service_tasks<'a>(
        &'a self,
        cluster: &str,
        service: &str,
    ) -> impl Iterator<Item = (&'a TaskKey, &'a SimTask)> + 'a {
        let from = (cluster.to_string(), service.to_string(), 0);
        let to = (cluster.to_string(), service.to_string(), u64::MAX);
        self.tasks.range(from..=to)
    }

    pub fn push_event(&mut self, cluster: &str, service: &str, message: String) {
        let created_at = self.now();
        if let Some(svc) = self
            .clusters
            .get_mut(cluster)
            .and_then(|s| s.get_mut(service))
        {
            svc.events.insert(
                0,
                ServiceEvent {
                    created_at,
                    message,
                },
            );
            svc.events.truncate(SERVICE_EVENTS_KEPT);
        }
    }
}
