//! Fencing: an agent that may have lost its lease changes nothing in AWS.
//!
//! The lease (`lease.rs`) says who *should* act, but a holder can be paused (SIGSTOP, a long
//! GC-like stall, a frozen VM) past its TTL while a standby takes over; when it resumes, its
//! in-flight work would act on a service someone else now drives. So every mutating call goes
//! through [`fenced`], which first asks the [`LeaseGuard`]: was the lease renewed recently
//! enough, measured on a *monotonic* clock (a pause shows as elapsed time)? A renewal counts
//! from the moment its request was sent, so the window is conservative. Past `ttl − margin`
//! the call is refused with [`CloudError::LeaseLost`] and not made — not even a rollback.
//! Reads stay open: looking cannot hurt anyone.

use crate::cloud::types::*;
use crate::cloud::{Builds, Cloud, CloudError, CloudResult, Ecs, Rds, Registry};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// When this process last held the lease for sure.
pub struct LeaseGuard {
    ttl: Duration,
    margin: Duration,
    state: Mutex<GuardState>,
}

#[derive(Default)]
struct GuardState {
    /// When the last successful acquire/renew was *sent*.
    renewed: Option<Instant>,
    /// A mutating call was refused since the last renewal.
    tripped: bool,
}

impl LeaseGuard {
    /// The margin: a third of the TTL. Renewals come every third, so a healthy holder is never
    /// older than that (plus a request's latency); what remains covers a call already past its
    /// check and clock drift between this host, S3 and a standby.
    pub fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(LeaseGuard {
            ttl,
            margin: ttl / 3,
            state: Mutex::new(GuardState::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lease was written by us; the request went out at `sent`.
    pub fn renewed(&self, sent: Instant) {
        let mut s = self.state();
        s.renewed = Some(sent);
        s.tripped = false;
    }

    /// The lease is not ours (lost, released): refuse everything until it is acquired again.
    pub fn revoke(&self) {
        self.state().renewed = None;
    }

    /// Whether a mutating call was refused since the last renewal: the work in flight was
    /// abandoned.
    pub fn tripped(&self) -> bool {
        self.state().tripped
    }

    /// Ok when a mutating `operation` may go ahead now.
    pub fn check(&self, operation: &str) -> CloudResult<()> {
        let mut s = self.state();
        let window = self.ttl.saturating_sub(self.margin);
        let age = s.renewed.map(|r| r.elapsed());
        if age.is_some_and(|a| a < window) {
            return Ok(());
        }
        s.tripped = true;
        let since = match age {
            Some(a) => format!(
                "last renewed {:.1} s ago (the limit is {:.1} s)",
                a.as_secs_f64(),
                window.as_secs_f64()
            ),
            None => "not held".into(),
        };
        tracing::error!(operation, %since, "lease lost or stale: not calling AWS");
        Err(CloudError::LeaseLost {
            operation: operation.to_string(),
            since,
        })
    }
}

/// `cloud` with every mutating call checked against `guard` first.
pub fn fenced(cloud: Cloud, guard: Arc<LeaseGuard>) -> Cloud {
    Cloud {
        ecs: Arc::new(Fenced {
            inner: cloud.ecs,
            guard: guard.clone(),
        }),
        rds: Arc::new(Fenced {
            inner: cloud.rds,
            guard: guard.clone(),
        }),
        ecr: Arc::new(Fenced {
            inner: cloud.ecr,
            guard: guard.clone(),
        }),
        builds: Arc::new(Fenced {
            inner: cloud.builds,
            guard,
        }),
        ..cloud
    }
}

struct Fenced<T: ?Sized> {
    inner: Arc<T>,
    guard: Arc<LeaseGuard>,
}

#[async_trait]
impl Ecs for Fenced<dyn Ecs> {
    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> CloudResult<Vec<EcsService>> {
        self.inner.describe_services(cluster, services).await
    }
    async fn describe_task_definition(&self, td: &str) -> CloudResult<TaskDefinition> {
        self.inner.describe_task_definition(td).await
    }
    async fn register_task_definition(&self, td: &TaskDefinition) -> CloudResult<TaskDefinition> {
        self.guard.check("RegisterTaskDefinition")?;
        self.inner.register_task_definition(td).await
    }
    async fn update_service(&self, request: &UpdateService) -> CloudResult<EcsService> {
        self.guard.check("UpdateService")?;
        self.inner.update_service(request).await
    }
    async fn list_tasks(
        &self,
        cluster: &str,
        service: &str,
        desired: DesiredStatus,
    ) -> CloudResult<Vec<String>> {
        self.inner.list_tasks(cluster, service, desired).await
    }
    async fn describe_tasks(&self, cluster: &str, tasks: &[String]) -> CloudResult<Vec<Task>> {
        self.inner.describe_tasks(cluster, tasks).await
    }
    async fn run_task(&self, request: &RunTask) -> CloudResult<Task> {
        self.guard.check("RunTask")?;
        self.inner.run_task(request).await
    }
    /// Not fenced: stopping our own one-off task only ever undoes what we started.
    async fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> CloudResult<()> {
        self.inner.stop_task(cluster, task, reason).await
    }
}

#[async_trait]
impl Rds for Fenced<dyn Rds> {
    async fn describe_db_instance(&self, id: &str) -> CloudResult<DbInstance> {
        self.inner.describe_db_instance(id).await
    }
    async fn create_db_snapshot(
        &self,
        id: &str,
        snapshot: &str,
        tags: &[(String, String)],
    ) -> CloudResult<DbSnapshot> {
        self.guard.check("CreateDBSnapshot")?;
        self.inner.create_db_snapshot(id, snapshot, tags).await
    }
    async fn describe_db_snapshots(&self, id: &str) -> CloudResult<Vec<DbSnapshot>> {
        self.inner.describe_db_snapshots(id).await
    }
    async fn delete_db_snapshot(&self, snapshot: &str) -> CloudResult<()> {
        self.guard.check("DeleteDBSnapshot")?;
        self.inner.delete_db_snapshot(snapshot).await
    }
}

#[async_trait]
impl Registry for Fenced<dyn Registry> {
    async fn describe_images(&self, repository: &str) -> CloudResult<Vec<ImageDetail>> {
        self.inner.describe_images(repository).await
    }
    async fn batch_delete_image(
        &self,
        repository: &str,
        digests: &[String],
    ) -> CloudResult<BatchDeleteResult> {
        self.guard.check("BatchDeleteImage")?;
        self.inner.batch_delete_image(repository, digests).await
    }
    async fn get_lifecycle_policy(&self, repository: &str) -> CloudResult<Option<String>> {
        self.inner.get_lifecycle_policy(repository).await
    }
    async fn put_lifecycle_policy(&self, repository: &str, policy: &str) -> CloudResult<()> {
        self.guard.check("PutLifecyclePolicy")?;
        self.inner.put_lifecycle_policy(repository, policy).await
    }
    /// The token is what image pushes and copies write with: no token, no push.
    async fn get_authorization_token(&self) -> CloudResult<RegistryAuth> {
        self.guard
            .check("GetAuthorizationToken (for an image push)")?;
        self.inner.get_authorization_token().await
    }
    fn registry_host(&self) -> String {
        self.inner.registry_host()
    }
}

/// Starting or stopping a build changes what lands in ECR: only the lease holder does.
#[async_trait]
impl Builds for Fenced<dyn Builds> {
    async fn project(&self, name: &str) -> CloudResult<Option<BuildProject>> {
        self.inner.project(name).await
    }
    async fn create_project(&self, project: &NewBuildProject) -> CloudResult<BuildProject> {
        self.guard.check("CreateProject")?;
        self.inner.create_project(project).await
    }
    async fn start_build(&self, request: &StartBuild) -> CloudResult<BuildRun> {
        self.guard.check("StartBuild")?;
        self.inner.start_build(request).await
    }
    async fn batch_get_builds(&self, ids: &[String]) -> CloudResult<Vec<BuildRun>> {
        self.inner.batch_get_builds(ids).await
    }
    async fn stop_build(&self, id: &str) -> CloudResult<BuildRun> {
        self.guard.check("StopBuild")?;
        self.inner.stop_build(id).await
    }
}
