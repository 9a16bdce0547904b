//! The agent behind `amagent run`: keeps a bare mirror of the environments repo and, for each
//! new head of the watched branch, applies it to every environment that changes on merge — the
//! plan from the commit last applied there (the journal remembers it; several merges become one
//! plan), builds, then the executor (snapshot, gated deploys, rollback, lifecycle). Every pull
//! request merged since gets one comment per environment, edited in place as stages progress,
//! and the landed commits a status `amagent/<env>`. Pull-request events get a plan preview.
//!
//! Must not know: clap, axum, the console (events arrive as [`Wake`]; reports go to a
//! [`Reporter`]; images land where the [`Cloud`]'s registry says).

pub mod accounts;
pub mod applied;
mod apply;
pub mod approval;
pub mod board;
mod builds;
mod deployments;
mod drift_watch;
mod event_loop;
pub mod handoff;
mod lease_lost;
mod notifications;
mod pinned;
pub mod previews;
mod promote;
pub mod promote_commit;
pub mod promotion;
mod revert;
mod soak;
mod tell;

pub use event_loop::{Wake, poll_timer, run};

use crate::clock::Clock;
use crate::cloud::Cloud;
use crate::config::{Environment, Model, StageKind};
use crate::executor::{self, Context, EnvReport, EnvRun};
use crate::metrics::Metrics;
use crate::plan::EnvironmentPlan;
use crate::repo::{CommitInfo, EnvRepo, GitCredentials, RepoError, SemverTag, redact_url};
use crate::report::{self, Reporter, Status, preview};
use crate::stages::deploy::{DeployResult, Outcome, Progress};
use crate::stages::image::{self, ImageRequest};
use crate::state::journal::{Journal, Phase, Record};
use applied::{Decision, outcome};
use promotion::TagDecision;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// What [`Agent::deliver`] executes and reports.
struct Delivery<'a> {
    env: &'a Environment,
    plan: &'a EnvironmentPlan,
    images: BTreeMap<String, String>,
    /// Services that failed before executing (builds).
    failures: Vec<DeployResult>,
    commit: &'a str,
    run: &'a str,
    pull_requests: &'a [u64],
    status_commits: &'a [String],
    /// The finished `apply` record's detail (commit, from, tag…).
    detail: serde_json::Value,
    /// An earlier attempt at this apply was interrupted after this time.
    resume_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Appended to the pull requests' comment (a promotion's release notes).
    notes: Option<String>,
}

/// Statuses set per applied commit range, at most (a long outage can land many commits).
const MAX_STATUS_COMMITS: usize = 20;

pub struct Settings {
    /// The environments repo: URL or local path.
    pub url: String,
    /// The branch whose head is applied.
    pub branch: String,
    /// Where the bare mirror lives.
    pub mirror: PathBuf,
    /// Where source mirrors for builds are cached.
    pub cache: PathBuf,
    pub credentials: GitCredentials,
    /// `buildah` or `podman`; None: the first found.
    pub builder: Option<String>,
    /// How many CodeBuild builds of one apply run at once (local builds run one at a time:
    /// they share the agent's CPU).
    pub parallel_builds: usize,
}

/// Default for `--parallel-builds`.
pub const PARALLEL_BUILDS: usize = 4;

/// Called after an image lands in a repository — (repository, digest, tags) — by a build or a
/// promotion's copy (the simulator records it in its ECR, as a push to ECR would).
pub type OnPushed = Box<dyn Fn(&str, &str, &[String]) + Send + Sync>;

pub struct Agent {
    pub settings: Settings,
    /// CodeBuild builds in flight, stopped if the agent is stopped mid-apply.
    running_builds: builds::RunningBuilds,
    pub cloud: Cloud,
    pub clock: Clock,
    pub journal: Arc<dyn Journal>,
    pub reporter: Arc<dyn Reporter>,
    pub progress: Arc<dyn Progress>,
    pub metrics: Arc<Metrics>,
    pub on_pushed: Option<OnPushed>,
    repo: Option<EnvRepo>,
    /// A head whose invalid configuration was already reported (not reported on every poll).
    reported_invalid: Option<String>,
    /// The environment being applied now, for the record if the agent is stopped mid-way.
    in_flight: Option<InFlight>,
    /// Finished applies the journal would not take (kept so they are not applied again).
    unjournalled: std::sync::Mutex<Vec<Record>>,
    /// Promotion tags already refused (reported once, not on every poll).
    refused_tags: BTreeSet<(String, String)>,
    /// `amagent promote --allow-downgrade`: a tag older than the running one may be promoted.
    pub allow_downgrade: bool,
    /// `amagent promote --tag`: decide on this tag rather than the newest.
    pub promote_tag: Option<String>,
    /// With a lease: whether a change was refused for want of it (`lease_lost.rs`).
    pub fence: Option<std::sync::Arc<crate::state::fence::LeaseGuard>>,
    /// With a lease: deliveries handed between standby and active agent (`handoff.rs`).
    pub handoff: Option<handoff::Handoff>,
    /// Each environment's own account, region and role (AWS), or its account's view of the
    /// simulated world (`--sim`). None: `cloud` serves them all.
    pub accounts: Option<Arc<accounts::Accounts>>,
    /// How often to compare what runs with Git (None: never).
    pub drift_interval: Option<std::time::Duration>,
    drift_looked: Option<tokio::time::Instant>,
    /// Per (env, service): the drift last said and its fields, so it is said once.
    drift_said: std::collections::HashMap<(String, String), (String, Vec<String>)>,
    /// Where notifications are queued (`notifications.rs`): started on first use.
    notifier: std::sync::OnceLock<Arc<crate::notify::Notifier>>,
    /// The status page's board (`amagent run --listen`), and when it was last given a snapshot.
    pub board: Option<Arc<crate::ui::Board>>,
    board_published: Option<tokio::time::Instant>,
}

#[derive(Clone, Debug)]
struct InFlight {
    env: String,
    commit: String,
    run: String,
    pull_requests: Vec<u64>,
    /// The GitHub deployment of the delivery, once created.
    deployment: Option<deployments::Started>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Repo(#[from] RepoError),
    #[error("journal: {0}")]
    Journal(#[from] crate::state::journal::JournalError),
    /// A promotion the agent will not do (reported; the tag stays unpromoted).
    #[error("{0}")]
    Refused(String),
    #[error("branch `{branch}` not found in {url}: set --branch to the branch to watch")]
    NoBranch { branch: String, url: String },
}

/// What one look at the repository did.
#[derive(Debug, Default, Serialize)]
pub struct TickReport {
    pub head: String,
    /// Environments whose head was adopted as the baseline (first sight).
    pub adopted: Vec<String>,
    /// Environments applied, with their reports.
    pub applied: Vec<EnvReport>,
    /// The configuration at head is invalid: nothing was applied.
    pub invalid: bool,
    /// Promotions refused, with why.
    pub refused: Vec<String>,
}

impl Agent {
    pub fn new(
        settings: Settings,
        cloud: Cloud,
        clock: Clock,
        journal: Arc<dyn Journal>,
        reporter: Arc<dyn Reporter>,
        progress: Arc<dyn Progress>,
        metrics: Arc<Metrics>,
    ) -> Agent {
        Agent {
            settings,
            cloud,
            clock,
            journal,
            reporter,
            progress,
            metrics,
            on_pushed: None,
            repo: None,
            reported_invalid: None,
            in_flight: None,
            unjournalled: std::sync::Mutex::new(Vec::new()),
            refused_tags: BTreeSet::new(),
            allow_downgrade: false,
            promote_tag: None,
            fence: None,
            handoff: None,
            accounts: None,
            drift_interval: Some(std::time::Duration::from_secs(300)),
            drift_looked: None,
            drift_said: Default::default(),
            notifier: Default::default(),
            board: None,
            board_published: None,
            running_builds: Default::default(),
        }
    }

    /// The AWS access for `env`'s resources.
    async fn cloud_for(&self, env: &crate::config::Environment) -> Cloud {
        match &self.accounts {
            Some(accounts) => accounts.cloud_for(env).await,
            None => self.cloud.clone(),
        }
    }

    /// Fetch the environments repo (cloning it on first use).
    fn fetch(&mut self) -> Result<&EnvRepo, AgentError> {
        // git2 blocks; fetches of the environments repo are small and the agent does one thing
        // at a time, so the runtime thread does it.
        // Under the simulator, virtual time moves by the fetch's real duration.
        crate::clock::real_work_blocking(|| -> Result<(), AgentError> {
            match &self.repo {
                Some(repo) => repo.fetch(&self.settings.url, &self.settings.credentials)?,
                None => {
                    self.repo = Some(EnvRepo::open_or_clone(
                        &self.settings.url,
                        &self.settings.mirror,
                        &self.settings.credentials,
                    )?)
                }
            }
            Ok(())
        })?;
        Ok(self.repo.as_ref().expect("opened above"))
    }

    async fn record(
        &self,
        env: &str,
        run: &str,
        phase: Phase,
        outcome: Option<&str>,
        detail: serde_json::Value,
    ) {
        let record = Record {
            at: self.clock.now(),
            run: run.to_string(),
            env: env.to_string(),
            service: None,
            step: applied::STEP.into(),
            phase,
            outcome: outcome.map(String::from),
            detail,
        };
        // A finished apply is the decision the next look relies on: try harder, and if the
        // journal stays unwritable, remember it here so this process does not apply the
        // commit again (a restart would: the journal is the truth).
        let attempts = if phase == Phase::Finished { 4 } else { 1 };
        for attempt in 1..=attempts {
            match self.journal.append(&record).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(error = %e, attempt, "cannot write the journal");
                    if attempt < attempts {
                        self.clock
                            .sleep(std::time::Duration::from_secs(1 << attempt))
                            .await;
                    }
                }
            }
        }
        if phase == Phase::Finished {
            self.unjournalled
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(record);
        }
    }

    /// Record the start of an apply before it acts: Err means it must not act.
    async fn write_ahead(
        &self,
        env: &str,
        run: &str,
        detail: serde_json::Value,
    ) -> Result<(), crate::state::journal::JournalError> {
        let record = Record {
            at: self.clock.now(),
            run: run.to_string(),
            env: env.to_string(),
            service: None,
            step: applied::STEP.into(),
            phase: Phase::Started,
            outcome: None,
            detail,
        };
        self.journal.append(&record).await.inspect_err(|e| {
            tracing::error!(error = %e, env, "cannot write the journal: not applying");
        })
    }

    /// The journal, plus finished applies it would not take.
    async fn all_records(&self) -> Result<Vec<Record>, AgentError> {
        let mut records = self.journal.read(None).await?;
        records.extend(
            self.unjournalled
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        Ok(records)
    }

    /// Look at the branch head and apply it where it is new.
    pub async fn tick(&mut self) -> Result<TickReport, AgentError> {
        let branch = self.settings.branch.clone();
        let url = redact_url(&self.settings.url);
        let repo = self.fetch()?;
        let head = repo
            .resolve(&format!("refs/heads/{branch}"))
            .map_err(|_| AgentError::NoBranch {
                branch: branch.clone(),
                url,
            })?
            .to_string();
        let mut tick = TickReport {
            head: head.clone(),
            ..TickReport::default()
        };
        let model = match repo.model_at(&head) {
            Ok(m) => m,
            Err(RepoError::InvalidConfig { diagnostics, .. }) => {
                tick.invalid = true;
                self.report_invalid(&head, &diagnostics.to_string()).await?;
                return Ok(tick);
            }
            Err(e) => return Err(e.into()),
        };
        let records = self.all_records().await?;
        let applied = applied::last_applied(&records);
        // Only environments applied on merge act here; promoted ones wait for their tag.
        for (env_name, env) in &model.environments {
            let env_name = env_name.as_str();
            match applied::decide(env, &head, &applied) {
                Decision::UpToDate | Decision::WaitForTag { .. } => {}
                Decision::Adopt => {
                    tracing::info!(env = env_name, commit = %head, "first sight of this environment: adopting the head as applied, deploying nothing");
                    let run = format!("{env_name}-adopt-{}", &head[..7]);
                    self.record(
                        env_name,
                        &run,
                        Phase::Finished,
                        Some(outcome::ADOPTED),
                        serde_json::json!({ "commit": head }),
                    )
                    .await;
                    self.metrics.applied(env_name, &head, None);
                    tick.adopted.push(env_name.to_string());
                }
                Decision::Apply { from } => {
                    if let Some(report) = self
                        .apply(&model, &records, env_name, &from, &head, false)
                        .await?
                    {
                        tick.applied.push(report);
                    }
                }
                Decision::ApplyNew { from } => {
                    if let Some(report) = self
                        .apply(&model, &records, env_name, &from, &head, true)
                        .await?
                    {
                        tick.applied.push(report);
                    }
                }
            }
        }
        // Then promotion tags, with what the merges above just verified.
        for (env_name, env) in &model.environments {
            if let Some(p) = &env.promotion {
                match self.promote(env_name, &p.tag_pattern).await {
                    Ok(Some(report)) => tick.applied.push(report),
                    Ok(None) => {}
                    Err(AgentError::Refused(why)) => tick.refused.push(why),
                    Err(e) => return Err(e),
                }
            }
        }
        // Only on a look that changed nothing: the records read above are then current (no
        // second journal read), and nothing just deployed is mistaken for drift.
        if tick.applied.is_empty() && tick.adopted.is_empty() {
            self.watch_drift(&records).await;
        }
        Ok(tick)
    }
}

/// The commits that get a status: the landed ones (each merged PR's commit) and the head.
fn status_commits(landed: &[CommitInfo], head: &str) -> Vec<String> {
    let mut out: Vec<String> = landed
        .iter()
        .rev()
        .take(MAX_STATUS_COMMITS)
        .map(|c| c.id.clone())
        .collect();
    if !out.iter().any(|c| c == head) {
        out.insert(0, head.to_string());
    }
    out
}

/// One line for a commit status (GitHub keeps 140 characters).
fn summary(report: &EnvReport) -> String {
    let failed: Vec<&str> = report
        .deploys
        .iter()
        .filter(|d| d.outcome == Outcome::Failed)
        .map(|d| d.service.as_str())
        .collect();
    let rolled_back = report.deploys.iter().any(|d| d.rolled_back);
    if failed.is_empty() {
        format!("{} service(s) deployed and verified", report.deploys.len())
    } else if rolled_back {
        format!("failed: {} (rolled back)", failed.join(", "))
    } else {
        format!("failed: {}", failed.join(", "))
    }
}
