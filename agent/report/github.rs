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
//! - App: `GET /repos/{o}/{r}/installation` (JWT), `POST /app/installations/{id}/access_tokens`

use super::{ReportError, Reporter, Status};
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
        let installation = app
            .apps()
            .get_repository_installation(owner, repo)
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
            match call().await {
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

/// What [`GitHub::from_env`] connects with.
#[derive(Debug, PartialEq, Eq)]
pub struct Settings {
    pub api_base: String,
    pub owner: String,
    pub repo: String,
    pub credentials: Credentials,
    pub target_url: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    Token(Secret),
    App { app_id: u64, key: Secret },
}

impl Settings {
    /// Reads `GITHUB_TOKEN`, or `AMAGENT_GITHUB_APP_ID` with `AMAGENT_GITHUB_APP_PRIVATE_KEY`
    /// (PEM) or `AMAGENT_GITHUB_APP_PRIVATE_KEY_FILE`; `GITHUB_API_URL`;
    /// `AMAGENT_GITHUB_REPO` (`owner/name`, else taken from `repo_url`); `AMAGENT_PUBLIC_URL`.
    /// `None` when there are no credentials. `var` looks a variable up (tests pass a map).
    pub fn resolve(
        repo_url: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Settings>, ReportError> {
        let var = |k: &str| {
            var(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let credentials = if let Some(id) = var("AMAGENT_GITHUB_APP_ID") {
            let app_id = id.parse().map_err(|_| {
                ReportError::Auth(format!("AMAGENT_GITHUB_APP_ID {id:?} is not a number"))
            })?;
            let key = match (
                var("AMAGENT_GITHUB_APP_PRIVATE_KEY"),
                var("AMAGENT_GITHUB_APP_PRIVATE_KEY_FILE"),
            ) {
                (Some(pem), _) => pem,
                (None, Some(path)) => std::fs::read_to_string(&path).map_err(|e| {
                    ReportError::Auth(format!("AMAGENT_GITHUB_APP_PRIVATE_KEY_FILE {path}: {e}"))
                })?,
                (None, None) => {
                    return Err(ReportError::Auth(
                        "AMAGENT_GITHUB_APP_ID is set but neither AMAGENT_GITHUB_APP_PRIVATE_KEY \
                         nor AMAGENT_GITHUB_APP_PRIVATE_KEY_FILE is"
                            .into(),
                    ));
                }
            };
            Credentials::App {
                app_id,
                key: Secret::new(key),
            }
        } else if let Some(token) = var("GITHUB_TOKEN") {
            Credentials::Token(Secret::new(token))
        } else {
            return Ok(None);
        };
        let (owner, repo) = match var("AMAGENT_GITHUB_REPO") {
            Some(name) => split_owner_repo(&name).ok_or_else(|| {
                ReportError::Auth(format!("AMAGENT_GITHUB_REPO {name:?} is not owner/name"))
            })?,
            None => owner_repo_from_url(repo_url).ok_or_else(|| {
                ReportError::Auth(format!(
                    "cannot tell the GitHub repository from {:?}; set AMAGENT_GITHUB_REPO=owner/name",
                    without_userinfo(repo_url)
                ))
            })?,
        };
        Ok(Some(Settings {
            api_base: var("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API.to_string()),
            owner,
            repo,
            credentials,
            target_url: var("AMAGENT_PUBLIC_URL"),
        }))
    }
}

fn split_owner_repo(name: &str) -> Option<(String, String)> {
    let name = name.trim_end_matches('/');
    let name = name.strip_suffix(".git").unwrap_or(name);
    let (owner, repo) = name.split_once('/')?;
    let valid = |s: &str| !s.is_empty() && !s.contains(['/', ':', ' ']);
    (valid(owner) && valid(repo)).then(|| (owner.to_string(), repo.to_string()))
}

/// A URL as it may be printed: `https://user:token@host/…` loses `user:token@`.
fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// `https://host/o/r(.git)`, `ssh://git@host/o/r.git`, `git@host:o/r.git` → (o, r). Any host:
/// GitHub Enterprise too. Local paths and `file://` are not GitHub.
pub fn owner_repo_from_url(url: &str) -> Option<(String, String)> {
    let path = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(scheme, "https" | "http" | "ssh" | "git") {
            return None;
        }
        rest.split_once('/')?.1
    } else {
        // scp-like: user@host:path
        let (host, path) = url.split_once(':')?;
        if !host.contains('@') || host.contains('/') {
            return None;
        }
        path
    };
    split_owner_repo(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(o: &str, r: &str) -> Option<(String, String)> {
        Some((o.to_string(), r.to_string()))
    }

    #[test]
    fn owner_and_repo_from_remote_urls() {
        for url in [
            "https://github.com/acme/envs",
            "https://github.com/acme/envs.git",
            "https://github.com/acme/envs/",
            "https://x-access-token@github.com/acme/envs.git",
            "git@github.com:acme/envs.git",
            "git@github.com:acme/envs",
            "ssh://git@github.com/acme/envs.git",
        ] {
            assert_eq!(owner_repo_from_url(url), pair("acme", "envs"), "{url}");
        }
        for url in [
            "/srv/envs",
            "file:///srv/envs",
            "C:/envs",
            "https://github.com/acme",
            "https://github.com/acme/envs/tree/main",
        ] {
            assert_eq!(owner_repo_from_url(url), None, "{url}");
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn settings_from_the_environment() {
        let url = "git@github.com:acme/envs.git";
        assert_eq!(Settings::resolve(url, vars(&[])).unwrap(), None);

        let s = Settings::resolve(url, vars(&[("GITHUB_TOKEN", "ghp_abc\n")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            s,
            Settings {
                api_base: DEFAULT_API.into(),
                owner: "acme".into(),
                repo: "envs".into(),
                credentials: Credentials::Token(Secret::new("ghp_abc")),
                target_url: None,
            }
        );

        let s = Settings::resolve(
            "/local/envs",
            vars(&[
                ("GITHUB_TOKEN", "ghp_abc"),
                ("AMAGENT_GITHUB_REPO", "other/name"),
                ("GITHUB_API_URL", "https://ghe.example.com/api/v3"),
                ("AMAGENT_PUBLIC_URL", "https://amagent.example.com"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!((s.owner.as_str(), s.repo.as_str()), ("other", "name"));
        assert_eq!(s.api_base, "https://ghe.example.com/api/v3");
        assert_eq!(s.target_url.as_deref(), Some("https://amagent.example.com"));

        // An App wins over a token when both are set.
        let s = Settings::resolve(
            url,
            vars(&[
                ("GITHUB_TOKEN", "ghp_abc"),
                ("AMAGENT_GITHUB_APP_ID", "123"),
                ("AMAGENT_GITHUB_APP_PRIVATE_KEY", "-----BEGIN…"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            s.credentials,
            Credentials::App {
                app_id: 123,
                key: Secret::new("-----BEGIN…")
            }
        );
    }

    #[test]
    fn settings_errors_are_clear_and_hold_no_secret() {
        let err = |url: &str, pairs: &[(&str, &str)]| {
            Settings::resolve(url, vars(pairs)).unwrap_err().to_string()
        };
        let e = err("/local/envs", &[("GITHUB_TOKEN", "ghp_secret")]);
        assert!(e.contains("AMAGENT_GITHUB_REPO"), "{e}");
        assert!(!e.contains("ghp_secret"), "{e}");
        // A token embedded in an unparseable remote URL is not printed either.
        let e = err("https://x:ghp_inurl@example.com/", &[("GITHUB_TOKEN", "t")]);
        assert!(e.contains("https://example.com/"), "{e}");
        assert!(!e.contains("ghp_inurl"), "{e}");
        let e = err("git@github.com:a/b.git", &[("AMAGENT_GITHUB_APP_ID", "7")]);
        assert!(e.contains("AMAGENT_GITHUB_APP_PRIVATE_KEY"), "{e}");
        let e = err(
            "git@github.com:a/b.git",
            &[("GITHUB_TOKEN", "t"), ("AMAGENT_GITHUB_REPO", "nope")],
        );
        assert!(e.contains("owner/name"), "{e}");
    }

    #[test]
    fn descriptions_fit_githubs_limit() {
        assert_eq!(truncate("short", 140), "short");
        let long = "é".repeat(200);
        let cut = truncate(&long, 140);
        assert_eq!(cut.chars().count(), 140);
        assert!(cut.ends_with('…'));
    }

    // Building octocrab's client spawns its request buffer: it needs a Tokio runtime.
    #[tokio::test]
    async fn debug_never_shows_the_token() {
        let gh = GitHub::from_token(
            "https://api.github.com",
            "acme",
            "envs",
            Secret::new("ghp_supersecret"),
        )
        .unwrap();
        let debug = format!("{gh:?}");
        assert!(debug.contains("acme/envs"), "{debug}");
        assert!(!debug.contains("ghp_supersecret"), "{debug}");
    }
}
