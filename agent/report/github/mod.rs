//! The GitHub reporter: one comment per (pull request, marker), edited in place, and commit
//! statuses `amagent/<env>`, through octocrab. Authenticates with a token or as a GitHub App
//! installation (octocrab mints and refreshes installation tokens itself).
//!
//! Retries are ours, not octocrab's (its own retry layer is switched off so a request is never
//! retried twice over): secondary rate limits and 5xx are retried with exponential backoff,
//! any other 4xx fails at once.
//!
//! The HTTP calls, as octocrab 0.54.9 makes them:
//! - pull requests of a commit: `GET /repos/{o}/{r}/commits/{sha}/pulls?target={sha}`
//! - comments of a PR: `GET /repos/{o}/{r}/issues/{pr}/comments?per_page=100` (+ `Link: next`)
//! - create a comment: `POST /repos/{o}/{r}/issues/{pr}/comments` `{"body"}`
//! - edit a comment: `POST /repos/{o}/{r}/issues/comments/{id}` `{"body"}` (octocrab sends POST,
//!   not the documented PATCH; GitHub accepts POST for PATCH endpoints)
//! - commit status: `POST /repos/{o}/{r}/statuses/{sha}` `{"state","context","description"[,"target_url"]}`
//! - deployments and their statuses: see `deployments.rs`
//! - App: `GET /repos/{o}/{r}/installation` (JWT), `POST /app/installations/{id}/access_tokens`

use super::{Deployment, DeploymentState, ReportError, Reporter, Status};
use crate::secret::Secret;
use async_trait::async_trait;
use octocrab::Octocrab;
use octocrab::commits::PullRequestTarget;
use octocrab::models::{AppId, CommentId, StatusState};
use octocrab::service::middleware::retry::RetryConfig;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

mod approvers;
mod deployments;
mod pulls;
mod settings;
pub use settings::{Credentials, Settings, owner_repo_from_url};

/// GitHub's limit on a commit status description.
const DESCRIPTION_LIMIT: usize = 140;
const DEFAULT_API: &str = "https://api.github.com";
const ATTEMPTS: u32 = 4;
const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_CAP: Duration = Duration::from_secs(30);

enum Auth {
    Token(Secret),
    App { app_id: u64, installation: u64 },
}

pub struct GitHub {
    crab: Octocrab,
    api_base: String,
    owner: String,
    repo: String,
    auth: Auth,
    target_url: Option<String>,
    retry_base: Duration,
    /// (pull request, marker) → comment id. An async mutex held for a whole upsert: two
    /// concurrent upserts of one marker would otherwise both miss and create two comments.
    comments: tokio::sync::Mutex<HashMap<(u64, String), CommentId>>,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Auth::Token(_) => "token".to_string(),
            Auth::App {
                app_id,
                installation,
            } => format!("app {app_id}, installation {installation}"),
        };
        f.debug_struct("GitHub")
            .field("api_base", &self.api_base)
            .field("repo", &format!("{}/{}", self.owner, self.repo))
            .field("auth", &auth)
            .finish_non_exhaustive()
    }
}

fn builder(
    api_base: &str,
) -> Result<
    octocrab::OctocrabBuilder<
        octocrab::NoSvc,
        octocrab::DefaultOctocrabBuilderConfig,
        octocrab::NoAuth,
        octocrab::NotLayerReady,
    >,
    ReportError,
> {
    Octocrab::builder()
        .add_retry_config(RetryConfig::None)
        .base_uri(api_base.trim_end_matches('/'))
        .map_err(|e| ReportError::Auth(format!("GitHub API URL {api_base:?}: {}", first_line(&e))))
}

impl GitHub {
    fn new(crab: Octocrab, api_base: &str, owner: &str, repo: &str, auth: Auth) -> Self {
        GitHub {
            crab,
            api_base: api_base.trim_end_matches('/').to_string(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            auth,
            target_url: None,
            retry_base: RETRY_BASE,
            comments: Default::default(),
        }
    }

    /// Authenticate with a personal access token or an Actions `GITHUB_TOKEN`. Call inside a
    /// Tokio runtime (octocrab spawns its request buffer; it panics without one).
    pub fn from_token(
        api_base: &str,
        owner: &str,
        repo: &str,
        token: Secret,
    ) -> Result<Self, ReportError> {
        let crab = builder(api_base)?
            .personal_token(token.expose().to_string())
            .build()
            .map_err(|e| ReportError::Auth(first_line(&e)))?;
        Ok(Self::new(crab, api_base, owner, repo, Auth::Token(token)))
    }

    /// Authenticate as a GitHub App: find its installation on the repository (one request,
    /// signed with the App's JWT); octocrab then mints installation tokens as needed.
    pub async fn from_app(
        api_base: &str,
        owner: &str,
        repo: &str,
        app_id: u64,
        private_key_pem: Secret,
    ) -> Result<Self, ReportError> {
        let app = builder(api_base)?
            .app_from_rsa_pem(AppId(app_id), private_key_pem.expose().as_bytes())
            .map_err(|e| {
                ReportError::Auth(format!("App {app_id} private key: {}", first_line(&e)))
            })?
            .build()
            .map_err(|e| ReportError::Auth(first_line(&e)))?;
        let apps = app.apps();
        let installation = crate::clock::real_work(apps.get_repository_installation(owner, repo))
            .await
            .map_err(|e| {
                ReportError::Auth(format!(
                    "App {app_id} installation on {owner}/{repo}: {}",
                    describe(&e)
                ))
            })?;
        let crab = app
            .installation(installation.id)
            .map_err(|e| ReportError::Auth(first_line(&e)))?;
        let auth = Auth::App {
            app_id,
            installation: installation.id.0,
        };
        Ok(Self::new(crab, api_base, owner, repo, auth))
    }

    /// From the environment (see [`Settings::resolve`]); `None` when no credentials are set.
    pub async fn from_env(repo_url: &str) -> Result<Option<Self>, ReportError> {
        let Some(settings) = Settings::resolve(repo_url, |k| std::env::var(k).ok())? else {
            return Ok(None);
        };
        let github = match settings.credentials {
            Credentials::Token(token) => {
                Self::from_token(&settings.api_base, &settings.owner, &settings.repo, token)?
            }
            Credentials::App { app_id, key } => {
                Self::from_app(
                    &settings.api_base,
                    &settings.owner,
                    &settings.repo,
                    app_id,
                    key,
                )
                .await?
            }
        };
        Ok(Some(github.with_target_url(settings.target_url)))
    }

    /// The link a commit status points to (the agent's public URL).
    pub fn with_target_url(mut self, url: Option<String>) -> Self {
        self.target_url = url;
        self
    }

    /// The first retry's delay; each further one doubles (capped). Tests make it small.
    pub fn with_retry_base(mut self, base: Duration) -> Self {
        self.retry_base = base;
        self
    }

    /// Run `call` until it succeeds, fails for good, or attempts run out. `operation` names
    /// the call in logs.
    async fn retrying<T, F, Fut>(&self, operation: &str, mut call: F) -> octocrab::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = octocrab::Result<T>>,
    {
        let mut attempt = 1;
        loop {
            // GitHub is real even under the simulator: its calls take their real time.
            match crate::clock::real_work(call()).await {
                Ok(value) => return Ok(value),
                Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                    let delay = self
                        .retry_base
                        .saturating_mul(1 << (attempt - 1))
                        .min(RETRY_CAP);
                    tracing::warn!(
                        operation,
                        attempt,
                        error = %self.scrub(&describe(&e)),
                        "GitHub call failed; retrying in {delay:?}"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn error(&self, operation: &str, e: &octocrab::Error) -> ReportError {
        ReportError::GitHub {
            operation: operation.to_string(),
            message: self.scrub(&describe(e)),
        }
    }

    /// Belt and braces: GitHub does not echo tokens, but an error message must never hold one.
    fn scrub(&self, message: &str) -> String {
        match &self.auth {
            Auth::Token(t) if !t.expose().is_empty() => message.replace(t.expose(), "<redacted>"),
            _ => message.to_string(),
        }
    }

    /// The comment on `pr` whose body holds `marker`: preferably one by a bot (that is what
    /// the agent posts as, an App or Actions' token), else the oldest.
    async fn find_comment(&self, pr: u64, marker: &str) -> Result<Option<CommentId>, ReportError> {
        let issues = self.crab.issues(&self.owner, &self.repo);
        let operation = format!("list comments on #{pr}");
        let mut page = self
            .retrying(&operation, || issues.list_comments(pr).per_page(100).send())
            .await
            .map_err(|e| self.error(&operation, &e))?;
        let mut matches = Vec::new();
        loop {
            matches.extend(
                page.items
                    .iter()
                    .filter(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)))
                    .map(|c| (c.id, c.user.r#type == "Bot")),
            );
            // Follow `next` by path only: octocrab sends the token only to a host-less URI
            // (or api.github.com), and the Link header holds an absolute one.
            let Some(next) = page.next.as_ref().and_then(|u| u.path_and_query()) else {
                break;
            };
            let next: Option<http::Uri> = next.as_str().parse().ok();
            match self
                .retrying(&operation, || self.crab.get_page(&next))
                .await
                .map_err(|e| self.error(&operation, &e))?
            {
                Some(p) => page = p,
                None => break,
            }
        }
        let bot = matches.iter().find(|(_, bot)| *bot);
        Ok(bot.or(matches.first()).map(|(id, _)| *id))
    }

    async fn create_comment(&self, pr: u64, body: &str) -> Result<CommentId, ReportError> {
        let issues = self.crab.issues(&self.owner, &self.repo);
        let operation = format!("comment on #{pr}");
        let comment = self
            .retrying(&operation, || issues.create_comment(pr, body))
            .await
            .map_err(|e| self.error(&operation, &e))?;
        Ok(comment.id)
    }
}

#[async_trait]
impl Reporter for GitHub {
    async fn pull_requests(&self, sha: &str, message: &str) -> Vec<u64> {
        let commits = self.crab.commits(&self.owner, &self.repo);
        let found = self
            .retrying(&format!("pull requests of {sha}"), || {
                commits
                    .associated_pull_requests(PullRequestTarget::Sha(sha.to_string()))
                    .send()
            })
            .await;
        let mut numbers: Vec<u64> = match found {
            Ok(page) => {
                // Only the merged ones when there are: open PRs can contain the commit too.
                let merged = page.items.iter().any(|p| p.merged_at.is_some());
                page.items
                    .iter()
                    .filter(|p| !merged || p.merged_at.is_some())
                    .map(|p| p.number)
                    .collect()
            }
            Err(e) => {
                tracing::warn!(
                    error = %self.scrub(&describe(&e)),
                    "falling back to the commit message for the pull request"
                );
                Vec::new()
            }
        };
        if numbers.is_empty() {
            numbers.extend(crate::repo::pr_number_from_message(message));
        }
        let mut seen = std::collections::HashSet::new();
        numbers.retain(|n| seen.insert(*n));
        numbers
    }

    async fn upsert_comment(&self, pr: u64, marker: &str, body: &str) -> Result<(), ReportError> {
        let mut cache = self.comments.lock().await;
        let key = (pr, marker.to_string());
        let known = match cache.get(&key) {
            Some(id) => Some(*id),
            None => self.find_comment(pr, marker).await?,
        };
        if let Some(id) = known {
            let issues = self.crab.issues(&self.owner, &self.repo);
            let operation = format!("edit comment {id} on #{pr}");
            let updated = self
                .retrying(&operation, || issues.update_comment(id, body))
                .await;
            match updated {
                Ok(_) => {
                    cache.insert(key, id);
                    return Ok(());
                }
                // Someone deleted it: post a new one.
                Err(octocrab::Error::GitHub { source, .. }) if source.status_code == 404 => {
                    tracing::info!(pr, comment = %id, "comment gone; posting a new one");
                    cache.remove(&key);
                }
                Err(e) => return Err(self.error(&operation, &e)),
            }
        }
        let id = self.create_comment(pr, body).await?;
        cache.insert(key, id);
        Ok(())
    }

    async fn commit_status(
        &self,
        sha: &str,
        env: &str,
        state: Status,
        description: &str,
    ) -> Result<(), ReportError> {
        let state = match state {
            Status::Pending => StatusState::Pending,
            Status::Success => StatusState::Success,
            Status::Failure => StatusState::Failure,
            Status::Error => StatusState::Error,
        };
        let description = truncate(description, DESCRIPTION_LIMIT);
        let repos = self.crab.repos(&self.owner, &self.repo);
        let operation = format!("status amagent/{env} on {sha}");
        self.retrying(&operation, || {
            let mut request = repos
                .create_status(sha.to_string(), state)
                .context(format!("amagent/{env}"))
                .description(description.clone());
            if let Some(url) = &self.target_url {
                request = request.target(url.clone());
            }
            request.send()
        })
        .await
        .map_err(|e| self.error(&operation, &e))?;
        Ok(())
    }

    async fn is_approver(&self, login: &str, approvers: &[String]) -> Result<bool, ReportError> {
        self.approver(login, approvers).await
    }

    async fn open_pull_request(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<u64, ReportError> {
        self.create_pull_request(head, base, title, body).await
    }

    async fn create_deployment(&self, d: &Deployment) -> Result<Option<u64>, ReportError> {
        self.create(d).await.map(Some)
    }

    async fn deployment_status(
        &self,
        id: u64,
        d: &Deployment,
        state: DeploymentState,
        description: &str,
    ) -> Result<(), ReportError> {
        self.set_deployment_status(id, d, state, description).await
    }
}

/// Secondary rate limits (403/429 saying so), server errors and transport failures pass;
/// any other answer will not change by asking again.
fn retryable(e: &octocrab::Error) -> bool {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code;
            status.is_server_error()
                || ((status == 403 || status == 429)
                    && source.message.to_lowercase().contains("rate limit"))
        }
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => true,
        _ => false,
    }
}

/// An octocrab error in one line: GitHub's message and status, else the first line of its
/// text (some variants append a backtrace).
fn describe(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            format!("{} (HTTP {})", source.message, source.status_code.as_u16())
        }
        other => first_line(other),
    }
}

fn first_line(e: &dyn fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    cut
}
