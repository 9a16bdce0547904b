//! The agent behind `amagent run`: keeps a bare mirror of the environments repo and, for each
//! new head of the watched branch, applies it to every environment that changes on merge — the
//! plan from the commit last applied there (the journal remembers it; several merges become one
//! plan), builds, then the executor (snapshot, gated deploys, rollback, lifecycle). Every pull
//! request merged since gets one comment per environment, edited in place as stages progress,
//! and the landed commits a status `amagent/<env>`. Pull-request events get a plan preview.
//!
//! Must not know: clap, axum, the console (events arrive as [`Wake`]; reports go to a
//! [`Reporter`]; images land where the [`Cloud`]'s registry says).

pub mod applied;
mod event_loop;
mod lease_lost;
mod pinned;
pub mod promotion;

pub use event_loop::{Wake, poll_timer, run};

use crate::clock::Clock;
use crate::cloud::Cloud;
use crate::config::{Environment, Model, StageKind};
use crate::deploy::{DeployResult, Outcome, Progress};
use crate::executor::{self, Context, EnvReport, EnvRun};
use crate::image::{self, ImageRequest};
use crate::journal::{Journal, Phase, Record};
use crate::metrics::Metrics;
use crate::plan::EnvironmentPlan;
use crate::repo::{CommitInfo, EnvRepo, GitCredentials, RepoError, SemverTag, redact_url};
use crate::report::{self, Reporter, Status, preview};
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
}

/// Called after an image lands in a repository — (repository, digest, tags) — by a build or a
/// promotion's copy (the simulator records it in its ECR, as a push to ECR would).
pub type OnPushed = Box<dyn Fn(&str, &str, &[String]) + Send + Sync>;

pub struct Agent {
    pub settings: Settings,
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
    pub fence: Option<std::sync::Arc<crate::fence::LeaseGuard>>,
}

#[derive(Clone, Debug)]
struct InFlight {
    env: String,
    commit: String,
    run: String,
    pull_requests: Vec<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Repo(#[from] RepoError),
    #[error("journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
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
        }
    }

    /// Fetch the environments repo (cloning it on first use).
    fn fetch(&mut self) -> Result<&EnvRepo, AgentError> {
        // git2 blocks; fetches of the environments repo are small and the agent does one thing
        // at a time, so the runtime thread does it.
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
    ) -> Result<(), crate::journal::JournalError> {
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
        Ok(tick)
    }

    /// Promote the newest promotion tag to `env_name`, if it is new: the source environment's
    /// verified digests at the tagged commit, copied into this environment's repositories by
    /// digest, deployed through the same gate. Refusals are reported once, on the tagged commit.
    async fn promote(
        &mut self,
        env_name: &str,
        pattern: &str,
    ) -> Result<Option<EnvReport>, AgentError> {
        let prefix = pattern.trim_end_matches('*');
        let repo = self.repo.as_ref().expect("fetched");
        let tags = repo.semver_tags(prefix)?;
        let records = self.all_records().await?;
        let last = promotion::last_promoted(&records, env_name);
        // First sight of promotion for this environment: no promotion decision recorded yet
        // (merge-applies from before it had `promotion` do not count). `amagent promote` names
        // its tag: never a first sight.
        let first_sight = self.promote_tag.is_none()
            && !records.iter().any(|r| {
                r.env == env_name && r.step == applied::STEP && r.detail.get("tag").is_some()
            });
        if first_sight && tags.is_empty() {
            // Nothing promoted yet: the first tag pushed from now on is promoted.
            self.record(
                env_name,
                &format!("{env_name}-adopt"),
                Phase::Finished,
                Some(outcome::ADOPTED),
                serde_json::json!({ "tag": null }),
            )
            .await;
            return Ok(None);
        }
        // `amagent promote` names its tag; the agent looks at the newest.
        let tags: Vec<SemverTag> = match &self.promote_tag {
            Some(name) => tags.into_iter().filter(|t| &t.name == name).collect(),
            None => tags,
        };
        let decision = {
            let newest = tags.last().map(|t| t.commit.clone()).unwrap_or_default();
            match repo
                .model_at(&newest)
                .ok()
                .and_then(|m| m.environments.get(env_name).cloned())
            {
                Some(env) => promotion::decide_tag(
                    &env,
                    &tags,
                    last.as_ref(),
                    first_sight,
                    self.allow_downgrade,
                ),
                None => TagDecision::NoTag,
            }
        };
        let tag = match decision {
            TagDecision::NoTag | TagDecision::UpToDate => return Ok(None),
            TagDecision::Adopt(tag) => {
                tracing::info!(env = env_name, tag = %tag.name, "first sight: adopting the newest promotion tag as what runs, deploying nothing");
                self.record(
                    env_name,
                    &format!("{env_name}-adopt-{}", tag.name),
                    Phase::Finished,
                    Some(outcome::ADOPTED),
                    serde_json::json!({ "commit": tag.commit, "tag": tag.name, "version": tag.version.to_string() }),
                )
                .await;
                return Ok(None);
            }
            TagDecision::Refuse(tag, why) => {
                self.refuse_promotion(env_name, &tag, &why).await;
                return Err(AgentError::Refused(format!(
                    "{env_name}: {} refused: {why}",
                    tag.name
                )));
            }
            TagDecision::Promote(tag)
                if self.promote_tag.is_none()
                    && promotion::promoted_before(&records, env_name, &tag.version) =>
            {
                // Someone stepped back on purpose (`promote --allow-downgrade`): leave it.
                tracing::debug!(env = env_name, tag = %tag.name, "already promoted once; not promoting it again by itself");
                return Ok(None);
            }
            TagDecision::Promote(tag) => tag,
        };
        let model = repo.model_at(&tag.commit)?;
        let Some(env) = model.environments.get(env_name).cloned() else {
            return Ok(None);
        };
        let from = env
            .promotion
            .as_ref()
            .map(|p| p.from.clone())
            .unwrap_or_default();
        let services: Vec<String> = env.services.iter().map(|s| s.name.clone()).collect();
        let verified = match promotion::verified_images(&records, &from, &tag.commit, &services) {
            Ok(v) => v,
            Err(why) => {
                self.refuse_promotion(env_name, &tag, &why).await;
                return Err(AgentError::Refused(format!(
                    "{env_name}: {} refused: {why}",
                    tag.name
                )));
            }
        };
        let previous_commit = last.as_ref().and_then(|v| {
            tags.iter()
                .find(|t| &t.version == v)
                .map(|t| t.commit.clone())
        });
        // The pull requests released since the last promotion (the first: the tagged one's).
        let since = previous_commit
            .clone()
            .unwrap_or_else(|| format!("{}~1", tag.commit));
        let landed = repo.landed_between(&since, &tag.commit).unwrap_or_default();
        let resume_since = applied::interrupted_since(&records, env_name, &tag.commit);
        let pull_requests = self.pull_requests(&landed).await;
        let run = format!(
            "{env_name}-promote-{}-{}",
            tag.name,
            self.clock.now().format("%Y%m%dT%H%M%SZ")
        );
        let plan = promotion::plan(&env, &from, &tag.name);
        tracing::info!(env = env_name, tag = %tag.name, from = %from, ?pull_requests, "promoting");
        self.write_ahead(
            env_name,
            &run,
            serde_json::json!({ "commit": tag.commit, "tag": tag.name, "images": verified, "plan": plan }),
        )
        .await?;
        self.in_flight = Some(InFlight {
            env: env_name.to_string(),
            commit: tag.commit.clone(),
            run: run.clone(),
            pull_requests: pull_requests.clone(),
        });
        let status_commits = vec![tag.commit.clone()];
        self.comment(
            &pull_requests,
            env_name,
            &report::render_in_progress(
                &plan,
                &tag.commit,
                &format!("promoting {}", tag.name),
                &BTreeMap::new(),
            ),
        )
        .await;
        self.status(
            &status_commits,
            env_name,
            Status::Pending,
            &format!("promoting {}", tag.name),
        )
        .await;
        // The same digests, in this environment's repositories.
        let mut images = BTreeMap::new();
        let mut failures = Vec::new();
        for spec in &env.services {
            let Some(source_image) = verified.get(&spec.name) else {
                continue;
            };
            let Some(digest) = promotion::digest_of(source_image).map(String::from) else {
                failures.push(DeployResult::build_failed(
                    env_name,
                    &spec.name,
                    format!(
                        "{from} ran {source_image}, not pinned by digest: nothing exact to promote"
                    ),
                ));
                continue;
            };
            let source_repo = model
                .environments
                .get(&from)
                .and_then(|e| e.service(&spec.name))
                .map(|s| s.image.repository.clone())
                .unwrap_or_else(|| spec.image.repository.clone());
            if source_repo == spec.image.repository {
                images.insert(spec.name.clone(), source_image.clone());
                continue;
            }
            let tags = vec![tag.name.clone()];
            match image::copy::copy_by_digest(
                &self.cloud,
                &source_repo,
                &spec.image.repository,
                &digest,
                &tags,
            )
            .await
            {
                Ok(copied) => {
                    if let Some(hook) = &self.on_pushed {
                        hook(&spec.image.repository, &digest, &tags);
                    }
                    tracing::info!(service = %spec.name, image = %copied.image, mounted = copied.blobs_mounted, uploaded = copied.blobs_uploaded, "copied by digest");
                    images.insert(spec.name.clone(), copied.image);
                }
                Err(e) => failures.push(DeployResult::build_failed(
                    env_name,
                    &spec.name,
                    format!(
                        "cannot copy {source_repo}@{digest} to {}: {e}",
                        spec.image.repository
                    ),
                )),
            }
        }
        let mut exec_plan = plan.clone();
        exec_plan
            .services
            .retain(|s| !failures.iter().any(|f| f.service == s.name));
        let report = self
            .deliver(Delivery {
                env: &env,
                plan: &exec_plan,
                images,
                failures,
                commit: &tag.commit,
                run: &run,
                pull_requests: &pull_requests,
                status_commits: &status_commits,
                detail: serde_json::json!({ "commit": tag.commit, "tag": tag.name, "version": tag.version.to_string(), "from": from, "images": verified }),
                resume_since,
            })
            .await;
        self.metrics
            .applied(env_name, &tag.commit, previous_commit.as_deref());
        Ok(Some(report))
    }

    async fn refuse_promotion(&mut self, env_name: &str, tag: &SemverTag, why: &str) {
        if !self
            .refused_tags
            .insert((env_name.to_string(), tag.name.clone()))
        {
            return;
        }
        tracing::error!(env = env_name, tag = %tag.name, "promotion refused: {why}");
        self.record(
            env_name,
            &format!("{env_name}-promote-{}", tag.name),
            Phase::Finished,
            Some(outcome::REFUSED),
            serde_json::json!({ "commit": tag.commit, "tag": tag.name, "reason": why }),
        )
        .await;
        self.status(
            std::slice::from_ref(&tag.commit),
            env_name,
            Status::Failure,
            &format!("{} not promoted: {why}", tag.name),
        )
        .await;
    }

    async fn report_invalid(&mut self, head: &str, problems: &str) -> Result<(), AgentError> {
        if self.reported_invalid.as_deref() == Some(head) {
            return Ok(());
        }
        self.reported_invalid = Some(head.to_string());
        tracing::error!(commit = %head, "the configuration at the head is invalid; nothing deployed:\n{problems}");
        let repo = self.repo.as_ref().expect("fetched");
        let message = repo
            .commits_between(&format!("{head}~1"), head)
            .ok()
            .and_then(|c| c.into_iter().next())
            .map(|c| c.message)
            .unwrap_or_default();
        let body = preview::render_preview(&format!("{head}~1"), head, Err(problems));
        for pr in self.reporter.pull_requests(head, &message).await {
            if let Err(e) = self
                .reporter
                .upsert_comment(pr, preview::MARKER, &body)
                .await
            {
                tracing::warn!(error = %e, pr, "cannot report to the pull request");
            }
        }
        // `amagent/config`: no environment can be named while the configuration is invalid.
        self.status(
            &[head.to_string()],
            "config",
            Status::Failure,
            "invalid configuration: nothing deployed",
        )
        .await;
        Ok(())
    }

    /// Apply `head` to one environment, planned from `from`.
    async fn apply(
        &mut self,
        model: &Model,
        records: &[Record],
        env_name: &str,
        from: &str,
        head: &str,
        as_new: bool,
    ) -> Result<Option<EnvReport>, AgentError> {
        let repo = self.repo.as_ref().expect("fetched");
        let mut old = repo.model_at(from).unwrap_or_default();
        if as_new {
            old.environments.remove(env_name);
        }
        let plan = crate::plan::plan(&old, model);
        let landed = repo.landed_between(from, head).unwrap_or_default();
        let run = format!(
            "{env_name}-apply-{}-{}",
            &head[..7],
            self.clock.now().format("%Y%m%dT%H%M%SZ")
        );
        let Some(env_plan) = plan.environment(env_name).cloned() else {
            self.record(
                env_name,
                &run,
                Phase::Finished,
                Some(outcome::UNCHANGED),
                serde_json::json!({ "commit": head, "from": from }),
            )
            .await;
            self.metrics.applied(env_name, head, Some(from));
            return Ok(None);
        };
        // Services pinned by `amagent rollback` whose spec is unchanged stay as they are.
        let env_plan = self.hold_pinned(model, env_plan, from, head, &run).await;
        let env = model.environments[env_name].clone();
        let resume_since = applied::interrupted_since(records, env_name, head);
        let pull_requests = self.pull_requests(&landed).await;
        tracing::info!(env = env_name, from = %&from[..7.min(from.len())], to = %&head[..7], ?pull_requests, services = env_plan.services.len(), "applying");
        // Write-ahead: no build, push or deploy unless the journal took the apply's start.
        self.write_ahead(
            env_name,
            &run,
            serde_json::json!({ "commit": head, "from": from, "pull_requests": pull_requests, "plan": env_plan }),
        )
        .await?;
        self.in_flight = Some(InFlight {
            env: env_name.to_string(),
            commit: head.to_string(),
            run: run.clone(),
            pull_requests: pull_requests.clone(),
        });
        let status_commits = status_commits(&landed, head);
        let builds = env_plan
            .services
            .iter()
            .any(|s| s.stage_kinds().contains(&StageKind::Build));
        let doing = if builds { "building" } else { "deploying" };
        self.comment(
            &pull_requests,
            env_name,
            &report::render_in_progress(&env_plan, head, doing, &BTreeMap::new()),
        )
        .await;
        self.status(&status_commits, env_name, Status::Pending, doing)
            .await;

        let (images, build_failures) = self.build(model, &env, &env_plan).await;
        let mut exec_plan = env_plan.clone();
        exec_plan
            .services
            .retain(|s| !build_failures.iter().any(|f| f.service == s.name));
        if builds {
            self.comment(
                &pull_requests,
                env_name,
                &report::render_in_progress(&exec_plan, head, "deploying", &images),
            )
            .await;
        }

        let report = self
            .deliver(Delivery {
                env: &env,
                plan: &exec_plan,
                images,
                failures: build_failures,
                commit: head,
                run: &run,
                pull_requests: &pull_requests,
                status_commits: &status_commits,
                detail: serde_json::json!({ "commit": head, "from": from }),
                resume_since,
            })
            .await;
        self.metrics.applied(env_name, head, Some(from));
        Ok(Some(report))
    }

    /// Execute a plan whose images are known, report the outcome where people look, and
    /// record the apply as finished.
    async fn deliver(&mut self, d: Delivery<'_>) -> EnvReport {
        let ctx = Context::new(&self.cloud, &self.clock, &*self.journal, &*self.progress);
        let mut report = executor::execute(
            &ctx,
            EnvRun {
                env: d.env,
                plan: d.plan,
                images: d.images,
                commit: Some(d.commit.to_string()),
                lifecycle_dry_run: false,
                resume_since: d.resume_since,
            },
        )
        .await;
        if !d.failures.is_empty() {
            report.outcome = Outcome::Failed;
        }
        report.deploys.splice(0..0, d.failures);
        if self
            .abandoned_for_lost_lease(d.run, d.commit, &report)
            .await
        {
            return report;
        }
        let env_name = d.env.name.as_str();
        let ok = report.outcome == Outcome::Succeeded;
        self.comment(
            d.pull_requests,
            env_name,
            &report::render_comment(&report, Some(d.commit)),
        )
        .await;
        let description = summary(&report);
        self.status(
            d.status_commits,
            env_name,
            if ok { Status::Success } else { Status::Failure },
            &description,
        )
        .await;
        for r in &report.deploys {
            self.metrics.deployed(env_name, r);
        }
        let mut detail = d.detail;
        detail["executor_run"] = report.run.clone().into();
        detail["summary"] = description.into();
        self.record(
            env_name,
            d.run,
            Phase::Finished,
            Some(if ok {
                outcome::SUCCEEDED
            } else {
                outcome::FAILED
            }),
            detail,
        )
        .await;
        self.in_flight = None;
        report
    }

    /// Pull requests of the landed commits, each once, in landing order.
    async fn pull_requests(&self, landed: &[CommitInfo]) -> Vec<u64> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for c in landed {
            for pr in self.reporter.pull_requests(&c.id, &c.message).await {
                if seen.insert(pr) {
                    out.push(pr);
                }
            }
        }
        out
    }

    /// Build the services the plan builds. Failures become failed deploy results (with the
    /// build log's last lines), and those services are not deployed.
    async fn build(
        &self,
        model: &Model,
        env: &crate::config::Environment,
        plan: &EnvironmentPlan,
    ) -> (BTreeMap<String, String>, Vec<DeployResult>) {
        let mut images = BTreeMap::new();
        let mut failures = Vec::new();
        for s in plan
            .services
            .iter()
            .filter(|s| s.stages.iter().any(|st| st.stage == StageKind::Build))
        {
            let Some(spec) = env.service(&s.name) else {
                continue;
            };
            let Some(pipeline) = model.pipelines.get(&spec.pipeline) else {
                continue;
            };
            self.progress.step(
                &env.name,
                &spec.name,
                &format!("building {}", spec.source.reference),
            );
            let result = image::build_and_push(
                &self.cloud,
                &ImageRequest {
                    service: spec,
                    pipeline,
                    cache: &self.settings.cache,
                    credentials: &self.settings.credentials,
                    builder: self.settings.builder.as_deref(),
                    now: self.clock.now(),
                },
            )
            .await;
            match result {
                Ok(built) => {
                    if let Some(hook) = &self.on_pushed {
                        hook(&spec.image.repository, &built.digest, &built.tags);
                    }
                    self.progress.step(
                        &env.name,
                        &spec.name,
                        &format!(
                            "pushed {}",
                            crate::deploy::rollout::short_image(&built.image)
                        ),
                    );
                    images.insert(spec.name.clone(), built.image);
                }
                Err(e) => {
                    let reference = &spec.source.reference;
                    let reason = match &e {
                        image::ImageError::Build(image::builder::BuildError::Failed {
                            program,
                            code,
                            tail,
                        }) => format!(
                            "build of {reference} failed ({program} exit {}); last lines of the build log:\n\n```\n{tail}\n```",
                            code.map(|c| c.to_string())
                                .unwrap_or_else(|| "signal".into())
                        ),
                        e => format!("build of {reference} failed: {e}"),
                    };
                    self.progress.done(&env.name, &spec.name, false, &reason);
                    failures.push(DeployResult::build_failed(&env.name, &spec.name, reason));
                }
            }
        }
        (images, failures)
    }

    async fn comment(&self, pull_requests: &[u64], env: &str, body: &str) {
        for &pr in pull_requests {
            if let Err(e) = self
                .reporter
                .upsert_comment(pr, &report::marker(env), body)
                .await
            {
                tracing::warn!(error = %e, pr, "cannot update the pull request comment");
            }
        }
    }

    async fn status(&self, commits: &[String], env: &str, state: Status, description: &str) {
        for sha in commits {
            if let Err(e) = self
                .reporter
                .commit_status(sha, env, state, description)
                .await
            {
                tracing::warn!(error = %e, commit = %sha, "cannot set the commit status");
            }
        }
    }

    /// Preview on pull request `pr`: what merging `head` onto `base` would do.
    pub async fn preview(&mut self, pr: u64, base: &str, head: &str) -> Result<(), AgentError> {
        let repo = self.fetch()?;
        let old = repo.model_at(base).unwrap_or_default();
        let body = match repo.model_at(head) {
            Ok(new) => preview::render_preview(base, head, Ok(&crate::plan::plan(&old, &new))),
            Err(RepoError::InvalidConfig { diagnostics, .. }) => {
                preview::render_preview(base, head, Err(&diagnostics.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = self
            .reporter
            .upsert_comment(pr, preview::MARKER, &body)
            .await
        {
            tracing::warn!(error = %e, pr, "cannot post the plan preview");
        }
        Ok(())
    }

    /// The agent was stopped while applying: record it (the next start applies the commit
    /// again) and say so where people look.
    pub async fn interrupted(&mut self) {
        let Some(f) = self.in_flight.take() else {
            return;
        };
        tracing::warn!(env = %f.env, commit = %f.commit, "stopped while applying; the next start resumes");
        self.record(
            &f.env,
            &f.run,
            Phase::Finished,
            Some(outcome::INTERRUPTED),
            serde_json::json!({ "commit": f.commit }),
        )
        .await;
        let body = format!(
            "{}\n### ⏸ **{}**: interrupted\n\nThe agent was stopped while applying `{}`; it resumes when it starts again.\n",
            report::marker(&f.env),
            f.env,
            &f.commit[..7]
        );
        self.comment(&f.pull_requests, &f.env, &body).await;
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
