//! Git credentials from the environment, handed to libgit2 on demand — and only where they
//! belong: a token goes over TLS (plain http only for hosts explicitly allowed), only to the
//! hosts it is for, and never after a redirect to another host or port; SSH host keys are
//! checked against known_hosts. Never logged: `Debug` is redacted and URLs are shown without
//! their user-info.

use super::host_keys::{self, Verdict};
use super::remote_url::{RemoteUrl, Transport};
use crate::secret::Secret;
use git2::{Cred, CredentialType};
use std::fmt;
use std::path::PathBuf;

/// Environment variable holding an HTTPS token (GitHub PAT or installation token).
pub const TOKEN_VAR: &str = "AMAGENT_GIT_TOKEN";
/// Fallback token variable, so one GitHub token serves git and the API.
pub const GITHUB_TOKEN_VAR: &str = "GITHUB_TOKEN";
/// Path of an SSH private key.
pub const SSH_KEY_VAR: &str = "AMAGENT_GIT_SSH_KEY";
/// Passphrase for that key, if it has one.
pub const SSH_PASSPHRASE_VAR: &str = "AMAGENT_GIT_SSH_PASSPHRASE";
/// The user name sent with the token (default `x-access-token`: GitHub takes any).
pub const USER_VAR: &str = "AMAGENT_GIT_USER";
/// Hosts (`host` or `host:port`, comma-separated) the token may be sent to.
pub const TOKEN_HOSTS_VAR: &str = "AMAGENT_GIT_TOKEN_HOSTS";
/// Hosts where the token may travel over plain http (default: none).
pub const HTTP_HOSTS_VAR: &str = "AMAGENT_GIT_HTTP_HOSTS";
/// Where a token is meant to go when nothing says otherwise.
pub const DEFAULT_TOKEN_HOSTS: &[&str] = &["github.com"];

#[derive(Clone)]
pub struct GitCredentials {
    token: Option<Secret>,
    /// The user name to send with it, when the server needs one.
    username: Option<String>,
    /// Where the token came from, for messages: a variable's name, or "the URL".
    token_source: String,
    token_hosts: Vec<String>,
    http_hosts: Vec<String>,
    ssh_key: Option<PathBuf>,
    ssh_passphrase: Option<Secret>,
    known_hosts: Option<PathBuf>,
}

impl Default for GitCredentials {
    fn default() -> Self {
        GitCredentials {
            token: None,
            username: None,
            token_source: TOKEN_VAR.into(),
            token_hosts: DEFAULT_TOKEN_HOSTS.iter().map(|h| h.to_string()).collect(),
            http_hosts: Vec::new(),
            ssh_key: None,
            ssh_passphrase: None,
            known_hosts: host_keys::default_known_hosts(),
        }
    }
}

impl fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitCredentials")
            .field("token", &self.token)
            .field("username", &self.username)
            .field("token_source", &self.token_source)
            .field("token_hosts", &self.token_hosts)
            .field("http_hosts", &self.http_hosts)
            .field("ssh_key", &self.ssh_key)
            .field("ssh_passphrase", &self.ssh_passphrase)
            .field("known_hosts", &self.known_hosts)
            .finish()
    }
}

/// What to answer libgit2's credential request with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// HTTPS: user name and token (GitHub accepts any user name with a token).
    Token { username: String },
    /// SSH with the configured key file.
    SshKey { username: String },
    /// SSH via the running ssh-agent.
    SshAgent { username: String },
    /// The SSH user name libgit2 asks for before it can offer keys.
    Username { username: String },
    /// Let libgit2 use its defaults (e.g. Kerberos/NTLM).
    Default,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect()
}

impl GitCredentials {
    /// Read from AMAGENT_GIT_TOKEN (or GITHUB_TOKEN), AMAGENT_GIT_TOKEN_HOSTS,
    /// AMAGENT_GIT_HTTP_HOSTS, AMAGENT_GIT_SSH_KEY(_PASSPHRASE) and AMAGENT_GIT_KNOWN_HOSTS.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut creds = GitCredentials::default();
        if let Some(t) = var(TOKEN_VAR) {
            creds.token = Some(Secret::new(t));
        } else if let Some(t) = var(GITHUB_TOKEN_VAR) {
            creds.token = Some(Secret::new(t));
            creds.token_source = GITHUB_TOKEN_VAR.into();
        }
        creds.username = var(USER_VAR);
        if let Some(hosts) = var(TOKEN_HOSTS_VAR) {
            creds.token_hosts = list(&hosts);
        }
        if let Some(hosts) = var(HTTP_HOSTS_VAR) {
            creds.http_hosts = list(&hosts);
        }
        creds.ssh_key = var(SSH_KEY_VAR).map(PathBuf::from);
        creds.ssh_passphrase = var(SSH_PASSPHRASE_VAR).map(Secret::new);
        creds
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret::new(token));
        self
    }

    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    pub fn with_ssh_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssh_key = Some(path.into());
        self
    }

    pub fn with_known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts = Some(path.into());
        self
    }

    /// Also allow plain http to `host[:port]` (tests, or a deliberate operator choice).
    pub fn allow_http(mut self, host: impl Into<String>) -> Self {
        self.http_hosts.push(host.into());
        self
    }

    /// The token may go to `url`'s host: the operator named it (`--repo`), so it is meant for it.
    pub fn trusting(mut self, url: &str) -> Self {
        if let Some(origin) = RemoteUrl::parse(url).origin() {
            self.token_hosts.push(origin);
        }
        self
    }

    /// The URL to hand libgit2 (no user-info: nothing secret reaches a repository's config) and
    /// the credentials to use with it: a token written into the URL is used for that host only.
    pub fn for_remote(&self, url: &str) -> (String, GitCredentials) {
        let remote = RemoteUrl::parse(url);
        let mut creds = self.clone();
        if let (Some(token), Some(origin)) = (&remote.embedded_token, remote.origin()) {
            creds.token = Some(Secret::new(token.clone()));
            creds.token_source = "the token in the repository URL".into();
            creds.token_hosts = vec![origin];
            creds.username = remote.embedded_user.clone();
        }
        (remote.for_git, creds)
    }

    /// Decide what to offer for a request from `url`. `attempt` counts key/token offers from 1;
    /// libgit2 asks again after a rejected credential, so each is offered once.
    pub fn answer(
        &self,
        url: &str,
        username: Option<&str>,
        allowed: CredentialType,
        attempt: u32,
    ) -> Result<Answer, String> {
        let remote = RemoteUrl::parse(url);
        let shown = super::redact_url(url);
        if allowed.contains(CredentialType::USERNAME) && username.is_none() {
            return Ok(Answer::Username {
                username: remote.ssh_user.unwrap_or_else(|| "git".into()),
            });
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            return self.token_answer(&remote, &shown, username, attempt);
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            if attempt > 1 {
                return Err(format!(
                    "{shown} refused the SSH key ({}): check that its public key is authorised \
                     for this repository",
                    self.ssh_key
                        .as_ref()
                        .map(|p| format!("{SSH_KEY_VAR}={}", p.display()))
                        .unwrap_or_else(|| "from ssh-agent; or set AMAGENT_GIT_SSH_KEY".into())
                ));
            }
            let username = username.unwrap_or("git").to_string();
            return Ok(if self.ssh_key.is_some() {
                Answer::SshKey { username }
            } else {
                Answer::SshAgent { username }
            });
        }
        if allowed.contains(CredentialType::DEFAULT) && attempt == 1 {
            return Ok(Answer::Default);
        }
        Err(format!("{shown} asks for credentials amagent cannot offer"))
    }

    fn token_answer(
        &self,
        remote: &RemoteUrl,
        shown: &str,
        username: Option<&str>,
        attempt: u32,
    ) -> Result<Answer, String> {
        let source = &self.token_source;
        if self.token.is_none() {
            return Err(format!(
                "{shown} needs credentials: set {TOKEN_VAR} to a token with access to it (read, \
                 and write for `amagent promote`)"
            ));
        }
        if attempt > 1 {
            return Err(format!(
                "{shown} refused {source}: the token is wrong, expired, or has no access to this \
                 repository (read, and write for `amagent promote`); set {TOKEN_VAR} to a valid \
                 one"
            ));
        }
        let origin = remote.origin().unwrap_or_else(|| shown.to_string());
        if !matches!(remote.transport, Transport::Https | Transport::Http)
            || !remote.matches_any(&self.token_hosts)
        {
            return Err(format!(
                "refusing to send {source} to {origin}: not a host it is meant for ({}); if it \
                 is, add it to {TOKEN_HOSTS_VAR}",
                self.token_hosts.join(", ")
            ));
        }
        if remote.transport == Transport::Http && !remote.matches_any(&self.http_hosts) {
            return Err(format!(
                "refusing to send {source} to {origin} over plain http (anyone on the path could \
                 read it): use an https URL, or allow this host with {HTTP_HOSTS_VAR}={origin}"
            ));
        }
        Ok(Answer::Token {
            username: self
                .username
                .as_deref()
                .or(username)
                .unwrap_or("x-access-token")
                .to_string(),
        })
    }

    /// libgit2 callbacks for a connection to `url`: credentials from [`Self::answer`], SSH host
    /// keys checked against known_hosts, TLS certificates left to OpenSSL's verification. The
    /// [`Refusal`] keeps why a callback refused: libgit2 replaces some of those messages with
    /// its own ("invalid or unknown remote ssh hostkey"), which would hide the fix.
    pub fn callbacks(&self, url: &str) -> (git2::RemoteCallbacks<'_>, Refusal) {
        let refusal = Refusal::default();
        let mut callbacks = git2::RemoteCallbacks::new();
        let mut attempt = 0;
        let said = refusal.clone();
        callbacks.credentials(move |url, username, allowed| {
            if !(allowed.contains(CredentialType::USERNAME) && username.is_none()) {
                attempt += 1;
            }
            let answer = self
                .answer(url, username, allowed, attempt)
                .map_err(|m| said.refuse(m))?;
            self.credential(answer)
        });
        let port = RemoteUrl::parse(url).port.unwrap_or(22);
        let known_hosts = self.known_hosts.clone();
        let said = refusal.clone();
        callbacks.certificate_check(move |cert, host| {
            let Some(key) = cert.as_hostkey().and_then(|k| k.hostkey()) else {
                // X.509: OpenSSL already verified it against the CA store (SSL_CERT_FILE /
                // SSL_CERT_DIR honoured); keep its verdict.
                return Ok(git2::CertificateCheckStatus::CertificatePassthrough);
            };
            match host_keys::check(known_hosts.as_deref(), host, port, key) {
                Verdict::Known => Ok(git2::CertificateCheckStatus::CertificateOk),
                Verdict::Unknown { message } | Verdict::Changed { message } => {
                    Err(said.refuse(message))
                }
            }
        });
        (callbacks, refusal)
    }

    fn credential(&self, answer: Answer) -> Result<Cred, git2::Error> {
        match answer {
            Answer::Token { username } => Cred::userpass_plaintext(
                &username,
                self.token.as_ref().map(Secret::expose).unwrap_or_default(),
            ),
            Answer::SshKey { username } => Cred::ssh_key(
                &username,
                None,
                self.ssh_key.as_deref().expect("answer checked"),
                self.ssh_passphrase.as_ref().map(Secret::expose),
            ),
            Answer::SshAgent { username } => Cred::ssh_key_from_agent(&username),
            Answer::Username { username } => Cred::username(&username),
            Answer::Default => Cred::default(),
        }
    }
}

/// Why our callback refused a connection, kept beside libgit2's own error.
#[derive(Clone, Default)]
pub struct Refusal(std::rc::Rc<std::cell::RefCell<Option<String>>>);

impl Refusal {
    fn refuse(&self, message: String) -> git2::Error {
        let error = git2::Error::from_str(&message);
        *self.0.borrow_mut() = Some(message);
        error
    }

    /// The message for a failed git operation: our refusal if there was one, else libgit2's.
    pub fn explain(&self, error: &git2::Error) -> String {
        self.0
            .borrow()
            .clone()
            .unwrap_or_else(|| error.message().to_string())
    }
}

/// `url` without any `user:password@` part, for messages.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        // Everything up to the last `@` goes: a password may hold an unencoded `/` or `@`. An
        // `@` in the path over-redacts, which never leaks.
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host_and_path)) => format!("{scheme}://***@{host_and_path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
